"""The versioned, private bucket that holds the main program's dev and prod state."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


class StateBucket(pulumi.ComponentResource):
    """Every state file ever written stays restorable (object versioning); name and location force a
    replacement, which would lose all state, so the bucket is protected and never force-destroyed."""

    def __init__(self, name: str, bucket_name: str, location: str, project: str, storage_api: pulumi.Resource,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing-bootstrap:gcp:StateBucket", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            "state",
            name=bucket_name,
            project=project,
            location=location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[storage_api]),
        )
        self.name = bucket_name
        self.url = f"gs://{bucket_name}"
        self.register_outputs({"url": self.url})
