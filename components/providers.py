"""Explicit providers, so every GCP resource gets the stack's project, location and labels from one place."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from components.settings import GcpSettings, Settings


def gcp_provider(settings: Settings, gcp_settings: GcpSettings) -> gcp.Provider:
    """The only place labels are set: `default_labels` reaches every labelable GCP resource."""
    return gcp.Provider(
        "gcp",
        project=gcp_settings.project,
        region=gcp_settings.region,
        zone=gcp_settings.zone,
        default_labels=settings.labels,
        opts=pulumi.ResourceOptions(),
    )


def billing_provider(gcp_settings: GcpSettings) -> gcp.Provider:
    """For the Billing Budgets API only: it refuses end-user credentials unless the request names a
    quota project, and the provider ignores the one in the ADC file (terraform-provider-google#20459)."""
    return gcp.Provider(
        "gcp-billing",
        project=gcp_settings.project,
        region=gcp_settings.region,
        billing_project=gcp_settings.project,
        user_project_override=True,
        opts=pulumi.ResourceOptions(),
    )
