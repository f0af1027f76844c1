"""Reads the stack's settings, composes the components, exports what a user needs next."""

from dataclasses import replace

import pulumi
import pulumi_gcp as gcp

from components.app_source import sample_tag
from components.artifact_repository import ArtifactRepository, ArtifactRepositoryArgs, KeptImage
from components.budget import ProjectBudget, ProjectBudgetArgs
from components.build_trigger import BuildTrigger, BuildTriggerArgs
from components.local_registry import LocalRegistry, LocalRegistryArgs
from components.outputs import (
    artifact_registry_outputs,
    data_disk_outputs,
    group_outputs,
    iap_tunnel,
    image_outputs,
    pipeline_outputs,
    self_hosted_outputs,
)
from components.project_services import ProjectServices, ProjectServicesArgs, apis_for
from components.providers import billing_provider, gcp_provider
from components.registry_credentials import RegistryCredentials
from components.registry_group import RegistryGroup, former_group_options, group_args
from components.registry_host import RegistryHost, RegistryHostArgs
from components.registry_monitoring import (
    RegistryMonitoring,
    RegistryMonitoringArgs,
    WatchedInstance,
    WatchedLoadBalancer,
)
from components.registry_network import RegistryNetwork, RegistryNetworkArgs
from components.registry_vm import RegistryVm, RegistryVmArgs
from components.sample_image import PushTarget, SampleImage, SampleImageArgs
from components.settings import load_settings

settings = load_settings()  # fails here, before any resource, on a bad config value
registry = settings.registry
outputs: dict[str, object] = {"target": settings.target}
repo_url = settings.build_trigger.github_repository
sample_build, image_tag = sample_tag(f"https://github.com/{repo_url}" if repo_url else "unknown",
                                     settings.sample_image.enabled)
image_name = settings.sample_image.name
push_targets: list[PushTarget] = []

credentials = None
if settings.uses_registry_vm or settings.uses_local_registry:
    credentials = RegistryCredentials("registry-credentials", registry.username)
    outputs["registryPassword"] = credentials.password

