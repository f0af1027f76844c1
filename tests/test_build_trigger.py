"""The image pipeline under mocks: a dedicated builder account with exactly its grants, the trigger's
source, filters, account, logging, steps and tags, both GitHub connection styles, and dependencies
that make the first build's permissions exist before the trigger."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from components.build_spec import DOCKER_IMAGE, GCLOUD_IMAGE
from components.outputs import built_images_command
from stackconfig.reader import SettingsError
from tests.gcloud_cli import refusal
from tests.gcloud_sdk import docker_images_list
from tests.harness import StackRun, registered_by_last_failure, run_stack

NS = "image-sharing"
TRIGGER = "gcp:cloudbuild/trigger:Trigger"
BUILDER = "serviceAccount:image-builder@image-sharing-{stack}.iam.gserviceaccount.com"
TOKEN_VERSION = "projects/image-sharing-prod/secrets/cloudbuild-github-token/versions/3"
GEN2 = {"githubRepository": "acme/site", "generation": 2, "appInstallationId": 1234,
        "githubTokenSecretVersion": TOKEN_VERSION}


def with_trigger(stack: str = "dev", secrets: dict[str, str] | None = None, **values: Any) -> StackRun:
    return run_stack(stack, overrides={f"{NS}:buildTrigger": {"githubRepository": "acme/site", **values}},
                     secrets=secrets)


@pytest.fixture(scope="module")
def gen1() -> StackRun:
    return with_trigger("dev")


@pytest.fixture(scope="module")
def gen1_prod() -> StackRun:
    return with_trigger("prod")


@pytest.fixture(scope="module")
def gen2() -> StackRun:
    return with_trigger("prod", **GEN2)


def test_no_trigger_without_a_repository(dev: StackRun, local: StackRun) -> None:
    for run in (dev, local):
        assert run.of_type(TRIGGER) == [] and "imagePipeline" not in run.outputs
        assert not [r for r in run.resources if r.name == "image-builder"]
    assert "cloudbuild.googleapis.com" not in dev.outputs["enabledApis"]


def test_builder_account_and_its_exact_grants(gen1: StackRun) -> None:
    member = BUILDER.format(stack="dev")
    assert gen1.one("gcp:serviceaccount/account:Account", "image-builder").inputs["accountId"] == "image-builder"
    project_roles = [(m.inputs["role"]) for m in gen1.of_type("gcp:projects/iAMMember:IAMMember")
                     if m.inputs["member"] == member]
    assert project_roles == ["roles/logging.logWriter"]
    repo_roles = [(m.inputs["repository"], m.inputs["role"])
                  for m in gen1.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
                  if m.inputs["member"] == member]
    # No build cache unless buildTrigger.registryCache: nothing else to write.
    assert sorted(repo_roles) == [("images", "roles/artifactregistry.writer")]
    every_role = {str(r.inputs.get("role")) for r in gen1.resources if r.inputs.get("member") == member}
    assert not every_role & {"roles/owner", "roles/editor", "roles/artifactregistry.admin",
                             "roles/cloudbuild.builds.builder"}


CACHE_REPO = "gcp:artifactregistry/repository:Repository"
REPO_GRANT = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"


def test_the_build_cache_is_a_repository_only_the_builder_writes() -> None:
    """BuildKit trusts --cache-from layers: they come only from a repository whose one writer this
    stack grants is the builder, whatever readers and writers the stack's own repository has."""
    run = run_stack("dev", overrides={
        f"{NS}:buildTrigger": {"githubRepository": "acme/site", "registryCache": True},
        f"{NS}:artifactRegistry": {"readers": ["group:readers@example.com"], "writers": ["user:dev@example.com"]}})
    cache = run.one(CACHE_REPO, "build-cache")
    assert cache.inputs["repositoryId"] == "images-buildcache" and cache.inputs["mode"] == "STANDARD_REPOSITORY"
    assert cache.inputs["dockerConfig"] == {"immutableTags": True} and cache.protect is False
    assert [p["id"] for p in cache.inputs["cleanupPolicies"]] == ["keep-recent", "delete-untagged", "delete-old"]
    on_cache = [(g.inputs["role"], g.inputs["member"]) for g in run.of_type(REPO_GRANT)
                if g.inputs["repository"] == "images-buildcache"]
    assert on_cache == [("roles/artifactregistry.writer", BUILDER.format(stack="dev"))]
    on_images = {g.inputs["member"] for g in run.of_type(REPO_GRANT) if g.inputs["repository"] == "images"}
    assert {"group:readers@example.com", "user:dev@example.com"} <= on_images
    build = run.one(TRIGGER).inputs["build"]
    # The lookup lists the cache repository only; the build tags the cache image, Cloud Build pushes it.
    assert 'images list "$$CACHE_IMAGE"' in build["steps"][0]["args"][1]
    assert build["steps"][0]["envs"] == [
        "CACHE_IMAGE=asia-northeast3-docker.pkg.dev/image-sharing-dev/images-buildcache/hello-nginx"]
    cache_image = "asia-northeast3-docker.pkg.dev/image-sharing-dev/images-buildcache/hello-nginx"
    assert f"{cache_image}:${{SHORT_SHA}}-${{BUILD_ID}}" in build["images"]
    # The first build must not fail for want of the grant.
    assert f"{REPO_GRANT}:cache-writer-image-builder" in run.deps_of(run.one(TRIGGER))


