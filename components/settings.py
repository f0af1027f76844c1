"""The one typed, validated view of a stack's config. Built once, before any resource exists.

Keys live in the project's config namespace as camelCase objects (see the table in docs/configuration.md, which a test
keeps in sync with the `doc` texts here), plus `gcp:project` / `gcp:region` / `gcp:zone` and two
secret-only keys. Tokens for GitHub and Docker Hub are never stack secrets (RETIRED_SECRETS)."""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

import pulumi

from components import checks, grammars, names
from components.calendar import calendar_problem
from components.gcp_locations import REGIONS, ZONES
from components.image_refs import artifact_registry_repository, image_host, via_proxy
from stackconfig.reader import (
    INVALID,
    Problem,
    SettingsError,
    closest,
    config_fields,
    parse_object,
    setting,
    suggest,
)

DEFAULT_REGION = "asia-northeast3"
IAP_RANGE = "35.235.240.0/20"
REGISTRY_IMAGE = "registry:2.8.3"
# Keys outside the settings dataclasses, with their rows in docs/configuration.md (key, default, meaning).
GCP_KEYS = (
    ("gcp:project", "(required on gcp)", "GCP project id the gcp target deploys into."),
    ("gcp:region", json.dumps(DEFAULT_REGION), "Region of the repository, the VM and the build trigger."),
    ("gcp:zone", "(first zone of the region)", "Zone of the registry VM and its disk."),
)
SECRET_DOCS = {
    "registryTlsCert": "PEM certificate for direct (non-tunnel) registry access.",
    "registryTlsKey": "PEM private key matching registryTlsCert.",
}
SECRET_KEYS = tuple(SECRET_DOCS)
# Tokens that were stack secrets: whoever can decrypt a stack (a pull request's preview identity can
# decrypt dev's) could print them, and the state kept a copy. Refused, saying what replaces them.
GITHUB_TOKEN_SECRET = "cloudbuild-github-token"
RETIRED_SECRETS = {
    "githubToken": (
        "no stack secret for the GitHub token (every identity that decrypts the stack could read it): keep it "
        f"in Secret Manager, created once: `printf %s TOKEN | gcloud secrets create {GITHUB_TOKEN_SECRET} "
        "--project PROJECT --data-file=-`, then `pulumi config set --path buildTrigger.githubTokenSecretVersion "
        f"projects/PROJECT/secrets/{GITHUB_TOKEN_SECRET}/versions/1` and `pulumi config rm githubToken`; the "
        "next `pulumi up` deletes the stack's old github-token secret, and older state files still hold the "
        "token: revoke it on GitHub (docs/image-pipeline.md)"),
    "dockerHubToken": (
        "no stack secret for the Docker Hub token (it would sit in the stack's state): log in where `pulumi up` "
        "runs, `docker login docker.io --username USER` (the token stays in Docker's credential store), then "
        "`pulumi config rm dockerHubToken` and revoke the old token on Docker Hub (docs/sample-image.md)"),
}


@dataclass(frozen=True)
class CleanupSettings:
    keep_recent: int = setting(5, check=checks.in_range(1, 1000),
                               doc="Versions kept per image whatever their age (newest first).")
    delete_untagged_after_days: int = setting(7, check=checks.in_range(1, 3650, " days"),
                                              doc="Untagged versions older than this are deleted.")
    delete_after_days: int = setting(
        30, check=checks.in_range(1, 3650, " days"),
        doc="Any version older than this is deleted unless keepRecent or a protected prefix keeps it.")
    protected_tag_prefixes: tuple[str, ...] = setting(
        ("v",), check=checks.each(checks.matches(checks.TAG_PREFIX, "a Docker tag prefix")),
        doc="Tags starting with one of these are never deleted.")
    dry_run: bool = setting(False, doc="Only log what the cleanup policies would delete.")


@dataclass(frozen=True)
class ArtifactRegistrySettings:
    enabled: bool = setting(True, doc="Create the Artifact Registry Docker repository (gcp target).")
    repository_id: str = setting(
        "images", doc="Repository id: lowercase letter first, then letters, digits, hyphens; letter or digit last "
        "(<= 63; <= 53 with dockerHubProxy).",
        check=checks.matches(checks.REPOSITORY_ID,
                             "a lowercase letter, then lowercase letters, digits or hyphens, 63 at most, "
                             "ending with a letter or digit"))
    description: str = setting("Docker images shared by the team, managed by Pulumi",
                               doc="Repository description shown in the console.")
    immutable_tags: bool | None = setting(None, doc="Refuse to overwrite a pushed tag. Unset: on in production.")
    cleanup: CleanupSettings = setting(factory=CleanupSettings, doc="Cleanup policies.")
    docker_hub_proxy: bool | None = setting(
        None, doc="Add a remote repository that caches Docker Hub. Unset: on when the registry VM pulls through it.")
    kms_key_name: str | None = setting(
        None, doc="Customer-managed key projects/P/locations/L/keyRings/R/cryptoKeys/K (fixed at creation).",
        check=checks.matches(checks.KMS_KEY, "projects/P/locations/L/keyRings/R/cryptoKeys/K"))
    vulnerability_scanning: bool = setting(False, doc="Enable the Container Scanning API for pushed images.")
    readers: tuple[str, ...] = setting((), check=checks.all_of(checks.each(checks.iam_member), checks.distinct),
                                       doc="Members granted roles/artifactregistry.reader on the repository.")
    writers: tuple[str, ...] = setting((), check=checks.all_of(checks.each(checks.iam_member), checks.distinct),
                                       doc="Members granted roles/artifactregistry.writer on the repository.")
    audit_logs: bool = setting(False, doc="Data Access audit logs (who pulled and pushed) for Artifact Registry.")


