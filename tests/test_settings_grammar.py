"""Values are checked with the grammar of the system that consumes them (RE2, Docker Distribution's
reference grammar, Cloud Storage's bucket rules, ISO 4217), names the program derives always fit their
targets, and no input crashes the program or prints a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.names import member_key
from stackconfig.reader import SettingsError
from tests.harness import registered_by_last_failure, run_stack

NS = "image-sharing"
TRIGGER = "gcp:cloudbuild/trigger:Trigger"
IAM_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"


def refused(overrides: dict[str, Any], secrets: dict[str, str] | None = None, stack: str = "dev") -> str:
    with pytest.raises(SettingsError) as caught:
        run_stack(stack, overrides=overrides, secrets=secrets)
    assert registered_by_last_failure() == [], "a bad config must fail before any resource"
    return str(caught.value)


def pipeline(**values: Any) -> dict[str, Any]:
    return {f"{NS}:buildTrigger": {"githubRepository": "acme/site", **values}}


# --- RE2, as Cloud Build matches branches -------------------------------------------------------

@pytest.mark.parametrize("branch", [r"^\p{N}+$", r"^release-\pL+$", r"^(?i:main)$", r"^feature/[[:alpha:]]+$"])
def test_branch_filters_re2_accepts_are_accepted(branch: str) -> None:
    trigger = run_stack("dev", overrides=pipeline(branch=branch)).one(TRIGGER)
    assert trigger.inputs["github"]["push"]["branch"] == branch


@pytest.mark.parametrize(("branch", "message"), [
    ("^(?=main)", "a branch regex Cloud Build's RE2 accepts: no lookaround, no backreferences "
                  "(RE2 says: invalid perl operator)"),
    (r"^(a)\1$", "(RE2 says: invalid escape sequence)"),
    ("^a{1001}$", "a valid regular expression for RE2, Cloud Build's engine (RE2 says: invalid repetition size)"),
    ("^" + "a" * 1000, "a regular expression of at most 1000 characters"),
    ("^(main$", "(RE2 says: missing ))"),
])
def test_branch_filters_re2_refuses_are_refused(branch: str, message: str) -> None:
    assert f"{NS}:buildTrigger.branch = " in refused(pipeline(branch=branch))
    assert message in refused(pipeline(branch=branch))


def test_patterns_that_backtrack_badly_elsewhere_are_fine_for_re2() -> None:
    branch = "^(a*)*(b+)+(a|aa)*$" + "|((a*)*)*" * 50  # linear in RE2; catastrophic in a backtracking engine
    assert run_stack("dev", overrides=pipeline(branch=branch)).one(TRIGGER).inputs["github"]["push"]["branch"] == branch


def test_re2_does_not_echo_a_refused_pattern_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    refused(pipeline(branch="^(unclosed-secret-looking-pattern$"))
    assert "unclosed-secret-looking-pattern" not in capfd.readouterr().err


@pytest.mark.parametrize("repository", ["acme-/site", "-acme/site", "ac--me/site", "a" * 40 + "/site", "acme/..",
                                        "acme/.", "acme/si te"])
def test_github_repositories_follow_github_names(repository: str) -> None:
    assert f"{NS}:buildTrigger.githubRepository = " in refused(pipeline(githubRepository=repository))


def test_github_names_at_their_limits_are_accepted() -> None:
    repository = f"{'a-b' * 13}/{'r.' * 50}"  # a 39-character owner, a 100-character repository
    trigger = run_stack("dev", overrides=pipeline(githubRepository=repository)).one(TRIGGER)
    assert (trigger.inputs["github"]["owner"], trigger.inputs["github"]["name"]) == tuple(repository.split("/"))


# --- Docker Distribution's reference grammar and limits -----------------------------------------

def registry(image: str) -> dict[str, Any]:
    return {f"{NS}:registry": {"image": image}}


@pytest.mark.parametrize(("image", "message"), [
    ("Registry:2.8.3", "must be lowercase"),
    ("registry:2.8.3 ", "a Docker image reference (invalid reference format)"),
    ("registry:" + "9" * 129, "a Docker image reference (invalid reference format)"),   # tag: 128 at most
    ("registry:-2.8.3", "a Docker image reference (invalid reference format)"),          # tag: [\w] first
    ("example.com/" + "a/" * 122 + "registry:2.8.3", "an image name of at most 255 characters, registry host included"),
    ("registry@sha256:abc", "a Docker image reference"),
    ("registry@sha256:" + "A" * 64, "a Docker image reference (invalid digest"),  # the library raised, uncaught
    ("registry", "an image pinned to a version tag"),
])
def test_registry_image_follows_the_reference_grammar(image: str, message: str) -> None:
    assert message in refused(registry(image), stack="local")


@pytest.mark.parametrize("image", ["registry:2.8.3", "docker.io/library/registry:3.0.0",
                                   "mirror.example.com:5000/team/registry:2.8.3_fix-1",
                                   "registry@sha256:" + "a" * 64])
def test_valid_registry_images_are_accepted(image: str) -> None:
    remote = run_stack("local", overrides=registry(image)).one("docker:index/remoteImage:RemoteImage")
    assert remote.inputs["name"] == image


def sample(**values: Any) -> dict[str, Any]:
    return {f"{NS}:sampleImage": values}


def test_sample_image_path_may_have_levels_and_separators() -> None:
    run = run_stack("dev", overrides={**pipeline(), **sample(name="team/site__web.v2-x")})
    image = run.one("docker:index/image:Image").inputs["imageName"]
    assert image.startswith("asia-northeast3-docker.pkg.dev/image-sharing-dev/images/team/site__web.v2-x:")
    # Cloud Build trigger names allow only alphanumerics and dashes: derived, not copied.
    assert run.one(TRIGGER).inputs["name"] == "team-site-web-v2-x-image"


@pytest.mark.parametrize(("name", "message"), [
    ("Hello", "a lowercase Docker image name"),
    ("hello/", "a lowercase Docker image name"),
    ("hello..nginx", "a lowercase Docker image name"),
    ("a" * 256, "an image name of at most 255 characters"),
])
def test_sample_image_name_follows_the_path_grammar(name: str, message: str) -> None:
    assert f"{NS}:sampleImage.name = " in refused(sample(name=name))
    assert message in refused(sample(name=name))


def test_image_name_is_checked_as_pushed_with_the_registry_host() -> None:
    # 220 characters alone are fine; with asia-northeast3-docker.pkg.dev/PROJECT/images/ in front they are not.
    name = "a" * 220
    message = refused(sample(name=name))
    assert f"{NS}:sampleImage.name = '{'a' * 150}" in message
    assert "an image name of at most 255 characters, registry host included (as pushed or pulled: " in message
    run_stack("local", overrides=sample(name=name))  # localhost:5000/ in front: it fits


def test_docker_hub_has_one_level() -> None:
    hub: dict[str, str] = {}  # no token: the push uses the deployer's own `docker login`
    message = refused(sample(dockerHubUser="alice1", dockerHubRepository="team/site"), hub)
    assert f"{NS}:sampleImage.dockerHubRepository = 'team/site': expected a Docker Hub repository name without '/'" \
        in message
    message = refused(sample(name="team/site", dockerHubUser="alice1"), hub)
    assert f"{NS}:sampleImage.name = 'team/site': expected a one-level name to push to Docker Hub" in message
    run = run_stack("dev", overrides=sample(name="team/site", dockerHubUser="alice1", dockerHubRepository="site"),
                    secrets=hub)
    pushed = {r.inputs["imageName"].rsplit(":", 1)[0] for r in run.of_type("docker:index/image:Image")}
    assert "docker.io/alice1/site" in pushed


# --- Artifact Registry ids, derived ones included ------------------------------------------------

def test_repository_id_ends_with_a_letter_or_digit() -> None:
    assert f"{NS}:artifactRegistry.repositoryId = 'images-'" in refused({f"{NS}:artifactRegistry":
                                                                          {"repositoryId": "images-"}})


def test_docker_hub_cache_id_must_fit_too() -> None:
    ar = {"repositoryId": "r" * 54, "dockerHubProxy": True}
    message = refused({f"{NS}:artifactRegistry": ar})
    assert f"{NS}:artifactRegistry.repositoryId = '{'r' * 54}': expected at most 53 characters with dockerHubProxy on" \
        in message
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {**ar, "repositoryId": "r" * 53}})
    ids = {r.inputs["repositoryId"] for r in run.of_type("gcp:artifactregistry/repository:Repository")}
    assert ids == {"r" * 53, "r" * 53 + "-dockerhub"}


def test_long_image_names_give_a_trigger_name_that_fits() -> None:
    names = set()
    for suffix in ("x", "y"):
        name = "team/" + "a" * 100 + suffix
        trigger = run_stack("dev", overrides={**pipeline(), **sample(name=name)}).one(TRIGGER)
        names.add(trigger.inputs["name"])
    assert all(len(n) <= 64 and n[0].isalnum() and n[-1].isalnum() for n in names)
    assert len(names) == 2, "distinct images keep distinct triggers"


# --- Cloud Storage bucket names -----------------------------------------------------------------

def bucket(name: str) -> dict[str, Any]:
    return {f"{NS}:registryVm": {"storage": "gcs", "bucketName": name}}


@pytest.mark.parametrize(("name", "message"), [
    ("goog-registry", "not starting with 'goog'"),
    ("team-google-images", "without 'google' or a close misspelling"),
    ("team-g00gle-images", "without 'google' or a close misspelling"),
    ("team-googel-images", "without 'google' or a close misspelling"),
    ("192.168.5.4", "not an IP address"),
    ("ab", "3-63 characters"),
    ("a" * 64, "3-63 characters (up to 222 with dots)"),
    ("a" * 64 + ".example.com", "dot-separated parts are 1-63 characters"),
    ("Registry", "lowercase letters, digits"),
    ("registry-", "starting and ending with a letter or digit"),
])
def test_bucket_names_follow_cloud_storage_rules(name: str, message: str) -> None:
    assert f"{NS}:registryVm.bucketName = " in refused(bucket(name))
    assert message in refused(bucket(name))


@pytest.mark.parametrize("name", ["team-registry-images", "registry_images", "a" * 63,
                                  "images." + "b" * 63 + "." + "c" * 63 + ".example.com"])
def test_valid_bucket_names_are_accepted(name: str) -> None:
    assert run_stack("dev", overrides=bucket(name)).one("gcp:storage/bucket:Bucket").inputs["name"] == name


# --- ISO 4217 ------------------------------------------------------------------------------------

def budget(currency: str) -> dict[str, Any]:
    return {f"{NS}:budget": {"billingAccount": "012345-6789AB-CDEF01", "currency": currency}}


@pytest.mark.parametrize("currency", ["ABC", "XAU", "XTS", "EURO"])
def test_currency_is_an_iso_4217_currency(currency: str) -> None:
    assert f"{NS}:budget.currency = '{currency}': expected an ISO 4217 code" in refused(budget(currency))


def test_real_currencies_are_accepted() -> None:
    run = run_stack("dev", overrides=budget("KRW"))
    assert run.one("gcp:billing/budget:Budget").inputs["amount"]["specifiedAmount"]["currencyCode"] == "KRW"


# --- IAM members: no two resources for one binding -----------------------------------------------

def members(*values: str) -> dict[str, Any]:
    return {f"{NS}:artifactRegistry": {"readers": list(values)}}


@pytest.mark.parametrize("values", [("user:ann@example.com", "user:ann@example.com"),
                                    ("user:ann@example.com", "group:team@example.com", "user:Ann@Example.com")])
def test_the_same_member_twice_is_refused(values: tuple[str, ...]) -> None:
    message = refused(members(*values))
    assert f"{NS}:artifactRegistry.readers = " in message
    assert f"expected each member once: item {len(values) - 1} " in message


def test_the_same_approver_twice_is_refused() -> None:
    approvers = ["user:ann@example.com", "user:ann@example.com"]
    message = refused(pipeline(approvers=approvers, requireApproval=True))
    assert f"{NS}:buildTrigger.approvers = " in message and "expected each member once: item 1 " in message


def test_members_that_read_alike_get_distinct_resources() -> None:
    run = run_stack("dev", overrides=members("user:a.b@example.com", "user:a-b@example.com", "user:a_b@example.com"))
    bindings = [r for r in run.of_type(IAM_MEMBER) if r.name.startswith("repo-reader-")]
    assert sorted(r.inputs["member"] for r in bindings) == ["user:a-b@example.com", "user:a.b@example.com",
                                                            "user:a_b@example.com"]
    assert len({r.urn for r in bindings}) == 3
    assert len({r.urn for r in run.resources}) == len(run.resources)


def test_the_builder_account_is_not_granted_twice() -> None:
    builder = "serviceAccount:image-builder@image-sharing-dev.iam.gserviceaccount.com"
    message = refused({**pipeline(), f"{NS}:artifactRegistry": {"writers": [builder]}})
    assert f"{NS}:artifactRegistry.writers = " in message
    assert "the image pipeline grants it writer access already" in message
    run_stack("dev", overrides={f"{NS}:artifactRegistry": {"writers": [builder]}})  # no pipeline: no clash


def test_a_binding_keeps_its_former_name_as_an_alias() -> None:
    # Renaming without an alias would delete the old binding after creating the new one: revoked.
    run = run_stack("dev", overrides=members("user:ann@example.com", "user:a.b@example.com", "user:a-b@example.com"))
    by_member = {r.inputs["member"]: r for r in run.of_type(IAM_MEMBER) if r.name.startswith("repo-reader-")}
    assert by_member["user:ann@example.com"].name == f"repo-reader-{member_key('user:ann@example.com')}"
    assert by_member["user:ann@example.com"].options["aliases"] == ["repo-reader-user-ann-example-com"]
    # Two members shared one former name: neither can claim it.
    assert by_member["user:a.b@example.com"].options["aliases"] == []


# --- gcp: keys --------------------------------------------------------------------------------

def test_unknown_gcp_keys_are_reported_with_a_suggestion() -> None:
    message = refused({"gcp:regoin": "us-east1"})
    assert ("gcp:regoin = 'us-east1': expected a gcp key this program reads ('regoin' is not one: the stack's "
            "gcp provider takes only project, region, zone); did you mean 'region'?") in message


def test_the_providers_take_nothing_from_gcp_keys_but_project_region_zone() -> None:
    # The premise of refusing other gcp: keys: explicit providers read no stack config of their own,
    # so whatever they get comes from settings, and settings read only these three.
    run = run_stack("dev", overrides={f"{NS}:budget": {"billingAccount": "012345-6789AB-CDEF01"}})
    providers = run.of_type("pulumi:providers:gcp")
    assert len(providers) == 2
    for provider in providers:
        assert set(provider.inputs) <= {"project", "region", "zone", "defaultLabels", "billingProject",
                                        "userProjectOverride", "version"}
        assert (provider.inputs["project"], provider.inputs["region"]) == ("image-sharing-dev", "asia-northeast3")


def test_unknown_secret_gcp_keys_are_hidden() -> None:
    # A key-shaped fake, assembled so no scanner takes the test file for a leaked credential.
    fake_key = "-----BEGIN " + "PRIVATE KEY-----abc"
    message = refused({}, {"gcp:credentials": json.dumps({"private" + "_key": fake_key})})
    assert "gcp:credentials = (value hidden)" in message
    assert "PRIVATE KEY" not in message


# --- secrets --------------------------------------------------------------------------------------

def test_misspelled_secret_key_gets_a_suggestion_and_its_value_stays_hidden() -> None:
    message = refused({}, {f"{NS}:registryTlsKy": "supersecretvalue"})
    assert f"{NS}:registryTlsKy = (value hidden): expected a known key" in message
    assert "did you mean 'registryTlsKey'?" in message
    assert "supersecretvalue" not in message


def test_secret_keys_are_in_the_valid_here_list() -> None:
    message = refused({f"{NS}:bogus": 1})
    valid = message.split("valid here: ", 1)[1]
    assert "registryTlsCert" in valid and "registryTlsKey" in valid
    assert "githubToken" not in valid and "dockerHubToken" not in valid  # retired: never stack secrets


@pytest.mark.parametrize("value", [
    {"repositoryId": "Sekrit_Value_123"},
    {"readers": ["user:sekrit-person"]},
    {"readers": ["user:sekrit@example.com", "user:SEKRIT@example.com"]},
    {"cleanup": {"keepRecent": 987654}},
    {"kmsKeyName": "sekrit"},
])
def test_a_value_set_as_a_secret_is_never_quoted(value: dict[str, Any]) -> None:
    message = refused({}, {f"{NS}:artifactRegistry": json.dumps(value)})
    assert f"{NS}:artifactRegistry." in message and "(value hidden)" in message
    for piece in ("ekrit", "SEKRIT", "987654"):
        assert piece not in message


# --- never a traceback ---------------------------------------------------------------------------

# (config key, raw value as the engine passes it, the key the problem must name)
HOSTILE: list[tuple[str, str, str]] = [
    (f"{NS}:registry", '{"port": ' + "1" * 5000 + "}", f"{NS}:registry"),        # beyond int parsing limits
    (f"{NS}:registry", json.dumps({"port": 2**64}), f"{NS}:registry.port"),
    (f"{NS}:registry", json.dumps({"port": 10**400}), f"{NS}:registry.port"),
    (f"{NS}:registry", '{"port": 1e400}', f"{NS}:registry.port"),
    (f"{NS}:registry", '{"port": NaN}', f"{NS}:registry.port"),
    (f"{NS}:artifactRegistry", "[" * 100_000 + "]" * 100_000, f"{NS}:artifactRegistry"),
    (f"{NS}:artifactRegistry", json.dumps({"readers": [[[[[[["x"]]]]]]]}), f"{NS}:artifactRegistry.readers[0]"),
    (f"{NS}:sampleImage", json.dumps({"name": "x" * 100_000}), f"{NS}:sampleImage.name"),
    (f"{NS}:sampleImage", json.dumps({"name": "a\u0000b"}), f"{NS}:sampleImage.name"),
    (f"{NS}:sampleImage", json.dumps({"name": "\ud800"}), f"{NS}:sampleImage.name"),
    (f"{NS}:sampleImage", json.dumps({"name": "한글-이미지"}), f"{NS}:sampleImage.name"),
    (f"{NS}:artifactRegistry", json.dumps({"description": "d\u0000"}), f"{NS}:artifactRegistry.description"),
    (f"{NS}:buildTrigger", json.dumps({"githubRepository": "a/b", "branch": "(" * 100_000}),
     f"{NS}:buildTrigger.branch"),
    (f"{NS}:{'k' * 100_000}", "1", f"{NS}:{'k' * 100}"),
    (f"{NS}:production", "1" * 100_000, f"{NS}:production"),
    (f"{NS}:registryVm", json.dumps({"sshSourceRanges": ["1" * 100_000]}), f"{NS}:registryVm.sshSourceRanges"),
    (f"{NS}:artifactRegistry", json.dumps({"readers": ["user:" + "a" * 100_000 + "@x.com"]}),
     f"{NS}:artifactRegistry.readers"),
    ("gcp:project", "p" * 100_000, "gcp:project"),
]


@pytest.mark.parametrize(("key", "raw", "named"), HOSTILE, ids=[f"{i}" for i in range(len(HOSTILE))])
def test_hostile_input_is_a_problem_not_a_traceback(key: str, raw: str, named: str) -> None:
    message = refused({key: raw})
    assert named in message
    assert len(message) < 3000, "a message stays readable whatever the value's size"


def test_docker_hub_cache_id_must_fit_when_the_vm_turns_the_cache_on() -> None:
    """dev leaves dockerHubProxy unset; its VM pulls registry:2 from Docker Hub through the cache, which
    is then on all the same, and its id is the repository id plus -dockerhub."""
    message = refused({f"{NS}:artifactRegistry": {"repositoryId": "r" * 63}})
    assert (f"{NS}:artifactRegistry.repositoryId = '{'r' * 63}': expected at most 53 characters with dockerHubProxy "
            "on (on because the registry VM pulls registry.image from Docker Hub through it)") in message
    assert "73 characters, 63 at most" in message
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"repositoryId": "r" * 53}})
    ids = {r.inputs["repositoryId"] for r in run.of_type("gcp:artifactregistry/repository:Repository")}
    assert ids == {"r" * 53, "r" * 53 + "-dockerhub"}
    # With the cache off (the VM pulls through Cloud NAT), 63 characters fit.
    run_stack("dev", overrides={f"{NS}:artifactRegistry": {"repositoryId": "r" * 63},
                                f"{NS}:registryVm": {"cloudNat": True}})


def test_an_empty_branch_regex_is_refused() -> None:
    """A trigger's push filter with no branch: Cloud Build refuses it."""
    message = refused({f"{NS}:buildTrigger": {"githubRepository": "acme/site", "branch": ""}})
    assert f"{NS}:buildTrigger.branch = '': expected a branch regex such as ^main$" in message