def test_the_build_cache_is_protected_in_production() -> None:
    cache = with_trigger("prod", registryCache=True).one(CACHE_REPO, "build-cache")
    assert cache.protect is True
    # Turning the cache off (or promoting) deletes it: the docs' unprotect command names its real URN.
    docs = (Path(__file__).parent.parent / "docs" / "image-pipeline.md").read_text()
    assert f"pulumi state unprotect '{cache.urn}' --stack prod" in docs


def test_no_build_cache_where_nothing_is_built(dev: StackRun, promoting: StackRun) -> None:
    for run in (dev, promoting):
        assert not [r for r in run.of_type(CACHE_REPO) if r.name == "build-cache"]


def test_no_registry_cache_by_default(gen1: StackRun, gen1_prod: StackRun) -> None:
    """A cache anyone with push rights could poison would feed layers into images Cloud Build signs
    and prod promotes: off unless buildTrigger.registryCache is set."""
    for run in (gen1, gen1_prod):
        assert not [r for r in run.of_type(CACHE_REPO) if r.name == "build-cache"]
        build = run.one(TRIGGER).inputs["build"]
        assert [s["id"] for s in build["steps"]][:1] == ["build"] and "find-cache" not in str(build["steps"])
        script = build["steps"][0]["args"][1]
        assert "--cache-from" not in script and "CACHE_IMAGE" not in script and "wait_fors" not in build["steps"][0]
        assert not [i for i in build["images"] if "buildcache" in i]