@dataclass(frozen=True)
class SampleImageSettings:
    enabled: bool = setting(True, doc="Build app/ and push it to the stack's registry. False in production and "
                                      "with promotion: that repository is the image pipeline's alone.")
    name: str = setting("hello-nginx", doc="Image name (repository path) in every registry.",
                        check=grammars.image_path)
    docker_hub_user: str | None = setting(
        None, doc="Also push to Docker Hub as USER/REPOSITORY, with the `docker login` of the machine running "
                  "`pulumi up` (no token in config or state).",
        check=checks.matches(checks.DOCKER_HUB_USER, "a Docker Hub user name (4-30 lowercase letters/digits)"))
    docker_hub_repository: str | None = setting(
        None, doc="Docker Hub repository name. Unset: the image name.",
        check=grammars.docker_hub_repository)


@dataclass(frozen=True)
class BuildTriggerSettings:
    github_repository: str | None = setting(
        None, doc="GitHub OWNER/REPO whose pushes rebuild the image. Unset: no trigger.",
        check=checks.matches(checks.GITHUB_REPO, "OWNER/REPO as on GitHub"))
    branch: str = setting("^main$", check=checks.all_of(checks.non_empty("a branch regex such as ^main$ (an empty "
                                                                      "one gives a push filter with no branch)"),
                                                     grammars.re2_pattern),
                          doc="Branch regex (RE2) that triggers a build.")
    generation: Literal[1, 2] = setting(1, doc="GitHub connection: 1 (Cloud Build GitHub App) or 2 (cloudbuildv2).")
    app_installation_id: int | None = setting(
        None, check=checks.in_range(1, 2**53), doc="Cloud Build GitHub App installation id (generation 2).")
    github_token_secret_version: str | None = setting(
        None, check=checks.matches(checks.SECRET_VERSION, "projects/PROJECT/secrets/NAME/versions/N (or latest)"),
        doc="Secret Manager version holding the GitHub token of a generation-2 connection, created by hand in "
            "the stack's project; the stack lets only Cloud Build's service agent read it.")
    require_approval: bool | None = setting(None, doc="Builds wait for manual approval. Unset: on in production.")
    region: str | None = setting(
        None, check=checks.one_of(REGIONS, "a GCP region where Cloud Build runs"),
        doc="Region of a generation-2 connection, repository and trigger. Unset: gcp:region. "
            "Generation-1 (GitHub App) triggers are global.")
    approvers: tuple[str, ...] = setting(
        (), check=checks.all_of(checks.each(checks.iam_member), checks.distinct),
        doc="Members granted roles/cloudbuild.builds.approver (project-wide) to approve waiting builds.")
    fail_on_severity: Literal["OFF", "LOW", "MEDIUM", "HIGH", "CRITICAL"] | None = setting(
        None, doc="Scan each image before it is pushed (On-Demand Scanning) and fail the build on a finding "
                  "at or above this severity. Unset: CRITICAL in production, OFF elsewhere.")


@dataclass(frozen=True)
class PromotionSettings:
    source_repository: str | None = setting(
        None, check=checks.matches(checks.DOCKER_REPOSITORY_PATH, "LOCATION-docker.pkg.dev/PROJECT/REPOSITORY"),
        doc="Repository (dev's, LOCATION-docker.pkg.dev/PROJECT/REPOSITORY) whose image of each pushed commit "
            "the trigger copies here by digest instead of building. Unset: this stack builds.")


@dataclass(frozen=True)
class RegistrySettings:
    image: str = setting(REGISTRY_IMAGE, check=grammars.pinned_image,
                         doc="registry:2 image, pinned to a tag >= 2.8.3 or a digest.")
    port: int = setting(5000, check=checks.in_range(1024, 65535), doc="Port the registry listens on.")
    username: str = setting("registry", doc="htpasswd user name (password generated).",
                            check=checks.matches(checks.HTPASSWD_USER, "a lowercase user name"))
    delete_enabled: bool = setting(False, doc="Allow deleting manifests through the API.")


