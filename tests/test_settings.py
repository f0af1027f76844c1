"""Bad config is refused before any resource is registered, with the key, the value and what is
expected; good config yields the documented defaults."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components.gcp_locations import ARTIFACT_REGISTRY_MULTI_REGIONS, REGIONS
from components.settings import PromotionSettings
from stackconfig.reader import SettingsError
from tests.harness import registered_by_last_failure, run_stack

NS = "image-sharing"
TLS = {f"{NS}:registryTlsCert": "cert", f"{NS}:registryTlsKey": "key"}


def refused(stack: str = "dev", overrides: dict[str, Any] | None = None,
            secrets: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> str:
    with pytest.raises(SettingsError) as caught:
        run_stack(stack, overrides=overrides, secrets=secrets, drop=drop)
    assert registered_by_last_failure() == [], "a bad config must fail before any resource"
    return str(caught.value)


def ar(**values: Any) -> dict[str, Any]:
    return {f"{NS}:artifactRegistry": values}


def vm(**values: Any) -> dict[str, Any]:
    return {f"{NS}:registryVm": values}


# (case id, overrides, secrets, dropped keys, text the message must contain)
BAD_INPUTS: list[tuple[str, dict[str, Any], dict[str, str], tuple[str, ...], str]] = [
    ("missing project", {}, {}, ("gcp:project",), "gcp:project = (not set): expected your GCP project id"),
    ("project uppercase", {"gcp:project": "My_Project"}, {}, (), "gcp:project = 'My_Project': expected a project id"),
    ("project too short", {"gcp:project": "abc"}, {}, (), "gcp:project = 'abc': expected a project id"),
    ("unknown region", {"gcp:region": "asia-northeast9"}, {}, (),
     "gcp:region = 'asia-northeast9': expected a GCP region; did you mean 'asia-northeast"),
    ("zone not in region", {"gcp:zone": "asia-northeast3-d"}, {}, (),
     "gcp:zone = 'asia-northeast3-d': expected a zone of asia-northeast3: asia-northeast3-a, asia-northeast3-b"),
    ("zone of another region", {"gcp:zone": "us-central1-f"}, {}, (), "gcp:zone = 'us-central1-f'"),
    ("repository id uppercase", ar(repositoryId="Images"), {}, (),
     f"{NS}:artifactRegistry.repositoryId = 'Images': expected a lowercase letter, then"),
    ("repository id digit first", ar(repositoryId="1images"), {}, (),
     f"{NS}:artifactRegistry.repositoryId = '1images'"),
    ("repository id too long", ar(repositoryId="a" * 64), {}, (), "lowercase letters, digits or hyphens, 63 at most"),
    ("member without prefix", ar(readers=["alice@example.com"]), {}, (),
     f"{NS}:artifactRegistry.readers = [\"alice@example.com\"]: expected item 0 ('alice@example.com'): "
     "an IAM member 'user:EMAIL'"),
    ("allUsers", ar(readers=["allUsers"]), {}, (), "public access (allUsers / allAuthenticatedUsers) is never granted"),
    ("allAuthenticatedUsers", ar(writers=["user:a@example.com", "allAuthenticatedUsers"]), {}, (),
     "item 1 ('allAuthenticatedUsers'): a named principal"),
    ("member not an email", ar(writers=["user:alice"]), {}, (), "item 0 ('user:alice'): an IAM member"),
    ("malformed cidr", vm(directAccessCidrs=["10.0.0.0/33"]), TLS, (),
     f"{NS}:registryVm.directAccessCidrs = [\"10.0.0.0/33\"]: expected item 0 ('10.0.0.0/33'): a CIDR range"),
    ("cidr host bits", vm(directAccessCidrs=["203.0.113.7/24"]), TLS, (), "(host bits zero)"),
    ("world ssh", vm(sshSourceRanges=["0.0.0.0/0"]), {}, (),
     f"{NS}:registryVm.sshSourceRanges = [\"0.0.0.0/0\"]: expected item 0 ('0.0.0.0/0'): a narrow source range"),
    ("world ipv6 registry port", vm(directAccessCidrs=["::/0"]), TLS, (), "would open the port to the whole internet"),
    ("bad machine type", vm(machineType="e2-mikro"), {}, (),
     f"{NS}:registryVm.machineType = 'e2-mikro': expected a GCE machine type"),
    ("disk too small", vm(diskSizeGb=5), {}, (),
     f"{NS}:registryVm.diskSizeGb = 5: expected a number from 10 to 2048 GB"),
    ("disk too large", vm(diskSizeGb=5000), {}, (), "= 5000: expected a number from 10 to 2048 GB"),
    ("keep zero versions", ar(cleanup={"keepRecent": 0}), {}, (),
     f"{NS}:artifactRegistry.cleanup.keepRecent = 0: expected a number from 1 to 1000"),
    ("negative age", ar(cleanup={"deleteUntaggedAfterDays": -1}), {}, (),
     "cleanup.deleteUntaggedAfterDays = -1: expected a number from 1 to 3650 days"),
    ("zero instances", vm(instances=0), {}, (), f"{NS}:registryVm.instances = 0: expected a number from 1 to 10"),
    ("invalid branch regex", {f"{NS}:buildTrigger": {"githubRepository": "acme/site", "branch": "^(main$"}}, {}, (),
     f"{NS}:buildTrigger.branch = '^(main$': expected a valid regular expression"),
    ("typo in nested key", ar(repositryId="images"), {}, (),
     f"{NS}:artifactRegistry.repositryId = 'images': expected a known key ('repositryId' is not one); "
     "valid here: enabled, repositoryId"),
    ("typo suggestion", ar(repositryId="images"), {}, (), "did you mean 'repositoryId'?"),
    ("typo in top-level key", {f"{NS}:artifactRegistery": {"enabled": True}}, {}, (),
     f"{NS}:artifactRegistery = {{\"enabled\": true}}: expected a known key ('artifactRegistery' is not one)"),
    ("typo top-level suggestion", {f"{NS}:artifactRegistery": {}}, {}, (), "did you mean 'artifactRegistry'?"),
    ("wrong type", ar(cleanup={"keepRecent": "five"}), {}, (), "cleanup.keepRecent = 'five': expected a whole number"),
    ("bool for number", {f"{NS}:buildTrigger": {"generation": True}}, {}, (),
     "buildTrigger.generation = true: expected one of 1, 2"),
    ("unknown target", {f"{NS}:target": "aws"}, {}, (), f"{NS}:target = 'aws': expected one of \"gcp\", \"local\""),
    ("bad kms key", ar(kmsKeyName="my-key"), {}, (),
     "artifactRegistry.kmsKeyName = 'my-key': expected projects/P/locations/L/keyRings/R/cryptoKeys/K"),
    ("bad github repo", {f"{NS}:buildTrigger": {"githubRepository": "not a repo"}}, {}, (),
     "buildTrigger.githubRepository = 'not a repo': expected OWNER/REPO"),
    ("gen2 without token or id", {f"{NS}:buildTrigger": {"githubRepository": "acme/site", "generation": 2}}, {}, (),
     f"{NS}:buildTrigger.githubTokenSecretVersion = (not set): expected the Secret Manager version holding"),
    ("gen2 without installation", {f"{NS}:buildTrigger": {"githubRepository": "acme/site", "generation": 2}}, {}, (),
     "buildTrigger.appInstallationId = (not set): expected the Cloud Build GitHub App installation id"),
    ("gcs without bucket", vm(storage="gcs"), {}, (),
     f"{NS}:registryVm.bucketName = (not set): expected a bucket name when storage is gcs"),
    ("scale-out on a disk", vm(instances=3), {}, (), "registryVm.instances = 3: expected 1 with storage=disk"),
    ("direct access without tls", vm(directAccessCidrs=["203.0.113.0/24"]), {}, (),
     "expected no direct access without TLS"),
    ("unpinned registry image", {f"{NS}:registry": {"image": "registry"}}, {}, (),
     f"{NS}:registry.image = 'registry': expected an image pinned to a version tag"),
    ("latest registry image", {f"{NS}:registry": {"image": "registry:latest"}}, {}, (), "never 'latest'"),
    ("old registry image", {f"{NS}:registry": {"image": "registry:2.8.2"}}, {}, (),
     "registry.image = 'registry:2.8.2': expected registry 2.8.3 or newer"),
    ("plain secret", {f"{NS}:registryTlsKey": "plaintext-key"}, {f"{NS}:registryTlsCert": "c"}, (),
     f"{NS}:registryTlsKey = (value hidden): expected a secret: `pulumi config set --secret registryTlsKey"),
    ("github token as a stack secret", {}, {f"{NS}:githubToken": "ghp_secret"}, (),
     f"{NS}:githubToken = (value hidden): expected no stack secret for the GitHub token"),
    ("docker hub token as a stack secret", {}, {f"{NS}:dockerHubToken": "dckr_secret"}, (),
     f"{NS}:dockerHubToken = (value hidden): expected no stack secret for the Docker Hub token"),
    ("bad docker hub user", {f"{NS}:sampleImage": {"dockerHubUser": "Al"}}, {}, (),
     "sampleImage.dockerHubUser = 'Al': expected a Docker Hub user name"),
    ("bad image name", {f"{NS}:sampleImage": {"name": "Hello Nginx"}}, {}, (),
     "sampleImage.name = 'Hello Nginx': expected a lowercase Docker image name"),
    ("local stack bad port", {f"{NS}:registry": {"port": 80}}, {}, (),
     f"{NS}:registry.port = 80: expected a number from 1024 to 65535"),
]


@pytest.mark.parametrize(("overrides", "secrets", "drop", "message"),
                         [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_before_any_resource(overrides: dict[str, Any], secrets: dict[str, str],
                                                  drop: tuple[str, ...], message: str) -> None:
    assert message in refused("dev", overrides, secrets, drop)


def test_enough_distinct_bad_inputs_are_covered() -> None:
    assert len({case[0] for case in BAD_INPUTS}) >= 25


def test_every_problem_is_reported_at_once() -> None:
    message = refused("dev", {"gcp:project": "X", **ar(repositoryId="Bad", readers=["allUsers"]),
                              **vm(machineType="huge", diskSizeGb=1)})
    assert "has 5 problem(s)" in message
    for key in ("gcp:project", "repositoryId", "readers", "machineType", "diskSizeGb"):
        assert key in message


def test_plain_secret_value_is_never_echoed() -> None:
    message = refused("dev", {f"{NS}:dockerHubToken": "dckr_pat_supersecret", f"{NS}:registryTlsKey": "sekrit-key"})
    assert "dckr_pat_supersecret" not in message and "sekrit-key" not in message


@pytest.mark.parametrize("key, steps", [
    ("githubToken", ["gcloud secrets create cloudbuild-github-token --project PROJECT --data-file=-",
                     "buildTrigger.githubTokenSecretVersion", "pulumi config rm githubToken", "revoke it on GitHub"]),
    ("dockerHubToken", ["docker login docker.io --username USER", "pulumi config rm dockerHubToken",
                        "revoke the old token"]),
])
def test_a_token_kept_as_a_stack_secret_is_refused_with_the_way_out(key: str, steps: list[str]) -> None:
    """Whoever decrypts a stack could print its secrets, and the state keeps them: these tokens live
    elsewhere now, and the refusal says where and how to move them."""
    message = refused("dev", {}, {f"{NS}:{key}": "tok_sekrit_value"})
    assert "tok_sekrit_value" not in message
    assert all(step in message for step in steps), message


def test_local_stack_needs_no_gcp_project() -> None:
    run = run_stack("local", drop=("gcp:project",))
    assert run.outputs["target"] == "local"
    assert not [r for r in run.resources if r.type.startswith("gcp:")]


def test_local_stack_still_checks_registry_settings() -> None:
    assert "registry.image = 'registry:2.7'" in refused("local", {f"{NS}:registry": {"image": "registry:2.7"}})


def test_default_zone_follows_the_region() -> None:
    run = run_stack("dev", overrides={"gcp:region": "us-east1"})
    provider = run.one("pulumi:providers:gcp")
    assert (provider.inputs["region"], provider.inputs["zone"]) == ("us-east1", "us-east1-b")


def source_repository_problem(value: str) -> str | None:
    """What promotion.sourceRepository's own check says about VALUE (None: accepted)."""
    [field] = [f for f in dataclasses.fields(PromotionSettings) if f.name == "source_repository"]
    problem: str | None = field.metadata["check"](value)
    return problem


