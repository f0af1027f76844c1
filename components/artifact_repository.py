"""The private Artifact Registry Docker repository: lifecycle rules, optional CMEK, an optional
Docker Hub pull-through cache, audit logs, and the one IAM interface everybody uses to get access."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from components.image_refs import ArtifactRepositoryRef
from components.names import build_cache_id, docker_hub_proxy_id, legacy_member_key, member_key
from components.project_services import ARTIFACT_REGISTRY, CLOUD_KMS, RESOURCE_MANAGER, ProjectServices
from components.settings import ArtifactRegistrySettings, CleanupSettings

ROLES = {
    "reader": "roles/artifactregistry.reader",
    "writer": "roles/artifactregistry.writer",
}
Role = Literal["reader", "writer"]
KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
SECONDS_PER_DAY = 86_400
# The build cache needs only the last few builds: keep 3, drop anything older than a week.
CACHE_CLEANUP: list[gcp.artifactregistry.RepositoryCleanupPolicyArgsDict] = [
    {"id": "keep-recent", "action": "KEEP", "most_recent_versions": {"keep_count": 3}},
    {"id": "delete-untagged", "action": "DELETE", "condition": {"tag_state": "UNTAGGED",
                                                                "older_than": f"{SECONDS_PER_DAY}s"}},
    {"id": "delete-old", "action": "DELETE", "condition": {"tag_state": "ANY",
                                                           "older_than": f"{7 * SECONDS_PER_DAY}s"}},
]


@dataclass(frozen=True)
class KeptImage:
    """The tag of the image the stack pushes and exports (`src-` + 12 hex digits: one version)."""
    tag: str


def cleanup_policies(cleanup: CleanupSettings,
                     kept: KeptImage | None = None) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgsDict]:
    """KEEP rules win over DELETE rules in Artifact Registry, so 'keep' is stated, then 'delete'."""
    policies: list[gcp.artifactregistry.RepositoryCleanupPolicyArgsDict] = [
        {"id": "keep-recent", "action": "KEEP", "most_recent_versions": {"keep_count": cleanup.keep_recent}},
    ]
    if kept is not None:
        # The exact tag the outputs point at, not the `src-` prefix: that would keep every sample
        # image ever pushed, forever. Older ones fall back to keep-recent and the DELETE rules. No
        # package prefix: the tag alone names the version, and package ids URL-encode nested names.
        policies.append({"id": "keep-stack-image", "action": "KEEP",
                         "condition": {"tag_state": "TAGGED", "tag_prefixes": [kept.tag]}})
    if cleanup.protected_tag_prefixes:
        policies.append({"id": "keep-protected-tags", "action": "KEEP",
                         "condition": {"tag_state": "TAGGED",
                                       "tag_prefixes": list(cleanup.protected_tag_prefixes)}})
    policies += [
        {"id": "delete-untagged", "action": "DELETE",
         "condition": {"tag_state": "UNTAGGED",
                       "older_than": f"{cleanup.delete_untagged_after_days * SECONDS_PER_DAY}s"}},
        {"id": "delete-old", "action": "DELETE",
         "condition": {"tag_state": "ANY", "older_than": f"{cleanup.delete_after_days * SECONDS_PER_DAY}s"}},
    ]
    return policies


@dataclass(frozen=True)
class ArtifactRepositoryArgs:
    project: str
    location: str
    settings: ArtifactRegistrySettings
    immutable_tags: bool
    protect: bool
    services: ProjectServices
    kept_image: KeptImage | None = None  # the sample image this stack pushes here, if any
    build_cache: bool = False  # a repository of its own for the image pipeline's build cache


class ArtifactRepository(pulumi.ComponentResource):
    """Exposes `host`, `path` (HOST/PROJECT/REPO), `proxy_path` and `grant()`; grants for other
    components' service accounts go through `grant()` so every binding on the repository is here."""

    def __init__(self, name: str, args: ArtifactRepositoryArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:gcp:ArtifactRepository", name, None, opts)
        s = args.settings
        self._project = args.project
        waits = args.services.needs(ARTIFACT_REGISTRY)
        if s.kms_key_name:
            waits = [*waits, self._kms_grant(s.kms_key_name, waits, args.services.needs(CLOUD_KMS))]
        policies = cleanup_policies(s.cleanup, args.kept_image)
        stateful = pulumi.ResourceOptions(parent=self, depends_on=waits, protect=args.protect)

        self.repository = gcp.artifactregistry.Repository(
            "repository",
            project=args.project,
            location=args.location,
            format="DOCKER",
            mode="STANDARD_REPOSITORY",
            repository_id=s.repository_id,
            description=s.description,
            docker_config={"immutable_tags": args.immutable_tags},
            kms_key_name=s.kms_key_name,
            vulnerability_scanning_config={
                "enablement_config": "INHERITED" if s.vulnerability_scanning else "DISABLED"},
            cleanup_policies=policies,
            cleanup_policy_dry_run=s.cleanup.dry_run,
            opts=stateful,
        )
        self.host = f"{args.location}-docker.pkg.dev"
        self.ref = ArtifactRepositoryRef(args.location, args.project, s.repository_id)
        self.path = self._path_of(self.repository)

        self.proxy: gcp.artifactregistry.Repository | None = None
        self.proxy_path: pulumi.Output[str] | None = None
        if s.docker_hub_proxy:
            # Base images (nginx, registry) pulled through GCP, not Docker Hub's rate-limited endpoint.
            self.proxy = gcp.artifactregistry.Repository(
                "dockerhub-proxy",
                project=args.project,
                location=args.location,
                format="DOCKER",
                mode="REMOTE_REPOSITORY",
                repository_id=docker_hub_proxy_id(s.repository_id),
                description="Pull-through cache of Docker Hub, managed by Pulumi",
                remote_repository_config={"description": "Docker Hub",
                                          "docker_repository": {"public_repository": "DOCKER_HUB"}},
                # The cache holds image bytes too: an org policy requiring CMEK refuses it without the key.
                kms_key_name=s.kms_key_name,
                cleanup_policies=cleanup_policies(s.cleanup),
                cleanup_policy_dry_run=s.cleanup.dry_run,
                # kms_key_name (and the id) force a replacement. Only a cache, so not protected, and
                # deleted first: created first, the new one would clash on repository_id (409).
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits, delete_before_replace=True),
            )
            self.proxy_path = self._path_of(self.proxy)

        self.cache: gcp.artifactregistry.Repository | None = None
        self.cache_path: pulumi.Output[str] | None = None
        if args.build_cache:
            # Only with buildTrigger.registryCache (off by default). BuildKit reuses --cache-from layers
            # on trust and Cloud Build then signs the result: the cache is a repository of its own that
            # this stack grants only the image builder to write (Artifact Registry IAM stops at the
            # repository, so a tag pattern could not do this). Project Owners/Editors, principals with
            # actAs on the builder, the legacy Cloud Build and default Compute Engine service accounts
            # can still push: hence off by default (docs/image-pipeline.md).
            self.cache = gcp.artifactregistry.Repository(
                "build-cache",
                project=args.project,
                location=args.location,
                format="DOCKER",
                mode="STANDARD_REPOSITORY",
                repository_id=build_cache_id(s.repository_id),
                description="Build cache of the image pipeline (granted to its builder), managed by Pulumi",
                # Every build pushes a tag of its own: nothing here is ever overwritten.
                docker_config={"immutable_tags": True},
                kms_key_name=s.kms_key_name,
                # The same bytes are in the main repository, scanned there if at all: no second bill.
                vulnerability_scanning_config={"enablement_config": "DISABLED"},
                cleanup_policies=CACHE_CLEANUP,
                cleanup_policy_dry_run=False,
                # Protected in production like every repository there (the policy pack's rule), and
                # deleted first if ever replaced on purpose (the id would clash).
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits, delete_before_replace=True,
                                            protect=args.protect),
            )
            self.cache_path = self._path_of(self.cache)
        self.grants: dict[Role, list[gcp.artifactregistry.RepositoryIamMember]] = {"reader": [], "writer": []}
        configured: tuple[tuple[Role, tuple[str, ...]], ...] = (("reader", s.readers), ("writer", s.writers))
        for role, members in configured:
            legacy = Counter(legacy_member_key(m) for m in members)
            for member in members:
                old = legacy_member_key(member)
                self.grant(member_key(member), member, role, legacy_key=old if legacy[old] == 1 else None)

        if s.audit_logs:
            audit = gcp.projects.IAMAuditConfig(
                "artifactregistry-data-access",
                project=args.project,
                service=ARTIFACT_REGISTRY,
                audit_log_configs=[{"log_type": "DATA_READ"}, {"log_type": "DATA_WRITE"}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=args.services.needs(RESOURCE_MANAGER)),
            )
            # Shown in every preview: the one place a user sees it before it happens.
            pulumi.log.warn(audit_config_warning(args.project), resource=audit)

        self.register_outputs({"host": self.host, "path": self.path, "proxyPath": self.proxy_path,
                               "cachePath": self.cache_path})

    def grant(self, key: str, member: pulumi.Input[str], role: Role, proxy: bool = False,
              legacy_key: str | None = None, cache: bool = False) -> gcp.artifactregistry.RepositoryIamMember:
        """Additive binding of `role` on this repository only (never project-wide, never public), or
        on its Docker Hub proxy or build cache. `key` names the binding in the stack, since `member`
        may not be known until deploy; `legacy_key` is a former key, aliased so the binding is
        renamed, never revoked and re-made."""
        target = self.proxy if proxy else self.cache if cache else self.repository
        if target is None:
            raise ValueError(f"no {'Docker Hub proxy' if proxy else 'build cache'} repository in this stack")
        prefix = f"{'proxy' if proxy else 'cache' if cache else 'repo'}-{role}"
        aliases = [pulumi.Alias(name=f"{prefix}-{legacy_key}")] if legacy_key else None
        binding = gcp.artifactregistry.RepositoryIamMember(
            f"{prefix}-{key}",
            project=target.project,
            location=target.location,
            repository=target.repository_id,
            role=ROLES[role],
            member=member,
            opts=pulumi.ResourceOptions(parent=self, aliases=aliases),
        )
        if not proxy and not cache:
            self.grants[role].append(binding)
        return binding

    def _path_of(self, repo: gcp.artifactregistry.Repository) -> pulumi.Output[str]:
        # Built from the resource's outputs, so anything using the path waits for the repository.
        return pulumi.Output.all(repo.location, repo.project, repo.repository_id).apply(
            lambda parts: f"{parts[0]}-docker.pkg.dev/{parts[1]}/{parts[2]}")

    def _kms_grant(self, key_name: str, waits: list[pulumi.Resource],
                   kms_api: list[pulumi.Resource]) -> gcp.kms.CryptoKeyIAMMember:
        """The Artifact Registry service agent must be able to use the key before the repository
        is created with it; ServiceIdentity makes sure the agent exists and names it."""
        agent = gcp.projects.ServiceIdentity(
            "artifactregistry-agent", project=self._project, service=ARTIFACT_REGISTRY,
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits))
        return gcp.kms.CryptoKeyIAMMember(
            "artifactregistry-agent-kms",
            crypto_key_id=key_name,
            role=KMS_ROLE,
            member=agent.member,
            opts=pulumi.ResourceOptions(parent=self, depends_on=kms_api),
        )


def audit_config_warning(project: str) -> str:
    return (f"artifactRegistry.auditLogs: the audit config of {ARTIFACT_REGISTRY} in project {project} is "
            "authoritative: it replaces any Data Access audit config already set for Artifact Registry "
            "(exempted members included) and removes it on destroy.")