@dataclass(frozen=True)
class RegistryGroupSettings:
    min_instances: int = setting(2, check=checks.in_range(1, 100), doc="Fewest registry VMs the autoscaler keeps.")
    max_instances: int = setting(4, check=checks.in_range(1, 100), doc="Most registry VMs the autoscaler starts.")
    target_cpu_percent: int = setting(60, check=checks.in_range(10, 90, " %"),
                                      doc="Average CPU use the autoscaler aims at.")
    load_balancer: Literal["internal", "external"] = setting(
        "internal", doc="internal: a private address in the VPC; external: HTTPS for `domain` with Cloud Armor.")
    internal_domain: str = setting(
        "registry.internal", check=checks.matches(checks.DOMAIN, "a DNS name such as registry.internal"),
        doc="Name of the internal load balancer in the stack's private DNS zone (the TLS certificate's name).")
    client_ranges: tuple[str, ...] = setting(
        (), check=checks.each(checks.admin_cidr),
        doc="Sources (VPC, VPN ranges) allowed to the internal load balancer's registry port.")
    domain: str | None = setting(None, check=checks.matches(checks.DOMAIN, "a DNS name such as registry.example.com"),
                                 doc="Public name of the external load balancer (Google-managed certificate).")
    allowed_source_ranges: tuple[str, ...] = setting(
        (), check=checks.each(checks.admin_cidr), doc="Sources Cloud Armor admits to the external load balancer.")


@dataclass(frozen=True)
class FlowLogSettings:
    enabled: bool | None = setting(
        None, doc="VPC flow logs on the subnet the stack creates (CIS GCP 3.8). Unset: on in production.")
    sampling_percent: int = setting(50, check=checks.in_range(1, 100, " %"),
                                    doc="Share of the flows reported (the API's flowSampling x 100).")
    aggregation_interval: Literal["INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN",
                                  "INTERVAL_10_MIN", "INTERVAL_15_MIN"] = setting(
        "INTERVAL_5_MIN", doc="How long a connection's flows are aggregated into one entry (longer: fewer logs).")
    metadata: Literal["INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"] = setting(
        "INCLUDE_ALL_METADATA", doc="Add the VMs' names, zones and other metadata to each entry.")


@dataclass(frozen=True)
class RegistryVmSettings:
    enabled: bool = setting(True, doc="Run the self-hosted registry on a GCE VM (gcp target).")
    machine_type: str = setting(
        "e2-micro", doc="GCE machine type.",
        check=checks.matches(checks.MACHINE_TYPE, "a GCE machine type such as e2-micro or n2-standard-2"))
    disk_size_gb: int = setting(10, check=checks.in_range(10, 2048, " GB"), doc="Data disk size (disk storage).")
    disk_type: Literal["pd-standard", "pd-balanced", "pd-ssd"] = setting(
        "pd-balanced", doc="Boot and data disk type (pd-standard is the free tier's).")
    storage: Literal["disk", "gcs"] = setting("disk", doc="Where images live: a persistent disk or a GCS bucket.")
    bucket_name: str | None = setting(None, doc="GCS bucket for storage=gcs (globally unique).",
                                      check=grammars.bucket_name)
    instances: int = setting(1, check=checks.in_range(1, 10), doc="Registry VMs (more than 1 needs storage=gcs).")
    network: str | None = setting(
        None, check=checks.matches(checks.NETWORK, "a VPC network name"),
        doc="Existing VPC network (with subnetwork). Unset: the stack creates its own VPC and subnet.")
    subnetwork: str | None = setting(
        None, check=checks.matches(checks.NETWORK, "a subnetwork name"),
        doc="Existing subnetwork of network in the stack's region (Private Google Access on, or cloudNat).")
    subnet_cidr: str = setting(
        "10.20.0.0/24", check=checks.private_cidr,
        doc="IPv4 range of the subnet the stack creates (own VPC only; in RFC 1918 or 100.64.0.0/10).")
    cloud_nat: bool = setting(False, doc="Cloud NAT: outbound internet for the VM (images outside Google).")
    ssh_source_ranges: tuple[str, ...] = setting(
        (IAP_RANGE,), check=checks.each(checks.admin_cidr),
        doc="Sources allowed to SSH (default: IAP only; empty: none; /8 at widest).")
    direct_access_cidrs: tuple[str, ...] = setting(
        (), check=checks.each(checks.admin_cidr),
        doc="Sources allowed to reach the registry port directly (needs the TLS secrets; reserves an address).")
    snapshot_retention_days: int = setting(7, check=checks.in_range(1, 365, " days"),
                                           doc="Days daily data-disk snapshots are kept.")
    mode: Literal["single", "group"] = setting(
        "single", doc="single: one VM with its data disk; group: a managed instance group behind a load balancer.")
    group: RegistryGroupSettings = setting(factory=RegistryGroupSettings, doc="The group mode (storage=gcs).")
    data_disk_snapshot: str | None = setting(
        None, check=checks.matches(checks.SNAPSHOT, "a snapshot name or projects/P/global/snapshots/NAME"),
        doc="Create the data disk from this snapshot (restore, or move to another zone or disk type).")
    data_disk_snapshot_max_age_hours: int = setting(
        24, check=checks.in_range(1, 87600, " hours"),
        doc="A replacement refuses a dataDiskSnapshot older than this (it would lose every push since).")
    allow_data_disk_replacement: bool = setting(
        False, doc="Let the next `pulumi up` replace the protected data disk (restore procedure); set back after.")
    gc_schedule: str | None = setting(
        "Sat *-*-* 19:00:00 UTC", check=calendar_problem,
        doc="When garbage collection runs (systemd OnCalendar, checked with systemd's calendar grammar; the "
            "registry stops, or is read-only on a bucket). null: never.")
    flow_logs: FlowLogSettings = setting(factory=FlowLogSettings, doc="VPC flow logs of the stack's own subnet.")
    noncurrent_version_days: int = setting(
        7, check=checks.in_range(1, 3650, " days"),
        doc="storage=gcs: days a replaced or deleted object's old version is kept in the bucket.")


