"""Value checks for settings: each returns None when the value is fine, else what is expected."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from components.gcp_locations import ARTIFACT_REGISTRY_MULTI_REGIONS, REGIONS
from stackconfig.reader import Rule
from stackconfig.rules import all_of as all_of
from stackconfig.rules import each as each
from stackconfig.rules import in_range as in_range
from stackconfig.rules import matches as matches
from stackconfig.rules import non_empty as non_empty
from stackconfig.rules import one_of as one_of
from stackconfig.rules import short as short

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
# gcloud's own check (command_lib/artifacts/util.py), plus Artifact Registry's 63-character limit.
REPOSITORY_ID = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MACHINE_TYPE = re.compile(
    r"^(?:e2|f1|g1|n1|n2|n2d|n4|n4d|c2|c2d|c3|c3d|c4|c4a|c4d|t2a|t2d|m1|m2|m3|m4|a2|a3|a4|g2|h3|z3)-"
    r"(?:micro|small|medium|(?:standard|highmem|highcpu|highgpu|megagpu|ultragpu|ultramem|megamem"
    r"|hypermem)-\d{1,3}(?:-lssd)?|custom-\d{1,3}-\d{3,7})$"
)
# GitHub: owner of alphanumerics and single inner hyphens (<= 39); repository of [A-Za-z0-9._-], not . or ..
GITHUB_REPO = re.compile(r"^(?=[A-Za-z0-9-]{1,39}/)[A-Za-z0-9](?:-?[A-Za-z0-9])*/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$")
KMS_KEY = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/"
                     r"[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$")
# The location is one Artifact Registry knows (a region, or a multi-region), not a shape: regions
# such as europe-west10 end in two digits.
# Locations are [a-z0-9-] only, so they need no escaping (re.escape's `\-` is an error in JavaScript's RegExp,
# which checks the pattern in editors: stack-config.schema.json).
_REGISTRY_LOCATION = "|".join((*REGIONS, *ARTIFACT_REGISTRY_MULTI_REGIONS))
DOCKER_REPOSITORY_PATH = re.compile(rf"^(?:{_REGISTRY_LOCATION})-docker\.pkg\.dev/[a-z][a-z0-9-]{{4,28}}[a-z0-9]/"
                                    r"[a-z][a-z0-9-]{0,62}$")
BILLING_ACCOUNT = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
NETWORK = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
SNAPSHOT = re.compile(r"^(?:projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/snapshots/)?"
                      r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# systemd.time(7) calendar events: weekdays, dates, times, ranges, steps, a timezone; one line.
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
# A Secret Manager secret version: project id or number, secret id (letters, digits, _ and -), a version
# number or `latest`.
SECRET_VERSION = re.compile(r"^projects/(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})/secrets/[A-Za-z0-9_-]{1,255}"
                            r"/versions/(?:latest|[1-9][0-9]{0,9})$")
DOCKER_HUB_USER = re.compile(r"^[a-z0-9]{4,30}$")
HTPASSWD_USER = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
TAG_PREFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# An email address is at most 254 characters (RFC 5321), so a member is at most about 270.
_EMAIL = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}"
EMAIL = re.compile(rf"^{_EMAIL}$")
MEMBER = re.compile(rf"^(?:(?:user|group|serviceAccount):{_EMAIL}|domain:[a-z0-9.-]{{1,253}}\.[a-z]{{2,63}})$")
MAX_MEMBER = 270
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
WORLD = {ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}


def _iam_member(value: str) -> str | None:
    if value in PUBLIC_MEMBERS or value.split(":", 1)[-1] in PUBLIC_MEMBERS:
        return "a named principal: public access (allUsers / allAuthenticatedUsers) is never granted"
    if len(value) > MAX_MEMBER or not MEMBER.fullmatch(value):
        return ("an IAM member 'user:EMAIL', 'group:EMAIL', 'serviceAccount:EMAIL' "
                "or 'domain:DOMAIN'")
    return None


iam_member = Rule(_iam_member, {"pattern": MEMBER.pattern, "maxLength": MAX_MEMBER})


def _distinct(values: Iterable[str]) -> str | None:
    """Each item once (an address differing only in case is the same mailbox): two resources for
    one binding would fight, and deleting either removes the grant."""
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        first = seen.setdefault(value.lower(), index)
        if first != index:
            return f"each member once: item {index} ({short(value)}) repeats item {first}"
    return None


distinct = Rule(_distinct, {"uniqueItems": True})


def cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "a CIDR range such as 203.0.113.0/24 (host bits zero)"
    return None


def admin_cidr(value: str) -> str | None:
    expected = cidr(value)
    if expected:
        return expected
    network = ipaddress.ip_network(value)
    if network in WORLD:
        return "a narrow source range: 0.0.0.0/0 and ::/0 would open the port to the whole internet"
    widest = 8 if network.version == 4 else 32
    if network.prefixlen < widest:
        return f"a source range of /{widest} or narrower: /{network.prefixlen} admits a large part of the internet"
    return None


# RFC 1918 and RFC 6598's shared space: private ranges GCP accepts for a subnet. `is_private` would
# also pass loopback, link-local, 0.0.0.0/8 and the like, which no subnet can use.
SUBNET_RANGES = tuple(ipaddress.IPv4Network(r) for r in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                         "100.64.0.0/10"))


def private_cidr(value: str) -> str | None:
    expected = cidr(value)
    if expected:
        return expected
    network = ipaddress.ip_network(value)
    if (not isinstance(network, ipaddress.IPv4Network) or not any(network.subnet_of(r) for r in SUBNET_RANGES)
            or not 8 <= network.prefixlen <= 29):
        return ("a private IPv4 range from /8 to /29 inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or "
                "100.64.0.0/10, such as 10.20.0.0/24")
    return None
