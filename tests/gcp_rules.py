"""What the targets accept, written from their own documentation (not from components/): a recorded
stack run is checked against these, so a derived name that GCP or Docker would refuse fails a test
here instead of `pulumi up`.

Sources: gcloud 528's generated API messages and command_lib (Cloud Build trigger names, Secret
Manager ids, budget display names, cloudbuildv2 repository ids, gcloud's Artifact Registry id check),
the pulumi-gcp docstrings (service account ids), Compute Engine's RFC 1035 names, Cloud Storage's
bucket naming page, labels' rules, Docker Distribution's reference grammar (docker-image-py)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from docker_image import reference

from tests.harness import StackRun, unwrap

Rule = Callable[[Any], bool]


def pattern(regex: str, max_len: int | None = None) -> Rule:
    compiled = re.compile(regex)
    return lambda v: isinstance(v, str) and bool(compiled.fullmatch(v)) and (max_len is None or len(v) <= max_len)


def docker_reference(value: Any) -> bool:
    try:
        ref = reference.Reference.parse_normalized_named(value)
    except reference.InvalidReference:
        return False
    return len(ref["name"]) <= reference.NAME_TOTAL_LENGTH_MAX


def bucket(value: Any) -> bool:
    parts = value.split(".")
    return (3 <= len(value) <= (222 if len(parts) > 1 else 63) and all(len(p) <= 63 for p in parts)
            and bool(re.fullmatch(r"[a-z0-9][a-z0-9._-]*[a-z0-9]", value))
            and not value.startswith("goog") and "google" not in value and not _ip(value))


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def labels(value: Any) -> bool:
    found = json.loads(value) if isinstance(value, str) else value
    return len(found) <= 64 and all(
        re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", k) and re.fullmatch(r"[\w-]{0,63}", v) and v == v.lower()
        for k, v in found.items())


RFC1035 = pattern(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
# (resource type, input, rule, where the rule comes from)
RULES: list[tuple[str, str, Rule, str]] = [
    ("gcp:cloudbuild/trigger:Trigger", "name", pattern(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"),
     "cloudbuild_v1_messages BuildTrigger.name: alphanumerics and dashes, 1-64, alphanumeric at both ends"),
    ("gcp:artifactregistry/repository:Repository", "repositoryId", pattern(r"[a-z]([a-z0-9-]*[a-z0-9])?", 63),
     "gcloud command_lib/artifacts/util.py _REPO_REGEX, 63 characters"),
    ("gcp:billing/budget:Budget", "displayName", lambda v: isinstance(v, str) and len(v) <= 60,
     "billingbudgets_v1_messages: display name <= 60 characters"),
    ("gcp:serviceaccount/account:Account", "accountId", pattern(r"[a-z]([-a-z0-9]*[a-z0-9])", 30),
     "pulumi-gcp Account.account_id: 6-30 characters, RFC 1035"),
    ("gcp:serviceaccount/account:Account", "accountId", lambda v: len(v) >= 6, "6 characters at least"),
    ("gcp:secretmanager/secret:Secret", "secretId", pattern(r"[A-Za-z0-9_-]{1,255}"),
     "secretmanager_v1_messages: letters, numerals, - and _, 255 at most"),
    ("gcp:cloudbuildv2/repository:Repository", "name", pattern(r"[A-Za-z0-9._~%!$&'()*+,;=@-]+"),
     "cloudbuild_v2_messages repositoryId: alphanumerics and -._~%!$&'()*+,;=@"),
    ("gcp:cloudbuildv2/connection:Connection", "name", RFC1035, "a resource id"),
    ("gcp:compute/instance:Instance", "name", RFC1035, "Compute Engine names: RFC 1035, 63 at most"),
    ("gcp:compute/instance:Instance", "machineType", RFC1035, "a machine type name"),
    ("gcp:compute/firewall:Firewall", "network", RFC1035, "a network name"),
    ("gcp:storage/bucket:Bucket", "name", bucket, "Cloud Storage bucket naming"),
    ("docker:index/image:Image", "imageName", docker_reference, "Distribution reference grammar, 255 name"),
    ("docker:index/remoteImage:RemoteImage", "name", docker_reference, "Distribution reference grammar"),
    ("pulumi:providers:gcp", "defaultLabels", labels, "GCP labels: lowercase, 63 characters"),
    ("gcp:monitoring/notificationChannel:NotificationChannel", "displayName", lambda v: len(v) <= 512,
     "monitoring_v3_messages NotificationChannel.displayName: 512 characters"),
    ("gcp:monitoring/alertPolicy:AlertPolicy", "displayName", lambda v: len(v) <= 512,
     "monitoring_v3_messages AlertPolicy.displayName: 512 characters"),
]


def violations(run: StackRun) -> list[str]:
    """Every derived value a target would refuse, plus resources that share a name (URN)."""
    found = []
    for resource in run.resources:
        found += [f"{resource.type}:{resource.name} {field} = {unwrap(resource.inputs[field])!r}: {source}"
                  for type_, field, rule, source in RULES
                  if resource.type == type_ and field in resource.inputs and not rule(unwrap(resource.inputs[field]))]
    urns = [r.urn for r in run.resources]
    found += [f"two resources named {urn}" for urn in {u for u in urns if urns.count(u) > 1}]
    return found

