"""The versioned, private bucket that holds the main program's dev and prod state."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp


class StateBucket(pulumi.ComponentResource):
    """Every state file written stays restorable (object versioning) until it has been replaced for
    `retention` (days, newer versions) both; name and location force a replacement, which would lose
    all state, so the bucket is protected and never force-destroyed."""

    def __init__(self, name: str, bucket_name: str, location: str, project: str, storage_api: pulumi.Resource,
                 retention: tuple[int, int] = (30, 10), opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing-bootstrap:gcp:StateBucket", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            "state",
            name=bucket_name,
            project=project,
            location=location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            # Every update rewrites the stack's objects: without this, replaced versions pile up forever.
            # Conditions of one rule all hold at once: a version goes only when it is both old enough and
            # has enough newer ones, so a burst of updates cannot push out the last days' history.
            lifecycle_rules=[{
                "action": {"type": "Delete"},
                "condition": {"with_state": "ARCHIVED", "days_since_noncurrent_time": retention[0],
                              "num_newer_versions": retention[1]},
            }],
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[storage_api]),
        )
        self.name = bucket_name
        self.url = f"gs://{bucket_name}"
        self.register_outputs({"url": self.url})