@pytest.mark.parametrize("location", [*REGIONS, *ARTIFACT_REGISTRY_MULTI_REGIONS])
def test_every_artifact_registry_location_is_a_valid_source_repository(location: str) -> None:
    # europe-west10 and europe-west12 end in two digits; us, europe, asia are multi-regions.
    assert source_repository_problem(f"{location}-docker.pkg.dev/image-sharing-dev/images") is None


@pytest.mark.parametrize("value", ["mars-west1-docker.pkg.dev/image-sharing-dev/images",
                                   "europe-west1-b-docker.pkg.dev/image-sharing-dev/images",
                                   "us-docker.pkg.dev/image-sharing-dev/images/hello-nginx",
                                   "docker.pkg.dev/image-sharing-dev/images"])
def test_a_source_repository_outside_artifact_registry_locations_is_refused(value: str) -> None:
    assert source_repository_problem(value) == "LOCATION-docker.pkg.dev/PROJECT/REPOSITORY"


SAMPLE_ON = {f"{NS}:sampleImage": {"enabled": True}}
PIPELINE_ONLY = ("that Artifact Registry repository is written only by the image pipeline (built by dev's "
                 "trigger, verified, approved, copied by digest)")


def test_production_refuses_pushing_the_sample_image_into_its_repository() -> None:
    message = refused("prod", SAMPLE_ON)
    assert f"sampleImage.enabled = true: expected false when production: true: {PIPELINE_ONLY}" in message


