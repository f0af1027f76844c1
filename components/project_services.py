"""The Google APIs a stack's features need, each enabled once and never disabled on destroy."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.image_refs import artifact_registry_repository
from components.settings import Settings

ARTIFACT_REGISTRY = "artifactregistry.googleapis.com"
CONTAINER_SCANNING = "containerscanning.googleapis.com"
RESOURCE_MANAGER = "cloudresourcemanager.googleapis.com"
CLOUD_BUILD = "cloudbuild.googleapis.com"
BILLING_BUDGETS = "billingbudgets.googleapis.com"
CLOUD_KMS = "cloudkms.googleapis.com"
SERVICE_USAGE = "serviceusage.googleapis.com"
# Enabled by `make bootstrap-apis` before the first run: the program cannot enable them itself
# with service-account credentials (reading any projects.Service needs both).
BOOTSTRAP_APIS = (SERVICE_USAGE, RESOURCE_MANAGER)
COMPUTE = "compute.googleapis.com"
CONTAINER_ANALYSIS = "containeranalysis.googleapis.com"
ONDEMAND_SCANNING = "ondemandscanning.googleapis.com"
DNS = "dns.googleapis.com"
IAM = "iam.googleapis.com"
SECRET_MANAGER = "secretmanager.googleapis.com"
STORAGE = "storage.googleapis.com"
MONITORING = "monitoring.googleapis.com"
SERVICE_DIRECTORY = "servicedirectory.googleapis.com"


def apis_for(settings: Settings) -> tuple[str, ...]:
    """Exactly the APIs the enabled features call, sorted so previews are stable."""
    apis: set[str] = set()
    ar = settings.artifact_registry
    if settings.uses_artifact_registry:
        apis.add(ARTIFACT_REGISTRY)
        if ar.vulnerability_scanning:
            apis.add(CONTAINER_SCANNING)
        if ar.audit_logs:
            apis.add(RESOURCE_MANAGER)  # project audit config
        if ar.kms_key_name:
            apis.add(CLOUD_KMS)  # the key's IAM grant; CMEK also needs it where the key lives
    if settings.uses_build_trigger:
        # The trigger, its builder account and that account's project-level log grant.
        apis |= {CLOUD_BUILD, IAM, RESOURCE_MANAGER}
        if settings.build_trigger.generation == 2:
            apis.add(SECRET_MANAGER)  # the GitHub token
        apis.add(CONTAINER_ANALYSIS)  # where Cloud Build stores the images' provenance
        if settings.fail_on_severity is not None:
            apis.add(ONDEMAND_SCANNING)  # the vulnerability gate
    if settings.uses_registry_vm:
        # The VM, its service account and project log/metric grants, the secrets it fetches at boot.
        apis |= {COMPUTE, IAM, RESOURCE_MANAGER, SECRET_MANAGER}
        if settings.registry_vm.storage == "gcs":
            apis.add(STORAGE)
        image_repo = artifact_registry_repository(settings.registry.image)
        if image_repo is not None and settings.gcp is not None and image_repo.project == settings.gcp.project:
            apis.add(ARTIFACT_REGISTRY)  # the VM's reader grant on the repository its image comes from
        group = settings.registry_vm.group
        if settings.registry_vm.mode == "group" and group.load_balancer == "internal":
            apis.add(DNS)  # the private zone of the load balancer's name
    if settings.uses_alerts:
        # Alert policies and their channel; the private uptime check reaches the VM through Service Directory.
        apis |= {MONITORING, SERVICE_DIRECTORY}
    if settings.uses_budget:
        apis.add(BILLING_BUDGETS)
    return tuple(sorted(apis))


@dataclass(frozen=True)
class ProjectServicesArgs:
    project: str
    apis: tuple[str, ...]


class ProjectServices(pulumi.ComponentResource):
    """One `gcp.projects.Service` per API; other components depend on the ones they use."""

    def __init__(self, name: str, args: ProjectServicesArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:gcp:ProjectServices", name, None, opts)
        self.services: dict[str, gcp.projects.Service] = {
            api: gcp.projects.Service(
                api.split(".")[0],
                project=args.project,
                service=api,
                # Other workloads in the project may use the same API: never switch it off.
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in args.apis
        }
        self.register_outputs({"apis": list(args.apis)})

    def needs(self, *apis: str) -> list[pulumi.Resource]:
        """The services a resource must wait for (eventual consistency of API enablement)."""
        missing = [api for api in apis if api not in self.services]
        if missing:
            raise KeyError(f"APIs not enabled for this stack: {missing}; add them to apis_for()")
        return [self.services[api] for api in apis]
