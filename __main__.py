"""Reads the stack's settings, composes the components, exports what a user needs next."""

import pulumi
import pulumi_gcp as gcp

from components.app_source import content_tag
from components.artifact_repository import ArtifactRepository, ArtifactRepositoryArgs
from components.outputs import artifact_registry_outputs, image_outputs
from components.project_services import ProjectServices, ProjectServicesArgs, apis_for
from components.providers import gcp_provider
from components.sample_image import PushTarget, SampleImage, SampleImageArgs
from components.settings import load_settings

settings = load_settings()  # fails here, before any resource, on a bad config value
outputs: dict[str, object] = {"target": settings.target}
image_name, image_tag = settings.sample_image.name, content_tag()
push_targets: list[PushTarget] = []

if settings.gcp is not None:
    provider = gcp_provider(settings, settings.gcp)
    gcp_opts = pulumi.ResourceOptions(providers=[provider])
    services = ProjectServices(
        "apis", ProjectServicesArgs(project=settings.gcp.project, apis=apis_for(settings)), gcp_opts)
    outputs["gcpProject"] = settings.gcp.project
    outputs["enabledApis"] = list(services.services)

    if settings.uses_artifact_registry:
        repository = ArtifactRepository("artifact-registry", ArtifactRepositoryArgs(
            project=settings.gcp.project,
            location=settings.gcp.region,
            settings=settings.artifact_registry,
            immutable_tags=settings.immutable_tags,
            protect=settings.production,
            services=services,
        ), gcp_opts)
        outputs |= artifact_registry_outputs(repository, image_name, image_tag)
        # The deployer's own short-lived token (gcloud auth application-default login).
        client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOptions(provider=provider))
        push_targets.append(PushTarget(
            key="artifactRegistry", server=repository.host, repository=repository.path,
            username="oauth2accesstoken", password=client.access_token,
            depends_on=[repository.repository, *repository.grants["writer"]]))

hub_user, hub_token = settings.sample_image.docker_hub_user, settings.secrets.docker_hub_token
if hub_user and hub_token is not None:
    push_targets.append(PushTarget(
        key="dockerHub", server="docker.io", repository=f"docker.io/{hub_user}",
        username=hub_user, password=hub_token, image_name=settings.sample_image.docker_hub_repository))

if settings.sample_image.enabled and push_targets:
    repo_url = settings.build_trigger.github_repository
    sample = SampleImage("sample-image", SampleImageArgs(
        name=image_name, targets=push_targets,
        source_url=f"https://github.com/{repo_url}" if repo_url else "unknown"))
    outputs["sampleImage"] = image_outputs(sample)

for key, value in outputs.items():
    pulumi.export(key, value)
