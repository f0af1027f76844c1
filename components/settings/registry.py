"""The self-hosted registry: the registry itself (image, port, user), its VM or group, and the rules
that tie them to storage, TLS and the Docker Hub cache."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from components import checks, grammars, names
from components.calendar import calendar_problem
from components.image_refs import artifact_registry_repository, image_host, via_proxy
from components.settings.network import FlowLogSettings
from stackconfig.reader import Problem, setting

if TYPE_CHECKING:
    from components.settings.stack import Settings

IAP_RANGE = "35.235.240.0/20"
REGISTRY_IMAGE = "registry:2.8.3"


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


def _version_problem(image: str) -> str | None:
    """registry:2 images before 2.8.3 lack the gcs driver; refuse them outright."""
    if "@sha256:" in image:
        return None
    tag = image.rpartition(":")[2]
    found = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", tag)
    if not found:
        return None
    version = tuple(int(part or 0) for part in found.groups())
    return "registry 2.8.3 or newer (older images lack the gcs driver)" if version < (2, 8, 3) else None


def cross_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    vm, sec = s.registry_vm, s.secrets
    if s.uses_registry_vm:
        if vm.storage == "gcs" and vm.bucket_name is None:
            problems.append(Problem(f"{ns}:registryVm.bucketName", None, "a bucket name when storage is gcs"))
        if vm.instances > 1 and vm.storage != "gcs":
            problems.append(Problem(f"{ns}:registryVm.instances", vm.instances,
                                    "1 with storage=disk: several registries can share only a bucket"))
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
    if s.uses_registry_vm and s.production and vm.allow_data_disk_replacement and vm.data_disk_snapshot is None:
        problems.append(Problem(f"{ns}:registryVm.allowDataDiskReplacement", True,
                                "false, or registryVm.dataDiskSnapshot set: in production a replaced data disk "
                                "is created from a snapshot, never blank"))
    if s.uses_registry_vm and vm.mode == "group":
        _group_checks(s, ns, problems)
    if s.uses_registry_vm or s.uses_local_registry:
        expected = _version_problem(s.registry.image)
        if expected:
            problems.append(Problem(f"{ns}:registry.image", s.registry.image, expected))


def derived_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    """The registry image as the VM pulls it, through the Docker Hub cache, must be a valid reference."""
    ar = s.artifact_registry
    if s.uses_registry_vm and s.docker_hub_proxy and s.gcp:
        proxy = f"{s.gcp.region}-docker.pkg.dev/{s.gcp.project}/{names.docker_hub_proxy_id(ar.repository_id)}"
        ref = via_proxy(s.registry.image, proxy)
        expected = grammars.image_reference(ref)
        if expected:
            problems.append(Problem(f"{ns}:registry.image", s.registry.image,
                                    f"{expected} (as pushed or pulled: {checks.short(ref, 100)})"))


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