@dataclass(frozen=True)
class AlertSettings:
    email: str | None = setting(None, check=checks.matches(checks.EMAIL, "an email address"),
                                doc="Where the self-hosted registry's alerts go (either mode). Unset: no alerts.")
    disk_usage_percent: int = setting(80, check=checks.in_range(50, 99, " %"),
                                      doc="Alert when the registry's data disk is fuller than this.")
    registry_down_minutes: int = setting(5, check=checks.in_range(1, 60, " minutes"),
                                         doc="Alert when the registry has not answered for this long.")
    error_rate_percent: int = setting(5, check=checks.in_range(1, 100, " %"),
                                      doc="External load balancer: alert when more than this share of requests "
                                          "gets a 5xx answer for 5 minutes.")
    bucket_size_gb: int = setting(100, check=checks.in_range(1, 1_000_000, " GB"),
                                  doc="storage=gcs: alert when the registry's bucket holds more than this.")


@dataclass(frozen=True)
class BudgetSettings:
    billing_account: str | None = setting(
        None, doc="Billing account (XXXXXX-XXXXXX-XXXXXX) for a project budget. Unset: no budget.",
        check=checks.matches(checks.BILLING_ACCOUNT, "a billing account id XXXXXX-XXXXXX-XXXXXX"))
    amount: int = setting(10, check=checks.in_range(1, 1_000_000), doc="Monthly budget, in whole currency units.")
    currency: str = setting("USD", check=grammars.currency,
                            doc="Currency of the amount (the billing account's).")


@dataclass(frozen=True)
class GcpSettings:
    project: str
    region: str
    zone: str


@dataclass(frozen=True)
class Secrets:
    """Secret config values, present only as Pulumi secrets."""
    registry_tls_cert: pulumi.Output[str] | None = None
    registry_tls_key: pulumi.Output[str] | None = None


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
        """The trigger builds (it does not promote): its cache gets a repository of its own."""
        return self.uses_build_trigger and self.promotion.source_repository is None

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


