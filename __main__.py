"""Reads the stack's settings, composes the components, exports what a user needs next."""

import pulumi

from components.project_services import ProjectServices, ProjectServicesArgs, apis_for
from components.providers import gcp_provider
from components.settings import load_settings

settings = load_settings()  # fails here, before any resource, on a bad config value

if settings.gcp is not None:
    gcp_opts = pulumi.ResourceOptions(providers=[gcp_provider(settings, settings.gcp)])
    services = ProjectServices(
        "apis", ProjectServicesArgs(project=settings.gcp.project, apis=apis_for(settings)), gcp_opts)
    pulumi.export("gcpProject", settings.gcp.project)
    pulumi.export("enabledApis", list(services.services))

pulumi.export("target", settings.target)
