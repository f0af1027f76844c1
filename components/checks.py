"""Value checks for settings: each returns None when the value is fine, else what is expected."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from components.config_schema import Check

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REPOSITORY_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# Docker image path component as the distribution spec defines it, lowercase.
IMAGE_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
MACHINE_TYPE = re.compile(
    r"^(?:e2|f1|g1|n1|n2|n2d|n4|n4d|c2|c2d|c3|c3d|c4|c4a|c4d|t2a|t2d|m1|m2|m3|m4|a2|a3|a4|g2|h3|z3)-"
    r"(?:micro|small|medium|(?:standard|highmem|highcpu|highgpu|megagpu|ultragpu|ultramem|megamem"
    r"|hypermem)-\d{1,3}(?:-lssd)?|custom-\d{1,3}-\d{3,7})$"
)
GITHUB_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
KMS_KEY = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/"
                     r"[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$")
DOCKER_REPOSITORY_PATH = re.compile(r"^[a-z]+(?:-[a-z]+)*[0-9]?-docker\.pkg\.dev/[a-z][a-z0-9-]{4,28}[a-z0-9]/"
                                    r"[a-z][a-z0-9-]{0,62}$")
BILLING_ACCOUNT = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
NETWORK = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
SNAPSHOT = re.compile(r"^(?:projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/snapshots/)?"
                      r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# systemd.time(7) calendar events: weekdays, dates, times, ranges, steps, a timezone; one line.
CALENDAR = re.compile(r"^[A-Za-z0-9*:,./~+_ -]{1,80}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")
DOCKER_HUB_USER = re.compile(r"^[a-z0-9]{4,30}$")
HTPASSWD_USER = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
TAG_PREFIX = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
EMAIL = re.compile(rf"^{_EMAIL}$")
MEMBER = re.compile(rf"^(?:(?:user|group|serviceAccount):{_EMAIL}|domain:[a-z0-9.-]+\.[a-z]{{2,}})$")
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
WORLD = {ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")}


def matches(pattern: re.Pattern[str], expected: str) -> Check:
    return lambda value: None if pattern.fullmatch(value) else expected


def one_of(allowed: Iterable[str], expected: str) -> Check:
    known = frozenset(allowed)
    return lambda value: None if value in known else expected


def in_range(low: int, high: int, unit: str = "") -> Check:
    return lambda value: None if low <= value <= high else f"a number from {low} to {high}{unit}"


def each(check: Check) -> Check:
    """Applies a check to every item of a list; reports the first bad item with its index."""
    def run(values: Iterable[object]) -> str | None:
        for index, value in enumerate(values):
            expected = check(value)
            if expected:
                return f"item {index} ({value!r}): {expected}"
        return None
    return run


def iam_member(value: str) -> str | None:
    if value in PUBLIC_MEMBERS or value.split(":", 1)[-1] in PUBLIC_MEMBERS:
        return "a named principal: public access (allUsers / allAuthenticatedUsers) is never granted"
    if not MEMBER.fullmatch(value):
        return ("an IAM member 'user:EMAIL', 'group:EMAIL', 'serviceAccount:EMAIL' "
                "or 'domain:DOMAIN'")
    return None


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


def private_cidr(value: str) -> str | None:
    expected = cidr(value)
    if expected:
        return expected
    network = ipaddress.ip_network(value)
    if network.version != 4 or not network.is_private or not 8 <= network.prefixlen <= 29:
        return "a private IPv4 range from /8 to /29, such as 10.20.0.0/24"
    return None


# Python accepts these, RE2 (what Cloud Build matches branches with) does not.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


def regex(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as err:
        return f"a valid regular expression ({err})"
    if _NOT_RE2.search(value):
        return "a branch regex Cloud Build's RE2 accepts (no lookaround, no backreferences)"
    return None


def pinned_image(value: str) -> str | None:
    """A container image reference with a version tag or a digest, never `latest` or no tag."""
    if "@sha256:" in value:
        return None if re.fullmatch(r".+@sha256:[0-9a-f]{64}", value) else "a digest of 64 hex digits"
    name, _, tag = value.rpartition(":")
    if not name or "/" in tag:
        return "an image pinned to a version tag, e.g. 'registry:2.8.3' (no tag means latest)"
    if tag == "latest":
        return "an image pinned to a version tag, never 'latest'"
    return None