def _decode(raw: str) -> Any:
    """Pulumi hands every top-level value over as a string; objects and scalars are JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or numbers/nesting beyond Python's limits
        return raw


def _all_config() -> dict[str, Any]:
    # pulumi.Config only answers for keys it is asked about; to report typos in top-level keys
    # we need every key the engine passed in (pulumi.runtime.config holds them).
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def _unknown_gcp_keys(config: dict[str, Any], problems: list[Problem]) -> set[str]:
    """The explicit provider (components/providers.py) reads only these three: any other `gcp:` key
    would be silently ignored, so it is a typo or a setting that has no effect. Returns the keys the
    unknown ones most likely meant."""
    known = [key.split(":")[1] for key, _, _ in GCP_KEYS]
    meant: set[str] = set()
    for full, value in config.items():
        namespace, _, key = full.partition(":")
        if namespace == "gcp" and key not in known:
            close = closest(key, known)
            meant |= {close} if close else set()
            problems.append(Problem(full, value, f"a gcp key this program reads ({checks.short(key)} is not one: "
                                    f"the stack's gcp provider takes only {', '.join(known)}){suggest(key, known)}",
                                    unknown_key=True))
    return meant


def _read_gcp(target: str | None, problems: list[Problem], misspelled: set[str]) -> GcpSettings | None:
    """`misspelled`: gcp keys an unknown key most likely meant; their absence is not reported again."""
    gcp = pulumi.Config("gcp")
    project, region, zone = gcp.get("project"), gcp.get("region"), gcp.get("zone")
    if target != "gcp":
        return None
    if project is None and "project" not in misspelled:
        problems.append(Problem("gcp:project", None,
                                "your GCP project id: `pulumi config set gcp:project MY-PROJECT`"))
    elif project is not None and not checks.PROJECT_ID.fullmatch(project):
        problems.append(Problem("gcp:project", project,
                                "a project id: 6-30 lowercase letters, digits, hyphens; letter first"))
    if region is None and "region" in misspelled:
        return None  # the zone would be checked against the default region, which is not the one meant
    region = region or DEFAULT_REGION
    if region not in ZONES:
        problems.append(Problem("gcp:region", region, f"a GCP region{suggest(region, REGIONS)}"))
        return None
    zone = zone or ZONES[region][0]
    if zone not in ZONES[region]:
        problems.append(Problem("gcp:zone", zone, f"a zone of {region}: {', '.join(ZONES[region])}"))
    if project is None or problems:
        return None
    return GcpSettings(project=project, region=region, zone=zone)


def _read_secrets(namespace: str, raw: dict[str, Any], problems: list[Problem]) -> Secrets:
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(namespace)
    values: dict[str, pulumi.Output[str] | None] = {}
    for key in SECRET_KEYS:
        full = f"{namespace}:{key}"
        if key in raw and not runtime_config.is_config_secret(full):
            problems.append(Problem(full, None, f"a secret: `pulumi config set --secret {key} ...` "
                                    "(a plain value would sit in the stack file)", secret=True))
        values[_snake(key)] = config.get_secret(key)
    return Secrets(**values)


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def _cross_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    """Rules that tie several keys together."""
    vm, trigger, sec = s.registry_vm, s.build_trigger, s.secrets
    if s.uses_registry_vm:
        if vm.storage == "gcs" and vm.bucket_name is None:
            problems.append(Problem(f"{ns}:registryVm.bucketName", None, "a bucket name when storage is gcs"))
        if vm.instances > 1 and vm.storage != "gcs":
            problems.append(Problem(f"{ns}:registryVm.instances", vm.instances,
                                    "1 with storage=disk: several registries can share only a bucket"))
        if (vm.network is None) != (vm.subnetwork is None):
            given, other = ("network", "subnetwork") if vm.subnetwork is None else ("subnetwork", "network")
            problems.append(Problem(f"{ns}:registryVm.{other}", None,
                                    f"the {other} too when registryVm.{given} is set (an existing network is "
                                    "named with its subnetwork), or neither: the stack then creates its own VPC"))
        if vm.network is None:
            for key, ranges in (("sshSourceRanges", vm.ssh_source_ranges),
                                ("directAccessCidrs", vm.direct_access_cidrs)):
                v6 = [r for r in ranges if checks.cidr(r) is None and ":" in r]
                if v6:
                    problems.append(Problem(
                        f"{ns}:registryVm.{key}", v6,
                        "IPv4 ranges only: the subnet the stack creates is IPv4-only, so IPv6 sources reach "
                        "nothing; remove them, or name an existing dual-stack registryVm.network and subnetwork"))
        if vm.network is not None and vm.flow_logs.enabled:
            problems.append(Problem(f"{ns}:registryVm.flowLogs.enabled", True,
                                    "unset or false with an existing registryVm.network: its subnetwork's flow logs "
                                    "are set where that network is managed (`gcloud compute networks subnets "
                                    "update SUBNET --region REGION --enable-flow-logs`)"))
        host = image_host(s.registry.image)
        if host is not None and host.endswith(".pkg.dev") and artifact_registry_repository(s.registry.image) is None:
            # The VM's account is granted reader on exactly that repository: it must be named.
            problems.append(Problem(f"{ns}:registry.image", s.registry.image,
                                    "an Artifact Registry image as LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/"
                                    "IMAGE:TAG (the VM's account is granted reader on that repository)"))
        if not vm.cloud_nat and host is not None and not host.endswith(".pkg.dev"):
            problems.append(Problem(f"{ns}:registry.image", s.registry.image,
                                    "an image on Docker Hub (pulled through the stack's Artifact Registry cache) or "
                                    "in Artifact Registry: the VM has no internet access unless registryVm.cloudNat "
                                    "is true"))
        if s.registry_image_from_docker_hub and not s.docker_hub_proxy:
            problems.append(Problem(f"{ns}:artifactRegistry.dockerHubProxy", s.artifact_registry.docker_hub_proxy,
                                    "true (with artifactRegistry.enabled): the VM has no internet access and pulls "
                                    "registry.image through the Docker Hub cache; or set registryVm.cloudNat: true"))
        if vm.direct_access_cidrs and (sec.registry_tls_cert is None or sec.registry_tls_key is None):
            problems.append(Problem(
                f"{ns}:registryVm.directAccessCidrs", list(vm.direct_access_cidrs),
                "no direct access without TLS: set the registryTlsCert and registryTlsKey secrets, "
                "or use the IAP tunnel"))
    if (sec.registry_tls_cert is None) != (sec.registry_tls_key is None):
        present, missing = ("registryTlsCert", "registryTlsKey") if sec.registry_tls_key is None \
            else ("registryTlsKey", "registryTlsCert")
        problems.append(Problem(f"{ns}:{missing}", None,
                                f"the {missing} secret too: {present} is set and TLS needs both "
                                f"(or remove {present})"))
    if s.uses_registry_vm and s.production and vm.allow_data_disk_replacement and vm.data_disk_snapshot is None:
        problems.append(Problem(f"{ns}:registryVm.allowDataDiskReplacement", True,
                                "false, or registryVm.dataDiskSnapshot set: in production a replaced data disk "
                                "is created from a snapshot, never blank"))
    if s.uses_registry_vm and vm.mode == "group":
        _group_checks(s, ns, problems)
    key_name = s.artifact_registry.kms_key_name
    if s.uses_artifact_registry and key_name and s.gcp and key_name.split("/")[3] != s.gcp.region:
        problems.append(Problem(f"{ns}:artifactRegistry.kmsKeyName", key_name,
                                f"a key in the repository's location {s.gcp.region} (Artifact Registry "
                                "only uses keys of its own location)"))
    if s.uses_registry_vm or s.uses_local_registry:
        expected = _registry_version_problem(s.registry.image)
        if expected:
            problems.append(Problem(f"{ns}:registry.image", s.registry.image, expected))
    if s.uses_build_trigger and trigger.generation == 2:
        if trigger.app_installation_id is None:
            problems.append(Problem(f"{ns}:buildTrigger.appInstallationId", None,
                                    "the Cloud Build GitHub App installation id (generation 2)"))
        version = trigger.github_token_secret_version
        if version is None:
            problems.append(Problem(f"{ns}:buildTrigger.githubTokenSecretVersion", None,
                                    "the Secret Manager version holding the GitHub token (generation 2): "
                                    f"projects/PROJECT/secrets/{GITHUB_TOKEN_SECRET}/versions/1, created once by "
                                    "hand (docs/image-pipeline.md)"))
        elif s.gcp and version.split("/")[1] not in (s.gcp.project,) and not version.split("/")[1].isdigit():
            problems.append(Problem(f"{ns}:buildTrigger.githubTokenSecretVersion", version,
                                    f"a secret in the stack's project {s.gcp.project} (the stack grants Cloud "
                                    "Build's agent access to it there, and nowhere else)"))
    if s.uses_build_trigger and trigger.generation == 1 and trigger.github_token_secret_version is not None:
        problems.append(Problem(f"{ns}:buildTrigger.githubTokenSecretVersion", trigger.github_token_secret_version,
                                "unset with generation 1: the Cloud Build GitHub App needs no token"))
    if s.uses_build_trigger and trigger.generation == 1 and trigger.region is not None:
        problems.append(Problem(f"{ns}:buildTrigger.region", trigger.region,
                                "no region with generation 1: Cloud Build GitHub App triggers are global "
                                "(set buildTrigger.generation to 2 to build in a region)"))
    if s.uses_build_trigger and trigger.approvers and not s.require_approval:
        problems.append(Problem(f"{ns}:buildTrigger.approvers", list(trigger.approvers),
                                "no approvers while builds need no approval (buildTrigger.requireApproval "
                                "is off): set it to true, or remove the approvers"))
    source = s.promotion.source_repository
    if source is not None and not s.uses_build_trigger:
        problems.append(Problem(f"{ns}:promotion.sourceRepository", source,
                                "promotion together with buildTrigger.githubRepository: each push to the branch "
                                "promotes that commit's image"))
    if source is not None and s.uses_build_trigger and not s.require_approval:
        problems.append(Problem(f"{ns}:promotion.sourceRepository", source,
                                "promotion only behind approval: set buildTrigger.requireApproval to true "
                                "(the source stack's trigger fires on the same push, and what is promoted "
                                "is what a person approved)"))
    if source is not None and s.uses_build_trigger and not re.fullmatch(r"\^[A-Za-z0-9._/-]+\$", trigger.branch):
        problems.append(Problem(f"{ns}:buildTrigger.branch", trigger.branch,
                                "one branch, written ^name$, with promotion: the promotion trigger is run by "
                                "hand and checks out that branch"))
    if source is not None and s.gcp and source.split("/")[1:] == [s.gcp.project, s.artifact_registry.repository_id]:
        problems.append(Problem(f"{ns}:promotion.sourceRepository", source,
                                "another stack's repository (this is the stack's own)"))
    if s.pipeline_only_repository and s.sample_image.enabled:
        why = "production: true" if s.production else f"promotion.sourceRepository is set ({source})"
        problems.append(Problem(f"{ns}:sampleImage.enabled", True,
                                f"false when {why}: that Artifact Registry repository is written only by the "
                                "image pipeline (built by dev's trigger, verified, approved, copied by digest); "
                                "`pulumi up` would push an image built on the deployer's machine into it. "
                                "Set sampleImage.enabled to false, or artifactRegistry.enabled to false"))
    _derived_checks(s, ns, problems)


def _group_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    vm, group, sec = s.registry_vm, s.registry_vm.group, s.secrets
    key = f"{ns}:registryVm"
    if vm.storage != "gcs":
        problems.append(Problem(f"{key}.storage", vm.storage, '"gcs" in group mode: the VMs share one bucket'))
    if vm.instances != 1:
        problems.append(Problem(f"{key}.instances", vm.instances,
                                "1 (unset) in group mode: group.minInstances and group.maxInstances size the group"))
    if group.min_instances > group.max_instances:
        problems.append(Problem(f"{key}.group.minInstances", group.min_instances,
                                f"at most group.maxInstances ({group.max_instances})"))
    if group.load_balancer == "internal":
        if not group.client_ranges:
            problems.append(Problem(f"{key}.group.clientRanges", [], "the ranges of the clients (VPC, VPN) "
                                    "that use the internal load balancer"))
        if sec.registry_tls_cert is None or sec.registry_tls_key is None:
            problems.append(Problem(f"{ns}:registryTlsCert", None, "a certificate and key for "
                                    f"{group.internal_domain}: the internal load balancer passes TLS through to "
                                    "the VMs (`pulumi config set --secret registryTlsCert ...` and registryTlsKey)",
                                    secret=True))
    else:
        if group.domain is None:
            problems.append(Problem(f"{key}.group.domain", None, "the public name of the external load balancer"))
        if sec.registry_tls_cert is not None or sec.registry_tls_key is not None:
            problems.append(Problem(f"{ns}:registryTlsCert", None, "unset with the external load balancer: TLS "
                                    "terminates there with a Google-managed certificate (the VMs serve plain HTTP "
                                    "to it)", secret=True))
        if not group.allowed_source_ranges:
            problems.append(Problem(f"{key}.group.allowedSourceRanges", [],
                                    "the source ranges Cloud Armor admits (the registry is never open to all)"))


def _derived_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    """Names the program builds from several keys must fit their targets too; each problem names
    the key to change."""
    ar, image = s.artifact_registry, s.sample_image
    # The effective switch (`s.docker_hub_proxy`), not the key: the VM turns the cache on by itself when
    # it pulls registry.image from Docker Hub, and the cache's id is then derived all the same.
    if s.docker_hub_proxy:
        cache_id = names.docker_hub_proxy_id(ar.repository_id)
        if len(cache_id) > names.REPOSITORY_ID_MAX:
            longest = names.REPOSITORY_ID_MAX - len(names.DOCKER_HUB_PROXY_SUFFIX)
            why = "" if ar.docker_hub_proxy else (" (on because the registry VM pulls registry.image from Docker Hub "
                                                  "through it)")
            problems.append(Problem(f"{ns}:artifactRegistry.repositoryId", ar.repository_id,
                                    f"at most {longest} characters with dockerHubProxy on{why}: the cache "
                                    f"repository is named {ar.repository_id[:8]}...{names.DOCKER_HUB_PROXY_SUFFIX} "
                                    f"({len(cache_id)} characters, {names.REPOSITORY_ID_MAX} at most)"))
    build_cache = names.build_cache_id(ar.repository_id)
    if s.uses_build_cache and len(build_cache) > names.REPOSITORY_ID_MAX:
        longest = names.REPOSITORY_ID_MAX - len(names.BUILD_CACHE_SUFFIX)
        problems.append(Problem(f"{ns}:artifactRegistry.repositoryId", ar.repository_id,
                                f"at most {longest} characters with buildTrigger.githubRepository: the build "
                                f"cache repository is named {ar.repository_id[:8]}...{names.BUILD_CACHE_SUFFIX} "
                                f"({len(build_cache)} characters, {names.REPOSITORY_ID_MAX} at most)"))
    if s.uses_build_trigger and s.gcp:
        # The pipeline grants its builder this binding itself; a second resource for it would revoke
        # it when either is deleted.
        builder = f"serviceaccount:image-builder@{s.gcp.project}.iam.gserviceaccount.com"
        if any(member.lower() == builder for member in ar.writers):
            problems.append(Problem(f"{ns}:artifactRegistry.writers", list(ar.writers),
                                    "no entry for the image builder's service account: the image pipeline "
                                    "grants it writer access already"))
    # (key to blame, its value, a full reference the program pushes or pulls)
    references: list[tuple[str, str, str]] = []
    if image.enabled and s.uses_artifact_registry and s.gcp:
        references.append(("sampleImage.name", image.name,
                           f"{s.gcp.region}-docker.pkg.dev/{s.gcp.project}/{ar.repository_id}/{image.name}:tag"))
    if image.enabled and s.uses_local_registry:
        references.append(("sampleImage.name", image.name, f"localhost:{s.registry.port}/{image.name}:tag"))
    if image.docker_hub_user:
        repository = image.docker_hub_repository or image.name
        if image.docker_hub_repository is None and grammars.docker_hub_repository(image.name):
            problems.append(Problem(f"{ns}:sampleImage.name", image.name,
                                    "a one-level name to push to Docker Hub (USER/REPOSITORY), or set "
                                    "sampleImage.dockerHubRepository"))
        else:
            blame = "sampleImage.dockerHubRepository" if image.docker_hub_repository else "sampleImage.name"
            references.append((blame, repository, f"docker.io/{image.docker_hub_user}/{repository}:tag"))
    if s.uses_registry_vm and s.docker_hub_proxy and s.gcp:
        proxy = f"{s.gcp.region}-docker.pkg.dev/{s.gcp.project}/{names.docker_hub_proxy_id(ar.repository_id)}"
        references.append(("registry.image", s.registry.image, via_proxy(s.registry.image, proxy)))
    for key, value, ref in references:
        expected = grammars.image_reference(ref)
        if expected:
            problems.append(Problem(f"{ns}:{key}", value,
                                    f"{expected} (as pushed or pulled: {checks.short(ref, 100)})"))


def _registry_version_problem(image: str) -> str | None:
    """registry:2 images before 2.8.3 lack the gcs driver; refuse them outright."""
    if "@sha256:" in image:
        return None
    tag = image.rpartition(":")[2]
    found = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", tag)
    if not found:
        return None
    version = tuple(int(part or 0) for part in found.groups())
    return "registry 2.8.3 or newer (older images lack the gcs driver)" if version < (2, 8, 3) else None


def load_settings() -> Settings:
    """Reads and validates the whole stack config; raises SettingsError listing every problem."""
    namespace = pulumi.get_project()
    problems: list[Problem] = []
    prefix = f"{namespace}:"
    config = _all_config()
    raw = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
    secrets = _read_secrets(namespace, raw, problems)
    problems += [Problem(f"{prefix}{key}", None, expected, secret=True)
                 for key, expected in RETIRED_SECRETS.items() if key in raw]
    objects = {k: _decode(v) if isinstance(v, str) else v for k, v in raw.items()
               if k not in SECRET_KEYS and k not in RETIRED_SECRETS}
    parsed = parse_object(Settings, objects, prefix, problems,
                          extra={"project_name": namespace, "stack": pulumi.get_stack(),
                                 "gcp": None, "secrets": secrets}, also_known=SECRET_KEYS)
    misspelled_gcp = _unknown_gcp_keys(config, problems)
    target = parsed.target if parsed is not INVALID else objects.get("target", _guessed_target(objects, namespace,
                                                                                              problems))
    gcp = _read_gcp(target, problems, misspelled_gcp)
    if parsed is not INVALID:
        parsed = replace(parsed, gcp=gcp)
        _cross_checks(parsed, namespace, problems)
    if problems:
        # Unknown keys first: what follows may be the consequence of the default they left in place.
        problems.sort(key=lambda p: not p.unknown_key)
        raise SettingsError([_hide_secrets(p) for p in problems])
    return cast(Settings, parsed)


def _guessed_target(objects: dict[str, Any], namespace: str, problems: list[Problem]) -> str | None:
    """The target when `target` is unset: its default, "gcp", unless an unknown key looks like a
    misspelled `target`. Then the target is unknown (None): asking a stack that meant `local` for a GCP
    project would only mislead, so the misspelling's problem says what `target` takes instead."""
    known = list(config_fields(Settings))
    for key in objects:
        if key not in known and closest(key, known) == "target":
            accepted = ", ".join(json.dumps(a) for a in typing.get_args(typing.get_type_hints(Settings)["target"]))
            for i, problem in enumerate(problems):
                if problem.key == f"{namespace}:{key}" and problem.unknown_key:
                    problems[i] = replace(problem, expected=f"{problem.expected} (`target` takes {accepted}; "
                                                            "unset, it is \"gcp\", which needs gcp:project)")
            return None
    return "gcp"


def _hide_secrets(problem: Problem) -> Problem:
    """Whatever the key (a secret one, or a misspelling of one set with --secret), a value set as a
    secret is never printed, nor any part of it."""
    from pulumi.runtime import config as runtime_config

    top = re.split(r"[.\[]", problem.key, maxsplit=1)[0]
    return problem.hidden() if runtime_config.is_config_secret(top) else problem