def test_a_promoting_stack_refuses_the_sample_image_too() -> None:
    source = "asia-northeast3-docker.pkg.dev/image-sharing-dev/images"
    message = refused("dev", {f"{NS}:buildTrigger": {"githubRepository": "acme/site", "requireApproval": True},
                              f"{NS}:promotion": {"sourceRepository": source}})
    assert f"expected false when promotion.sourceRepository is set ({source})" in message


def test_production_refuses_turning_off_its_subnets_flow_logs() -> None:
    """The policy pack's prod-subnet-flow-logs rule would refuse the subnet only at preview, after the
    settings passed: `make check-config` says it first, naming the key."""
    message = refused("prod", vm(flowLogs={"enabled": False}))
    assert ("registryVm.flowLogs.enabled = false: expected true or unset with production: true: a production "
            "subnet records its flows (CIS GCP 3.8; the policy rule prod-subnet-flow-logs refuses it otherwise)"
            ) in message
    message = refused("dev", {f"{NS}:production": True, f"{NS}:sampleImage": {"enabled": False},
                              **vm(flowLogs={"enabled": False})})
    assert "registryVm.flowLogs.enabled = false: expected true or unset with production: true" in message


def token_version(version: str) -> dict[str, Any]:
    return {f"{NS}:buildTrigger": {"githubRepository": "acme/site", "generation": 2, "appInstallationId": 1234,
                                   "githubTokenSecretVersion": version}}


