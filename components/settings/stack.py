"""The whole stack's settings: one object of every capability's settings, and what the stack derives
from several of them (which features are in use, the production defaults)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from components.image_refs import image_host
from components.settings.alerts import AlertSettings
from components.settings.artifact_registry import ArtifactRegistrySettings
from components.settings.budget import BudgetSettings
from components.settings.gcp import GcpSettings
from components.settings.network import FlowLogSettings
from components.settings.pipeline import BuildTriggerSettings, PromotionSettings, SampleImageSettings
from components.settings.registry import RegistrySettings, RegistryVmSettings
from components.settings.secrets import Secrets
from stackconfig.reader import setting


@dataclass(frozen=True)
class Settings:
    project_name: str
    stack: str
    gcp: GcpSettings | None
    secrets: Secrets
    target: Literal["gcp", "local"] = setting("gcp", doc="Where registries run: gcp (dev/prod) or local Docker.")
    production: bool = setting(False, doc="Production defaults: protect stateful resources, immutable tags, approvals.")
    artifact_registry: ArtifactRegistrySettings = setting(factory=ArtifactRegistrySettings, doc="")
    sample_image: SampleImageSettings = setting(factory=SampleImageSettings, doc="")
    build_trigger: BuildTriggerSettings = setting(factory=BuildTriggerSettings, doc="")
    promotion: PromotionSettings = setting(factory=PromotionSettings, doc="")
    registry: RegistrySettings = setting(factory=RegistrySettings, doc="")
    registry_vm: RegistryVmSettings = setting(factory=RegistryVmSettings, doc="")
    budget: BudgetSettings = setting(factory=BudgetSettings, doc="")
    alerts: AlertSettings = setting(factory=AlertSettings, doc="")

    @property
    def labels(self) -> dict[str, str]:
        """Applied once, through the gcp provider's default_labels."""
        return {"managed-by": "pulumi", "stack": _label(self.stack), "project": _label(self.project_name)}

    @property
    def uses_artifact_registry(self) -> bool:
        return self.target == "gcp" and self.artifact_registry.enabled

    @property
    def uses_registry_vm(self) -> bool:
        return self.target == "gcp" and self.registry_vm.enabled

    @property
    def uses_build_trigger(self) -> bool:
        return self.uses_artifact_registry and self.build_trigger.github_repository is not None

    @property
    def uses_promotion(self) -> bool:
        return self.uses_build_trigger and self.promotion.source_repository is not None

    @property
    def uses_build_cache(self) -> bool:
        """The trigger builds (it does not promote) with buildTrigger.registryCache: its cache gets a
        repository of its own."""
        return (self.uses_build_trigger and self.promotion.source_repository is None
                and self.build_trigger.registry_cache)

    @property
    def pipeline_only_repository(self) -> bool:
        """Production's repository (and a promoting stack's) holds only what the image pipeline put
        there: `pulumi up` pushes nothing to it and prints no command that would."""
        return self.uses_artifact_registry and (self.production or self.promotion.source_repository is not None)

    @property
    def fail_on_severity(self) -> str | None:
        """The lowest severity that fails a build, or None when there is no vulnerability gate."""
        explicit = self.build_trigger.fail_on_severity
        severity = ("CRITICAL" if self.production else "OFF") if explicit is None else explicit
        return None if severity == "OFF" else severity

    @property
    def uses_budget(self) -> bool:
        return self.target == "gcp" and self.budget.billing_account is not None

    @property
    def uses_alerts(self) -> bool:
        return self.uses_registry_vm and self.alerts.email is not None

    @property
    def uses_private_uptime_checks(self) -> bool:
        """Alerts probe the registry from inside the VPC, except behind the external load balancer, which
        is watched through its own request metrics."""
        vm = self.registry_vm
        return self.uses_alerts and not (vm.mode == "group" and vm.group.load_balancer == "external")

    @property
    def flow_logs(self) -> FlowLogSettings | None:
        """The flow logs of the subnet the stack creates (none on a network the user brings)."""
        vm = self.registry_vm
        wanted = self.production if vm.flow_logs.enabled is None else vm.flow_logs.enabled
        return vm.flow_logs if self.uses_registry_vm and vm.network is None and wanted else None

    @property
    def uses_local_registry(self) -> bool:
        return self.target == "local"

    @property
    def registry_image_from_docker_hub(self) -> bool:
        """The VM, having no public address, pulls a Docker Hub image through the stack's cache."""
        return self.uses_registry_vm and not self.registry_vm.cloud_nat and image_host(self.registry.image) is None

    @property
    def docker_hub_proxy(self) -> bool:
        explicit = self.artifact_registry.docker_hub_proxy
        wanted = self.registry_image_from_docker_hub if explicit is None else explicit
        return self.uses_artifact_registry and wanted

    @property
    def immutable_tags(self) -> bool:
        explicit = self.artifact_registry.immutable_tags
        return self.production if explicit is None else explicit

    @property
    def require_approval(self) -> bool:
        explicit = self.build_trigger.require_approval
        return self.production if explicit is None else explicit


def _label(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]