if settings.gcp is not None:
    project = settings.gcp.project
    provider = gcp_provider(settings, settings.gcp)
    gcp_opts = pulumi.ResourceOptions(providers=[provider])
    services = ProjectServices("apis", ProjectServicesArgs(project=project, apis=apis_for(settings)), gcp_opts)
    outputs["gcpProject"] = project
    outputs["enabledApis"] = list(services.services)

    if settings.uses_budget:
        ProjectBudget("budget", ProjectBudgetArgs(
            project=project, stack=settings.stack, settings=settings.budget, services=services,
            project_provider=provider),
            pulumi.ResourceOptions(providers=[billing_provider(settings.gcp)]))

    repository = None
    if settings.uses_artifact_registry:
        repository = ArtifactRepository("artifact-registry", ArtifactRepositoryArgs(
            project=project,
            location=settings.gcp.region,
            settings=replace(settings.artifact_registry, docker_hub_proxy=settings.docker_hub_proxy),
            immutable_tags=settings.immutable_tags,
            protect=settings.production,
            services=services,
            kept_image=KeptImage(image_tag) if settings.sample_image.enabled else None,
            build_cache=settings.uses_build_cache,
        ), gcp_opts)
        outputs |= artifact_registry_outputs(repository, image_name, image_tag, settings.pipeline_only_repository)
        if settings.sample_image.enabled:  # never in production (settings refuse it there)
            # The deployer's own short-lived token (gcloud auth application-default login). It differs on
            # every run, so it must never be a resource input of a stack applied from a saved update plan
            # (`pulumi up --plan` refuses any input that differs from the plan: docs/guardrails-and-ci.md).
            client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOptions(provider=provider))
            push_targets.append(PushTarget(
                key="artifactRegistry", server=repository.host, repository=repository.path,
                username="oauth2accesstoken", password=client.access_token,
                depends_on=[repository.repository, *repository.grants["writer"]]))

    if settings.uses_build_trigger and repository is not None:
        pipeline = BuildTrigger("image-pipeline", BuildTriggerArgs(
            project=project,
            region=settings.build_trigger.region or settings.gcp.region,
            settings=settings.build_trigger,
            repository=repository,
            image_name=image_name,
            mutable_tags=not settings.immutable_tags,
            require_approval=settings.require_approval,
            services=services,
            fail_on_severity=settings.fail_on_severity,
            promotion_source=(f"{settings.promotion.source_repository}/{image_name}"
                              if settings.uses_promotion else None),
        ), gcp_opts)
        outputs["imagePipeline"] = pipeline_outputs(pipeline, project)

    if settings.uses_registry_vm and credentials is not None:
        network = RegistryNetwork("registry-network", RegistryNetworkArgs(
            project=project, region=settings.gcp.region, vm=settings.registry_vm, registry_port=registry.port,
            services=services, flow_logs=settings.flow_logs, uptime_checks=settings.uses_private_uptime_checks),
            gcp_opts)
        host = RegistryHost("registry-host", RegistryHostArgs(
            project=project,
            region=settings.gcp.region,
            vm=settings.registry_vm,
            registry=registry,
            credentials=credentials,
            services=services,
            protect=settings.production,
            tls_cert=settings.secrets.registry_tls_cert,
            tls_key=settings.secrets.registry_tls_key,
            repository=repository,
        ), gcp_opts)
        group: RegistryGroup | None = None
        instances: dict[str, gcp.compute.Instance] = {}
        if settings.registry_vm.mode == "group":
            group = RegistryGroup("registry-group", group_args(
                host, network, project=project, region=settings.gcp.region, vm=settings.registry_vm,
                port=registry.port, tls_on_vms=settings.secrets.registry_tls_cert is not None, services=services,
            ), former_group_options(gcp_opts))
            outputs["selfHostedRegistry"] = group_outputs(
                group, registry.port, registry.username, image_name, image_tag, project, settings.gcp.region)
        else:
            vm = RegistryVm("registry-vm", RegistryVmArgs(
                project=project, region=settings.gcp.region, zone=settings.gcp.zone, vm=settings.registry_vm,
                host=host, services=services, network=network), gcp_opts)
            instances = vm.instances
            # The walkthrough's localhost:5000 commands work as written once the IAP tunnel is open.
            outputs["selfHostedRegistry"] = self_hosted_outputs(
                f"localhost:{registry.port}", registry.username, image_name, image_tag,
                tunnel=iap_tunnel(vm, next(iter(vm.instances)), project, registry.port))
            outputs["registryInstances"] = list(vm.instances)
            if settings.registry_vm.storage == "disk":
                outputs["registryDataDisk"] = data_disk_outputs(vm, project, settings.gcp.region)
        if settings.registry_vm.direct_access_cidrs:
            outputs["registryDirectAddresses"] = {name: network.address(index)
                                                  for index, name in enumerate(instances)}
        if settings.uses_alerts:
            monitoring = RegistryMonitoring("registry-monitoring", RegistryMonitoringArgs(
                project=project, region=settings.gcp.region, alerts=settings.alerts, network=network.network,
                registry_port=registry.port, services=services,
                instances={name: WatchedInstance.of(instance) for name, instance in instances.items()},
                data_disk=settings.registry_vm.storage == "disk",
                load_balancer=None if group is None else WatchedLoadBalancer(
                    "internal" if group.internal else "external", group.address, group.forwarding_rule.name),
                bucket_name=settings.registry_vm.bucket_name if settings.registry_vm.storage == "gcs" else None,
            ), gcp_opts)
            outputs["registryAlerts"] = {name: policy.name for name, policy in monitoring.policies.items()}

if settings.uses_local_registry and credentials is not None:
    local = LocalRegistry("local-registry", LocalRegistryArgs(registry=registry, credentials=credentials))
    outputs["selfHostedRegistry"] = self_hosted_outputs(local.address, registry.username, image_name, image_tag)
    push_targets.append(PushTarget(
        key="localRegistry", server=local.address, repository=local.address,
        username=registry.username, password=credentials.password, depends_on=[local.container]))

hub_user = settings.sample_image.docker_hub_user
if hub_user:
    # No credentials in the program: pulumi-docker then pushes with the `docker login` of the machine that
    # runs `pulumi up`, so the Docker Hub token is in no config and no state.
    push_targets.append(PushTarget(
        key="dockerHub", server="docker.io", repository=f"docker.io/{hub_user}",
        image_name=settings.sample_image.docker_hub_repository))

if sample_build is not None and push_targets:
    sample = SampleImage("sample-image", SampleImageArgs(name=image_name, targets=push_targets, build=sample_build))
    outputs["sampleImage"] = image_outputs(sample)

for key, value in outputs.items():
    pulumi.export(key, value)
