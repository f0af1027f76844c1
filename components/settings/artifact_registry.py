"""The Artifact Registry repository: cleanup, immutability, the Docker Hub cache, CMEK and IAM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components import checks, names
from stackconfig.reader import Problem, setting

if TYPE_CHECKING:
    from components.settings.stack import Settings


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


def cross_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    key_name = s.artifact_registry.kms_key_name
    if s.uses_artifact_registry and key_name and s.gcp and key_name.split("/")[3] != s.gcp.region:
        problems.append(Problem(f"{ns}:artifactRegistry.kmsKeyName", key_name,
                                f"a key in the repository's location {s.gcp.region} (Artifact Registry "
                                "only uses keys of its own location)"))


def derived_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    """Names the program builds from several keys must fit their targets too; each problem names
    the key to change."""
    ar = s.artifact_registry
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
                                f"at most {longest} characters with buildTrigger.registryCache: the build "
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
