"""The project's rules as plain validators over a resource's inputs, so they are unit-tested without a
policy engine; `policy/__main__.py` only wraps them in a PolicyPack for `pulumi preview --policy-pack`.

Each validator takes pulumi_policy.ResourceValidationArgs and a report(message) callback. Property
names are the engine's (camelCase)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationArgs


class Report(Protocol):
    """pulumi_policy's report_violation: a message, optionally the URN it is about."""

    def __call__(self, message: str, urn: str | None = None) -> None: ...


Validator = Callable[[ResourceValidationArgs, Report], None]

PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
WORLD = {ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}
ADMIN_PORTS = {22, 5000}
DEFAULT_PRODUCTION_STACKS = ("prod",)
REQUIRED_LABELS = ("managed-by", "stack", "project")
# Resource types whose IAM must never be public.
IAM_TYPES = {
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "gcp:secretmanager/secretIamBinding:SecretIamBinding",
}
IAM_POLICY_TYPES = {
    "gcp:artifactregistry/repositoryIamPolicy:RepositoryIamPolicy",
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
    "gcp:secretmanager/secretIamPolicy:SecretIamPolicy",
}
REPOSITORY = "gcp:artifactregistry/repository:Repository"
INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
VMS = {INSTANCE, TEMPLATE}  # a template's VMs (the registry's group mode) are held to the same rules
FIREWALL = "gcp:compute/firewall:Firewall"
BUCKET = "gcp:storage/bucket:Bucket"
DISK = "gcp:compute/disk:Disk"
TRIGGER = "gcp:cloudbuild/trigger:Trigger"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
STATEFUL = {REPOSITORY, DISK, BUCKET}
# GCP types of this project and its bootstrap whose SDK args take `labels` (all set via the provider's
# default_labels). Only those: a type without labels passes through the provider's defaults alone
# (false assurance).
LABELED = {REPOSITORY, INSTANCE, BUCKET, DISK, "gcp:secretmanager/secret:Secret",
           "gcp:servicedirectory/namespace:Namespace", "gcp:kms/cryptoKey:CryptoKey",
           # the registry's reserved addresses and its group mode (template, load balancers, private zone)
           "gcp:compute/address:Address", "gcp:compute/instanceTemplate:InstanceTemplate",
           "gcp:compute/forwardingRule:ForwardingRule", "gcp:dns/managedZone:ManagedZone",
           "gcp:compute/globalAddress:GlobalAddress", "gcp:compute/globalForwardingRule:GlobalForwardingRule",
           "gcp:compute/securityPolicy:SecurityPolicy"}
# Types whose `labels` argument is their own settings, not resource labels (a channel's email_address).
SETTINGS_LABELS = {"gcp:monitoring/notificationChannel:NotificationChannel"}
SECRET_IN_TEXT = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\b(?:password|passwd)\s*[:=]\s*\S+", re.I)
DOCKER_RUN = re.compile(r"^ExecStart=\S*docker run\b(.*)$", re.M)
# `docker run` flags that take no value; every other flag is followed by its value unless it has `=`.
DOCKER_BOOLEAN_FLAGS = {"--rm", "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--init", "--privileged",
                        "--read-only", "-it", "-P", "--publish-all"}


def docker_run_images(unit: str) -> list[str]:
    """The image of each `docker run` in a unit: the first argument that is neither a flag nor a
    flag's value (arguments to the image's command may follow it)."""
    images = []
    for args in DOCKER_RUN.findall(unit):
        tokens = iter(args.split())
        for token in tokens:
            if not token.startswith("-"):
                images.append(token)
                break
            if "=" not in token and token not in DOCKER_BOOLEAN_FLAGS:
                next(tokens, None)
    return images


def production(args: ResourceValidationArgs) -> bool:
    """Stack name from the URN (urn:pulumi:STACK::PROJECT::...), compared with the policy config."""
    stack = args.urn.split(":")[2] if args.urn.count(":") >= 2 else ""
    return stack in args.get_config().get("productionStacks", DEFAULT_PRODUCTION_STACKS)


def _members(props: Mapping[str, Any]) -> list[str]:
    members = [props["member"]] if isinstance(props.get("member"), str) else []
    return members + [m for m in props.get("members") or [] if isinstance(m, str)]