def test_the_github_token_version_names_the_stacks_own_project_by_id() -> None:
    """The stack grants Cloud Build's agent access to that secret in its own project only. The project
    number is known only once the project is read, after the settings: a number cannot be checked, and
    another project's number would pass, so it is refused."""
    key = "buildTrigger.githubTokenSecretVersion"
    other_number = refused("prod", token_version("projects/987654321098/secrets/cloudbuild-github-token/versions/1"))
    assert (f"{key} = 'projects/987654321098/secrets/cloudbuild-github-token/versions/1': expected the project "
            "id image-sharing-prod in the path, not a project number") in other_number
    other_id = refused("prod", token_version("projects/image-sharing-dev/secrets/cloudbuild-github-token/versions/1"))
    assert "expected a secret in the stack's project image-sharing-prod" in other_id
    latest_version = "projects/image-sharing-prod/secrets/cloudbuild-github-token/versions/latest"
    latest = refused("prod", token_version(latest_version))
    assert f"{key} = '{latest_version}': expected a version number, not latest" in latest
    run_stack("prod", overrides=token_version("projects/image-sharing-prod/secrets/cloudbuild-github-token/versions/2"))


def test_the_build_cache_repository_name_must_fit() -> None:
    long_id = "a" * 53  # fits alone (63), not with "-buildcache"
    trigger = {f"{NS}:buildTrigger": {"githubRepository": "acme/site", "registryCache": True}}
    message = refused("dev", {**trigger, **ar(repositoryId=long_id)})
    assert (f"artifactRegistry.repositoryId = '{long_id}': expected at most 52 characters with "
            "buildTrigger.registryCache: the build cache repository is named aaaaaaaa...-buildcache (64 characters, "
            "63 at most)") in message
    run_stack("dev", overrides={**trigger, **ar(repositoryId="a" * 52)})


def test_registry_cache_is_refused_with_promotion() -> None:
    message = refused("prod", {f"{NS}:buildTrigger": {"githubRepository": "acme/site", "registryCache": True},
                               f"{NS}:promotion": {
                                   "sourceRepository": "asia-northeast3-docker.pkg.dev/image-sharing-dev/images"},
                               f"{NS}:sampleImage": {"enabled": False}})
    assert "buildTrigger.registryCache = true: expected false with promotion.sourceRepository" in message
