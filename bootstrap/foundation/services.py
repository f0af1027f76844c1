"""The APIs the bootstrap calls in its own project, and the two a deployer needs in each stack's
project before it can enable the rest itself (Service Usage answers through Resource Manager)."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

BOOTSTRAP_APIS = (
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",  # GitHub's federated token becomes a service account token here
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",  # the token exchange of Workload Identity Federation
)
STACK_APIS = ("cloudresourcemanager.googleapis.com", "serviceusage.googleapis.com")


class Apis(pulumi.ComponentResource):
    """Enabled once per project, never disabled on destroy (other workloads may use them)."""

    def __init__(self, name: str, project: str, apis: tuple[str, ...],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing-bootstrap:gcp:Apis", name, None, opts)
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}", project=project, service=api,
                disable_on_destroy=False, disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self))
            for api in apis
        }
        self.register_outputs({"apis": list(apis)})

    def __getitem__(self, api: str) -> gcp.projects.Service:
        return self.services[api]
