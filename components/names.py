"""Names the program derives from config, made to fit their targets for every value the settings
accept. Where a derivation could not fit, settings refuse the key that caused it instead."""

from __future__ import annotations

import hashlib
import re

# Cloud Build trigger names: alphanumerics and dashes, 1-64, alphanumeric at both ends.
TRIGGER_NAME_MAX = 64
# Billing budgets: "must be less than or equal to 60 characters".
BUDGET_NAME_MAX = 60
# Artifact Registry repository ids: 63 characters at most.
REPOSITORY_ID_MAX = 63
DOCKER_HUB_PROXY_SUFFIX = "-dockerhub"
BUILD_CACHE_SUFFIX = "-buildcache"


def _hash(text: str, size: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:size]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def trigger_name(image_name: str) -> str:
    """`hello-nginx` -> `hello-nginx-image`; a path such as `team/site.web` becomes dashes, and a name
    too long to fit keeps its head plus a hash of the whole, so distinct images keep distinct names."""
    name = f"{_slug(image_name)}-image"
    if len(name) <= TRIGGER_NAME_MAX:
        return name
    return f"{name[:TRIGGER_NAME_MAX - 9].rstrip('-')}-{_hash(image_name)}"


def member_key(member: str) -> str:
    """Names an IAM binding in the stack: readable, and unique per member even where the readable
    part is not (`user:a.b@x.com` and `user:a-b@x.com` both read `user-a-b-x-com`)."""
    return f"{_slug(member)[:40].rstrip('-')}-{_hash(member)}"


def legacy_member_key(member: str) -> str:
    """What bindings were named before `member_key`: kept as an alias, so an existing stack renames
    its bindings instead of deleting one and creating another (deleting a binding revokes it)."""
    return _slug(member)


def budget_display_name(stack: str) -> str:
    return f"image-sharing {stack}"[:BUDGET_NAME_MAX]


def docker_hub_proxy_id(repository_id: str) -> str:
    return f"{repository_id}{DOCKER_HUB_PROXY_SUFFIX}"


def build_cache_id(repository_id: str) -> str:
    return f"{repository_id}{BUILD_CACHE_SUFFIX}"
