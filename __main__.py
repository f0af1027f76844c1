"""Reads the stack's settings, composes the components, exports what a user needs next."""

import pulumi

from components.app_source import content_tag
from components.artifact_repository import ArtifactRepository, ArtifactRepositoryArgs
from components.outputs import artifact_registry_outputs
from components.project_services import ProjectServices, ProjectServicesArgs, apis_for
from components.providers import gcp_provider
from components.settings import load_settings

settings = load_settings()  # fails here, before any resource, on a bad config value
outputs: dict[str, object] = {"target": settings.target}
image_name, image_tag = settings.sample_image.name, content_tag()

if settings.gcp is not None:
    gcp_opts = pulumi.ResourceOptions(providers=[gcp_provider(settings, settings.gcp)])
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

for key, value in outputs.items():
    pulumi.export(key, value)
