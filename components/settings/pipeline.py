"""The sample image, the Cloud Build pipeline that rebuilds it, and promotion of dev's images to prod."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from components import checks, grammars
from components.gcp_locations import REGIONS
from components.settings.secrets import GITHUB_TOKEN_SECRET
from stackconfig.reader import Problem, setting

if TYPE_CHECKING:
    from components.settings.stack import Settings


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
        None, check=checks.matches(checks.SECRET_VERSION, "projects/PROJECT/secrets/NAME/versions/N"),
        doc="Secret Manager version holding the GitHub token of a generation-2 connection, created by hand in "
            "the stack's project (named by project id, a version number, not latest); the stack grants read "
            "access on it to Cloud Build's service agent only (deployers with roles/secretmanager.admin can "
            "read it too).")
    require_approval: bool | None = setting(None, doc="Builds wait for manual approval. Unset: on in production.")
    region: str | None = setting(
        None, check=checks.one_of(REGIONS, "a GCP region where Cloud Build runs"),
        doc="Region of a generation-2 connection, repository and trigger. Unset: gcp:region. "
            "Generation-1 (GitHub App) triggers are global.")
    approvers: tuple[str, ...] = setting(
        (), check=checks.all_of(checks.each(checks.iam_member), checks.distinct),
        doc="Members granted roles/cloudbuild.builds.approver (project-wide) to approve waiting builds.")
    registry_cache: bool = setting(
        False, doc="Build with --cache-from the newest image in a build cache repository (faster builds). Off: "
                   "BuildKit trusts cached layers and Cloud Build signs the result, so anyone who can push "
                   "there (the builder, project Owners/Editors, principals with actAs on the builder) could "
                   "slip layers into a signed image that prod promotes. See docs/image-pipeline.md.")
    fail_on_severity: Literal["OFF", "LOW", "MEDIUM", "HIGH", "CRITICAL"] | None = setting(
        None, doc="Scan each image before it is pushed (On-Demand Scanning) and fail the build on a finding "
                  "at or above this severity. Unset: CRITICAL in production, OFF elsewhere.")


@dataclass(frozen=True)
class PromotionSettings:
    source_repository: str | None = setting(
        None, check=checks.matches(checks.DOCKER_REPOSITORY_PATH, "LOCATION-docker.pkg.dev/PROJECT/REPOSITORY"),
        doc="Repository (dev's, LOCATION-docker.pkg.dev/PROJECT/REPOSITORY) whose image of each pushed commit "
            "the trigger copies here by digest instead of building. Unset: this stack builds.")


def _token_version_checks(s: Settings, ns: str, version: str, problems: list[Problem]) -> None:
    key, project, number = f"{ns}:buildTrigger.githubTokenSecretVersion", version.split("/")[1], version.split("/")[-1]
    if s.gcp and project.isdigit():
        # The stack's project number is known only once the project is read, after the settings: a number
        # cannot be checked against the stack's project, and another project's would pass.
        problems.append(Problem(key, version, f"the project id {s.gcp.project} in the path, not a project number "
                                "(a number cannot be checked against the stack's project before anything runs)"))
    elif s.gcp and project != s.gcp.project:
        problems.append(Problem(key, version, f"a secret in the stack's project {s.gcp.project} (the stack grants "
                                "Cloud Build's agent access to it there, and nowhere else)"))
    if number == "latest":
        problems.append(Problem(key, version, "a version number, not latest: the connection would read whatever "
                                "version is added next without a reviewed `pulumi up`, and whether Cloud Build "
                                "keeps `latest` or stores the number it resolved (a diff at every preview) is "
                                "unverified"))


def cross_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    trigger = s.build_trigger
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
        else:
            _token_version_checks(s, ns, version, problems)
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
    if source is not None and trigger.registry_cache:
        problems.append(Problem(f"{ns}:buildTrigger.registryCache", True,
                                "false with promotion.sourceRepository: a promoting stack builds nothing"))
    if s.pipeline_only_repository and s.sample_image.enabled:
        why = "production: true" if s.production else f"promotion.sourceRepository is set ({source})"
        problems.append(Problem(f"{ns}:sampleImage.enabled", True,
                                f"false when {why}: that Artifact Registry repository is written only by the "
                                "image pipeline (built by dev's trigger, verified, approved, copied by digest); "
                                "`pulumi up` would push an image built on the deployer's machine into it. "
                                "Set sampleImage.enabled to false, or artifactRegistry.enabled to false"))


def derived_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    """Every reference the program pushes the sample image to must be valid; each problem names the key."""
    ar, image = s.artifact_registry, s.sample_image
    # (key to blame, its value, a full reference the program pushes)
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
    for key, value, ref in references:
        expected = grammars.image_reference(ref)
        if expected:
            problems.append(Problem(f"{ns}:{key}", value,
                                    f"{expected} (as pushed or pulled: {checks.short(ref, 100)})"))

