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
