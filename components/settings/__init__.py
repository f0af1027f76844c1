"""The one typed, validated view of a stack's config, built once before any resource exists: a module per
capability (its dataclasses, its checks and the cross-key rules it owns) and one loader that reports every
problem of every module at once.

Keys live in the project's config namespace as camelCase objects (see the table in docs/configuration.md,
which a test keeps in sync with the `doc` texts), plus `gcp:project` / `gcp:region` / `gcp:zone` and the
secret-only keys. Tokens for GitHub and Docker Hub are never stack secrets (secrets.RETIRED_SECRETS). The
names below are what the components and the tests use."""

from components.settings.alerts import AlertSettings as AlertSettings
from components.settings.artifact_registry import ArtifactRegistrySettings as ArtifactRegistrySettings
from components.settings.artifact_registry import CleanupSettings as CleanupSettings
from components.settings.budget import BudgetSettings as BudgetSettings
from components.settings.gcp import DEFAULT_REGION as DEFAULT_REGION
from components.settings.gcp import GCP_KEYS as GCP_KEYS
from components.settings.gcp import GcpSettings as GcpSettings
from components.settings.loader import load_settings as load_settings
from components.settings.network import FlowLogSettings as FlowLogSettings
from components.settings.pipeline import BuildTriggerSettings as BuildTriggerSettings
from components.settings.pipeline import PromotionSettings as PromotionSettings
from components.settings.pipeline import SampleImageSettings as SampleImageSettings
from components.settings.registry import IAP_RANGE as IAP_RANGE
from components.settings.registry import REGISTRY_IMAGE as REGISTRY_IMAGE
from components.settings.registry import RegistryGroupSettings as RegistryGroupSettings
from components.settings.registry import RegistrySettings as RegistrySettings
from components.settings.registry import RegistryVmSettings as RegistryVmSettings
from components.settings.secrets import SECRET_DOCS as SECRET_DOCS
from components.settings.secrets import SECRET_KEYS as SECRET_KEYS
from components.settings.secrets import Secrets as Secrets
from components.settings.stack import Settings as Settings