def no_public_iam(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type in IAM_TYPES:
        members = _members(args.props)
    elif args.resource_type in IAM_POLICY_TYPES:
        data = json.loads(args.props.get("policyData") or "{}")
        members = [m for binding in data.get("bindings", []) for m in binding.get("members", [])]
    else:
        return
    for member in members:
        if member in PUBLIC_MEMBERS:
            report(f"{member} must never be granted on repositories, buckets or secrets")


def _ports(allow: Mapping[str, Any]) -> set[int] | None:
    """The TCP ports a firewall allow block opens; None means every port."""
    if allow.get("protocol") not in ("tcp", "all", "6"):
        return set()
    ports: set[int] = set()
    if not allow.get("ports"):
        return None
    for spec in allow["ports"]:
        low, _, high = str(spec).partition("-")
        ports |= set(range(int(low), int(high or low) + 1))
    return ports


def no_world_admin_ports(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != FIREWALL or args.props.get("direction", "INGRESS") != "INGRESS":
        return
    sources = args.props.get("sourceRanges") or []
    # GCP reads an INGRESS rule without any source as 0.0.0.0/0.
    sourceless = not sources and not args.props.get("sourceTags") and not args.props.get("sourceServiceAccounts")
    if not sourceless and not any(ipaddress.ip_network(s, strict=False) in WORLD for s in sources):
        return
    for allow in args.props.get("allows") or []:
        opened = _ports(allow)
        if opened is None or opened & ADMIN_PORTS:
            report("a firewall rule admits 0.0.0.0/0 or ::/0 to SSH or the registry port")
            return


def vm_hardened(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in VMS:
        return
    email = (args.props.get("serviceAccount") or {}).get("email", "")
    if not email or email == "default" or email.endswith("-compute@developer.gserviceaccount.com"):
        report("the VM must run as its own service account, not the default compute account")
    shielded = args.props.get("shieldedInstanceConfig") or {}
    if not all(shielded.get(k) for k in ("enableSecureBoot", "enableVtpm", "enableIntegrityMonitoring")):
        report("Shielded VM (secure boot, vTPM, integrity monitoring) must be on")
    for key, value in (args.props.get("metadata") or {}).items():
        if isinstance(value, str) and SECRET_IN_TEXT.search(value):
            report(f"instance metadata '{key}' holds a password or a private key; use Secret Manager")


def prod_repository_rules(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != REPOSITORY or not production(args):
        return
    if args.props.get("mode", "STANDARD_REPOSITORY") == "STANDARD_REPOSITORY" and not (
            args.props.get("dockerConfig") or {}).get("immutableTags"):
        report("a production repository must have immutable tags")
    if not args.props.get("cleanupPolicies"):
        report("a production repository must have cleanup policies")


def stateful_protected_in_prod(args: ResourceValidationArgs, report: Report) -> None:
    # A remote repository only caches an upstream (Docker Hub): nothing is lost when it is replaced.
    cache = args.resource_type == REPOSITORY and args.props.get("mode") == "REMOTE_REPOSITORY"
    if args.resource_type in STATEFUL and not cache and production(args) and not args.opts.protect:
        report("stateful resources (repositories, registry disks and buckets) must be protected in production")


def project_labels(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in LABELED:
        return
    labels = dict(args.props.get("labels") or {})
    if args.provider is not None:
        defaults = args.provider.props.get("defaultLabels") or {}
        labels = {**(json.loads(defaults) if isinstance(defaults, str) else defaults), **labels}
    missing = [label for label in REQUIRED_LABELS if label not in labels]
    if missing:
        report(f"missing the project's labels {missing} (set them on the provider's default_labels)")


def _image_pinned(image: str) -> bool:
    if "@sha256:" in image or image.startswith("sha256:"):
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest"


def _written_files(args: ResourceValidationArgs) -> list[str]:
    """The contents cloud-init user-data writes (where the systemd units that run containers are)."""
    user_data = (args.props.get("metadata") or {}).get("user-data") or ""
    if not isinstance(user_data, str) or not user_data.startswith("#cloud-config"):
        return []
    data = yaml.safe_load(user_data) or {}
    return [str(f.get("content", "")) for f in data.get("write_files") or [] if isinstance(f, dict)]


def images_pinned(args: ResourceValidationArgs, report: Report) -> None:
    images: Iterable[str] = ()
    if args.resource_type in VMS:
        images = [image for content in _written_files(args) for image in docker_run_images(content)]
    elif args.resource_type in ("docker:index/container:Container", "docker:index/remoteImage:RemoteImage"):
        images = [args.props.get("image") or args.props.get("name") or ""]
    for image in images:
        if not _image_pinned(image):
            report(f"container image '{image}' must be pinned to a version tag or digest, never latest")


def trigger_user_managed_account(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != TRIGGER:
        return
    account = args.props.get("serviceAccount") or ""
    if not account or account.endswith(("@cloudbuild.gserviceaccount.com", "-compute@developer.gserviceaccount.com")):
        report("a Cloud Build trigger must run as a user-managed service account")


def bucket_private(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != BUCKET:
        return
    if not args.props.get("uniformBucketLevelAccess"):
        report("buckets must use uniform bucket-level access")
    if args.props.get("publicAccessPrevention") != "enforced":
        report("buckets must enforce public access prevention")


def bucket_versioned(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == BUCKET and not (args.props.get("versioning") or {}).get("enabled"):
        report("buckets should keep versions so a deleted or overwritten object can be restored")


def prod_subnet_flow_logs(args: ResourceValidationArgs, report: Report) -> None:
    """CIS GCP 3.8 / checkov CKV_GCP_26: a production subnet records its flows."""
    if args.resource_type == SUBNETWORK and production(args) and not args.props.get("logConfig"):
        report("a production subnet must have VPC flow logs (logConfig)")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    validate: Validator
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY


RULES = (
    Rule("no-public-iam", "No allUsers / allAuthenticatedUsers on repositories, buckets or secrets.", no_public_iam),
    Rule("no-world-admin-ports", "No firewall rule admits 0.0.0.0/0 or ::/0 to SSH or the registry port.",
         no_world_admin_ports),
    Rule("vm-hardened", "VMs run as their own account, with Shielded VM, and no secret in metadata.", vm_hardened),
    Rule("prod-repository-rules", "Production repositories have immutable tags and cleanup policies.",
         prod_repository_rules),
    Rule("stateful-protected-in-prod",
         "Repositories (not pull-through caches), registry disks and buckets are protected in production.",
         stateful_protected_in_prod),
    Rule("project-labels", "Every labelable resource carries managed-by, stack and project labels.", project_labels),
    Rule("images-pinned", "Container images in VM user-data and local containers are pinned.", images_pinned),
    Rule("trigger-user-managed-account", "Cloud Build triggers run as a user-managed service account.",
         trigger_user_managed_account),
    Rule("bucket-private", "Buckets use uniform access and enforce public access prevention.", bucket_private),
    Rule("bucket-versioned", "Buckets keep object versions.", bucket_versioned, EnforcementLevel.ADVISORY),
    Rule("prod-subnet-flow-logs", "Production subnets have VPC flow logs.", prod_subnet_flow_logs),
)