def test_first_generation_trigger(gen1: StackRun) -> None:
    trigger = gen1.one(TRIGGER).inputs
    assert trigger["location"] == "global"
    assert trigger["github"] == {"owner": "acme", "name": "site", "push": {"branch": "^main$"}}
    assert "repositoryEventConfig" not in trigger
    assert trigger["includedFiles"] == ["app/**"]
    assert trigger["serviceAccount"] == ("projects/image-sharing-dev/serviceAccounts/"
                                         "image-builder@image-sharing-dev.iam.gserviceaccount.com")
    assert trigger["build"]["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert trigger["approvalConfig"] == {"approvalRequired": False}
    assert gen1.outputs["imagePipeline"]["manualSteps"][0].startswith("Connect github.com/acme/site to Cloud Build")


def test_steps_build_from_the_app_folder_with_pinned_builders(gen1: StackRun) -> None:
    build = gen1.one(TRIGGER).inputs["build"]
    assert [(s["id"], s["name"]) for s in build["steps"]] == [("build", DOCKER_IMAGE)]
    script = build["steps"][0]["args"][1]
    assert "--platform linux/amd64" in script and script.rstrip().endswith(" app")
    cached = with_trigger("dev", registryCache=True).one(TRIGGER).inputs["build"]
    assert [(s["id"], s["name"]) for s in cached["steps"]] == [("find-cache", GCLOUD_IMAGE), ("build", DOCKER_IMAGE)]
    assert "--cache-from" in cached["steps"][1]["args"][1]
    # Literals, not substitutions: a run's --substitutions cannot redirect them.
    assert "substitutions" not in build
    assert build["steps"][0]["envs"] == [
        "DOCKER_BUILDKIT=1", "IMAGE=asia-northeast3-docker.pkg.dev/image-sharing-dev/images/hello-nginx",
        "SOURCE=https://github.com/acme/site"]


def test_moving_tag_only_with_mutable_tags(gen1: StackRun, gen1_prod: StackRun) -> None:
    tag = "${SHORT_SHA}-${BUILD_ID}"

    def image(stack: str, repository: str = "images") -> str:
        return f"asia-northeast3-docker.pkg.dev/image-sharing-{stack}/{repository}/hello-nginx"
    assert gen1.one(TRIGGER).inputs["build"]["images"] == [f"{image('dev')}:{tag}", f"{image('dev')}:latest"]
    prod_build = gen1_prod.one(TRIGGER).inputs["build"]
    assert prod_build["images"] == [f"{image('prod')}:{tag}"]
    assert ":latest" not in prod_build["steps"][0]["args"][1]
    cached = with_trigger("prod", registryCache=True).one(TRIGGER).inputs["build"]
    assert cached["images"] == [f"{image('prod')}:{tag}", f"{image('prod', 'images-buildcache')}:{tag}"]


def test_approval_in_production_by_default_and_as_config(gen1_prod: StackRun) -> None:
    assert gen1_prod.one(TRIGGER).inputs["approvalConfig"] == {"approvalRequired": True}
    off = with_trigger("prod", requireApproval=False)
    assert off.one(TRIGGER).inputs["approvalConfig"] == {"approvalRequired": False}


APPROVER_GRANT = "gcp:projects/iAMMember:IAMMember"


def test_approvers_get_the_approver_role_on_the_project() -> None:
    run = with_trigger("prod", approvers=["user:ana@example.com", "group:release@example.com"])
    grants = sorted((m.inputs["member"], m.inputs["project"]) for m in run.of_type(APPROVER_GRANT)
                    if m.inputs["role"] == "roles/cloudbuild.builds.approver")
    assert grants == [("group:release@example.com", "image-sharing-prod"),
                      ("user:ana@example.com", "image-sharing-prod")]
    approver = next(m for m in run.of_type(APPROVER_GRANT) if m.inputs["member"] == "user:ana@example.com")
    assert "gcp:projects/service:Service:cloudresourcemanager" in run.deps_of(approver)
    assert not [step for step in run.outputs["imagePipeline"]["manualSteps"] if "approv" in step]


WHO_CAN_APPROVE = ("Builds wait for approval, and this stack grants nobody roles/cloudbuild.builds.approver: "
                   "until you list people in buildTrigger.approvers, only principals that already hold "
                   "cloudbuild.builds.approve in the project can approve: Owners and Editors (basic roles), "
                   "and anyone granted Cloud Build Approver outside this stack.")


def test_without_approvers_the_outputs_say_who_can_approve(gen1_prod: StackRun, gen1: StackRun) -> None:
    assert not [m for m in gen1_prod.of_type(APPROVER_GRANT) if m.inputs["role"] == "roles/cloudbuild.builds.approver"]
    steps = gen1_prod.outputs["imagePipeline"]["manualSteps"]
    # cloudbuild.builds.approve is in Owner, Editor and Cloud Build Approver only.
    assert WHO_CAN_APPROVE in steps, steps
    assert not [step for step in gen1.outputs["imagePipeline"]["manualSteps"] if "approv" in step]


def test_build_region_for_second_generation() -> None:
    run = with_trigger("prod", region="europe-west1", **GEN2)
    assert run.one(TRIGGER).inputs["location"] == "europe-west1"
    assert run.one("gcp:cloudbuildv2/connection:Connection").inputs["location"] == "europe-west1"
    assert run.one("gcp:cloudbuildv2/repository:Repository").inputs["location"] == "europe-west1"
    assert run.outputs["imagePipeline"]["buildHistory"].startswith(
        "https://console.cloud.google.com/cloud-build/builds;region=europe-west1?")
    # The images still go to the repository in gcp:region.
    assert run.one("gcp:artifactregistry/repository:Repository", "repository").inputs["location"] == "asia-northeast3"


def test_build_region_defaults_to_the_stack_region(gen2: StackRun) -> None:
    assert gen2.one("gcp:cloudbuildv2/connection:Connection").inputs["location"] == "asia-northeast3"


def test_trigger_waits_for_api_repository_and_grants(gen1: StackRun) -> None:
    assert {"gcp:projects/service:Service:cloudbuild",
            "gcp:artifactregistry/repository:Repository:repository",
            "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember:repo-writer-image-builder",
            "gcp:projects/iAMMember:IAMMember:image-builder-logs"} <= gen1.deps_of(gen1.one(TRIGGER))


def test_second_generation_wiring(gen2: StackRun) -> None:
    trigger = gen2.one(TRIGGER).inputs
    assert trigger["location"] == "asia-northeast3" and "github" not in trigger
    assert trigger["repositoryEventConfig"] == {"repository": "github-repository-id", "push": {"branch": "^main$"}}
    connection = gen2.one("gcp:cloudbuildv2/connection:Connection").inputs
    assert connection["githubConfig"] == {
        "appInstallationId": 1234, "authorizerCredential": {"oauthTokenSecretVersion": TOKEN_VERSION}}
    repository = gen2.one("gcp:cloudbuildv2/repository:Repository").inputs
    assert (repository["remoteUri"], repository["parentConnection"]) == ("https://github.com/acme/site.git", "github")
    assert not [step for step in gen2.outputs["imagePipeline"]["manualSteps"] if step.startswith("Connect")]


def test_the_token_is_read_by_the_cloud_build_agent_only_and_held_by_no_stack(gen2: StackRun) -> None:
    """The stack names the version a person created; it holds no Secret, no version, no token value, and
    grants read access on that one secret to Cloud Build's service agent alone (additive binding)."""
    assert [r.name for r in gen2.resources if r.type in ("gcp:secretmanager/secret:Secret",
                                                         "gcp:secretmanager/secretVersion:SecretVersion")
            and "github" in r.name] == []
    accessors = [m for m in gen2.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
                 if m.inputs["secretId"] == "cloudbuild-github-token"]
    assert [m.name for m in gen2.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
            if "github" in m.name] == ["github-token-accessor"]
    assert [(a.inputs["project"], a.inputs["secretId"], a.inputs["role"], a.inputs["member"]) for a in accessors] == [
        ("image-sharing-prod", "cloudbuild-github-token", "roles/secretmanager.secretAccessor",
         "serviceAccount:service-123456789012@gcp-sa-cloudbuild.iam.gserviceaccount.com")]
    connection = gen2.one("gcp:cloudbuildv2/connection:Connection")
    assert "gcp:secretmanager/secretIamMember:SecretIamMember:github-token-accessor" in gen2.deps_of(connection)
    assert "gcp:projects/service:Service:secretmanager" in gen2.deps_of(accessors[0])
    assert "secretmanager.googleapis.com" in gen2.outputs["enabledApis"]


def test_outputs(gen1: StackRun) -> None:
    out = gen1.outputs["imagePipeline"]
    assert out["triggerId"] == "0c7e5f2a-trigger"
    assert out["buildHistory"] == ("https://console.cloud.google.com/cloud-build/builds;region=global"
                                   "?project=image-sharing-dev&query=trigger_id%3D%220c7e5f2a-trigger%22")


@pytest.mark.parametrize(("values", "secrets", "message"), [
    ({"githubRepository": "acme"}, {}, "buildTrigger.githubRepository = 'acme': expected OWNER/REPO"),
    ({"githubRepository": "acme/site", "branch": "^main("}, {}, "buildTrigger.branch = '^main(': expected a valid"),
    ({"githubRepository": "acme/site", "branch": "^(?!wip).*$"}, {},
     "expected a branch regex Cloud Build's RE2 accepts"),
    ({k: v for k, v in GEN2.items() if k != "githubTokenSecretVersion"}, {},
     "buildTrigger.githubTokenSecretVersion = (not set): expected the Secret Manager version"),
    (GEN2, {}, "expected a secret in the stack's project image-sharing-dev"),
    ({**GEN2, "githubTokenSecretVersion": "projects/image-sharing-prod/secrets/t"}, {},
     "expected projects/PROJECT/secrets/NAME/versions/N"),
    ({"githubRepository": "acme/site", "githubTokenSecretVersion": TOKEN_VERSION}, {},
     "expected unset with generation 1"),
    ({**GEN2, "region": "mars-north1"}, {}, "buildTrigger.region = 'mars-north1': expected a GCP region"),
    ({"githubRepository": "acme/site", "region": "europe-west1"}, {},
     "buildTrigger.region = 'europe-west1': expected no region with generation 1"),
    ({"githubRepository": "acme/site", "approvers": ["allUsers"]}, {},
     "buildTrigger.approvers = [\"allUsers\"]: expected item 0 ('allUsers'): a named principal"),
    ({"githubRepository": "acme/site", "approvers": ["ana@example.com"]}, {},
     "expected item 0 ('ana@example.com'): an IAM member"),
    ({"githubRepository": "acme/site", "approvers": ["user:ana@example.com"], "requireApproval": False}, {},
     "expected no approvers while builds need no approval"),
    ({"githubRepository": "acme/site", "failOnSeverity": "SEVERE"}, {},
     'buildTrigger.failOnSeverity = \'SEVERE\': expected one of "OFF", "LOW"'),
])
def test_bad_pipeline_config_is_refused(values: dict[str, Any], secrets: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        run_stack("dev", overrides={f"{NS}:buildTrigger": values}, secrets=secrets)
    assert message in str(caught.value)
    assert registered_by_last_failure() == []


SCANS = "gcp:projects/iAMMember:IAMMember:image-builder-scans"
DEV_REPOSITORY = "asia-northeast3-docker.pkg.dev/image-sharing-dev/images"


@pytest.fixture(scope="module")
def promoting() -> StackRun:
    return run_stack("prod", overrides={f"{NS}:buildTrigger": {"githubRepository": "acme/site"},
                                        f"{NS}:promotion": {"sourceRepository": DEV_REPOSITORY}})


def test_production_gates_on_critical_findings_by_default(gen1_prod: StackRun) -> None:
    build = gen1_prod.one(TRIGGER).inputs["build"]
    assert build["options"]["requestedVerifyOption"] == "VERIFIED"
    gate = build["steps"][-1]
    assert gate["id"] == "vulnerability-gate" and "grep -Exq 'CRITICAL'" in gate["args"][1]
    scans = gen1_prod.one("gcp:projects/iAMMember:IAMMember", "image-builder-scans").inputs
    assert (scans["role"], scans["member"]) == ("roles/ondemandscanning.admin", BUILDER.format(stack="prod"))
    assert {"ondemandscanning.googleapis.com", "containeranalysis.googleapis.com"} <= set(
        gen1_prod.outputs["enabledApis"])
    assert {SCANS, "gcp:projects/service:Service:containeranalysis"} <= gen1_prod.deps_of(gen1_prod.one(TRIGGER))
    assert gen1_prod.outputs["imagePipeline"]["vulnerabilityGate"] == "CRITICAL"


def test_dev_has_provenance_but_no_gate_unless_asked(gen1: StackRun) -> None:
    build = gen1.one(TRIGGER).inputs["build"]
    assert build["options"]["requestedVerifyOption"] == "VERIFIED"
    assert [s["id"] for s in build["steps"]] == ["build"]
    assert not [r for r in gen1.resources if r.name == "image-builder-scans"]
    assert "ondemandscanning.googleapis.com" not in gen1.outputs["enabledApis"]
    assert "containeranalysis.googleapis.com" in gen1.outputs["enabledApis"]
    gated = with_trigger("dev", failOnSeverity="HIGH")
    assert "grep -Exq 'HIGH|CRITICAL'" in gated.one(TRIGGER).inputs["build"]["steps"][-1]["args"][1]
    off = with_trigger("prod", failOnSeverity="OFF")
    assert [s["id"] for s in off.one(TRIGGER).inputs["build"]["steps"]] == ["build"]


def test_provenance_commands(gen1: StackRun) -> None:
    provenance = gen1.outputs["imagePipeline"]["provenance"]
    image = "asia-northeast3-docker.pkg.dev/image-sharing-dev/images/hello-nginx"
    assert provenance["newestImage"].startswith(f"IMAGE=$(gcloud artifacts docker images list {image} ")
    assert provenance["show"] == ('gcloud artifacts docker images describe "$IMAGE" --show-provenance '
                                  "--format=json | tee provenance.json")
    assert provenance["verify"] == ('slsa-verifier verify-image "$IMAGE" --provenance-path provenance.json '
                                    "--source-uri github.com/acme/site "
                                    "--builder-id=https://cloudbuild.googleapis.com/GoogleHostedWorker")


def test_prod_promotes_one_chosen_verified_digest(promoting: StackRun) -> None:
    trigger = promoting.one(TRIGGER).inputs
    build = trigger["build"]
    assert [s["id"] for s in build["steps"]] == ["check-request", "show-provenance", "verify-provenance",
                                                 "vulnerability-gate", "copy"]
    assert "images" not in build and build["options"] == {"logging": "CLOUD_LOGGING_ONLY"}
    # No declared substitution a run could override: what to expect is written into the steps.
    assert "substitutions" not in build
    verify = build["steps"][2]["args"]
    assert verify[2:] == ["verify", "/workspace/provenance.json", f"{DEV_REPOSITORY}/hello-nginx", "${_SOURCE_DIGEST}",
                          "${_SOURCE_COMMIT}", "https://github.com/acme/site", "hello-nginx-image", "main"]
    assert "IMAGE=asia-northeast3-docker.pkg.dev/image-sharing-prod/images/hello-nginx" in build["steps"][-1]["envs"]
    assert trigger["approvalConfig"] == {"approvalRequired": True}
    # A manual trigger: no push starts it, a person runs it with the digest, and approves it.
    assert "github" not in trigger and "repositoryEventConfig" not in trigger and "includedFiles" not in trigger
    assert trigger["sourceToBuild"] == {"uri": "https://github.com/acme/site", "ref": "refs/heads/main",
                                        "repoType": "GITHUB"}
    assert trigger["description"].startswith(f"Copies one verified digest of {DEV_REPOSITORY}/hello-nginx")
    out = promoting.outputs["imagePipeline"]
    assert out["promotion"]["run"] == (
        "gcloud builds triggers run hello-nginx-image --region=global --project=image-sharing-prod "
        "--substitutions=_SOURCE_DIGEST=sha256:DIGEST,_SOURCE_COMMIT=COMMIT")
    assert out["promotion"]["sourceDigests"].startswith(
        f"gcloud artifacts docker images list {DEV_REPOSITORY}/hello-nginx --include-tags")
    assert out["promotion"]["promotedDigests"].startswith(
        "gcloud artifacts docker images list asia-northeast3-docker.pkg.dev/image-sharing-prod/images/hello-nginx")
    assert "builtImages" not in out
    # The provenance of a promoted digest is the source build's.
    assert out["provenance"]["newestImage"].startswith(f"IMAGE={DEV_REPOSITORY}/hello-nginx@$(gcloud ")
    assert any(BUILDER.format(stack="prod") in step and "artifactRegistry.readers" in step
               and "roles/containeranalysis.occurrences.viewer on project image-sharing-dev" in step
               for step in out["manualSteps"])


def test_second_generation_promotion_is_a_manual_trigger_on_the_connected_repository() -> None:
    run = run_stack("prod", overrides={
        f"{NS}:buildTrigger": {**GEN2, "branch": "^release$"},
        f"{NS}:promotion": {"sourceRepository": DEV_REPOSITORY}})
    trigger = run.one(TRIGGER).inputs
    assert "repositoryEventConfig" not in trigger
    assert trigger["sourceToBuild"]["ref"] == "refs/heads/release"
    assert trigger["sourceToBuild"]["repoType"] == "GITHUB" and "uri" not in trigger["sourceToBuild"]
    assert trigger["sourceToBuild"]["repository"]  # the cloudbuildv2 repository's id (known only at deploy)


def test_dev_publishes_the_digests_its_trigger_built(gen1: StackRun) -> None:
    out = gen1.outputs["imagePipeline"]
    trigger_id = "0c7e5f2a-trigger"  # the mocks' id for the trigger
    assert out["builtImages"] == (
        f"gcloud builds list --project=image-sharing-dev --region=global "
        f"--filter='buildTriggerId={trigger_id} AND status=SUCCESS AND substitutions.BRANCH_NAME=main' --limit=5 "
        "--format='table(substitutions.BRANCH_NAME,substitutions.COMMIT_SHA,results.images[0].digest,finishTime)'")
    # A branch regex other than ^name$ is matched as one.
    assert "BRANCH_NAME~'^(main|release)$'" in built_images_command("t", "global", "p", "^(main|release)$")


@pytest.mark.integration
def test_every_gcloud_command_of_the_pipeline_outputs_parses(gen1: StackRun, promoting: StackRun) -> None:
    commands = []
    for run in (gen1, promoting):
        out = run.outputs["imagePipeline"]
        inner = out["provenance"]["newestImage"].split("$(", 1)[1].rstrip(")")
        commands += [inner, out["provenance"]["show"].replace('"$IMAGE"', "IMAGE").split(" | ")[0]]
    promoted = promoting.outputs["imagePipeline"]["promotion"]
    commands += [promoted[k] for k in ("sourceDigests", "promotedDigests", "run")]
    commands += [gen1.outputs["imagePipeline"]["builtImages"],
                 built_images_command("t", "global", "p", "^(main|v.*)$")]
    for command in commands:
        assert refusal(command) is None, command


@pytest.mark.integration
def test_newest_image_is_the_newest_the_pipeline_pushed(gen1: StackRun, promoting: StackRun) -> None:
    """Through gcloud's own listing code: the newest version may be an untagged provenance attachment,
    or an image someone other than the pipeline pushed (`pulumi up`'s `src-` tag)."""
    versions = [{"digest": "sha256:" + "cd" * 32, "time": "2026-01-03T00:00:00Z", "tags": []},
                {"digest": "sha256:" + "ef" * 32, "time": "2026-01-02T00:00:00Z", "tags": ["src-0123456789ab"]},
                {"digest": "sha256:" + "ab" * 32, "time": "2026-01-01T00:00:00Z",
                 "tags": ["0123abc-5f1e2d3c-0000-4000-8000-000000000001"]}]
    for run, expected in ((gen1, "asia-northeast3-docker.pkg.dev/image-sharing-dev/images/hello-nginx@"),
                          (promoting, "")):
        inner = run.outputs["imagePipeline"]["provenance"]["newestImage"].split("$(", 1)[1].rstrip(")")
        assert docker_images_list(shlex.split(inner), versions)["printed"] == f"{expected}sha256:{'ab' * 32}"


@pytest.mark.parametrize(("trigger", "source", "message"), [
    (None, DEV_REPOSITORY, "promotion.sourceRepository = 'asia-northeast3-docker.pkg.dev/image-sharing-dev/images': "
                           "expected promotion together with buildTrigger.githubRepository"),
    ({"githubRepository": "acme/site"}, "asia-northeast3-docker.pkg.dev/image-sharing-prod/images",
     "expected another stack's repository (this is the stack's own)"),
    ({"githubRepository": "acme/site"}, f"{DEV_REPOSITORY}/hello-nginx",
     "expected LOCATION-docker.pkg.dev/PROJECT/REPOSITORY"),
    ({"githubRepository": "acme/site", "branch": "^(main|release)$"}, DEV_REPOSITORY,
     "buildTrigger.branch = '^(main|release)$': expected one branch, written ^name$, with promotion"),
    ({"githubRepository": "acme/site", "requireApproval": False}, DEV_REPOSITORY,
     "promotion.sourceRepository = 'asia-northeast3-docker.pkg.dev/image-sharing-dev/images': expected promotion "
     "only behind approval: set buildTrigger.requireApproval to true"),
])
def test_bad_promotion_config_is_refused(trigger: dict[str, Any] | None, source: str, message: str) -> None:
    overrides: dict[str, Any] = {f"{NS}:promotion": {"sourceRepository": source}}
    if trigger:
        overrides[f"{NS}:buildTrigger"] = trigger
    with pytest.raises(SettingsError) as caught:
        run_stack("prod", overrides=overrides)
    assert message in str(caught.value)
    assert registered_by_last_failure() == []
