"""The shared registry host: one account, one set of secrets and grants, one user-data, taken by the
single-VM shape and the group shape alike; and moving those resources out of RegistryVm replaces
nothing: every cloud resource a stack held before the host existed keeps its URN or is claimed by an
alias (tests/registry_urns_before_host.json: the engine URNs computed on the commit before)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import StackRun, run_stack
from tests.test_inventory import example_run
from tests.urns import engine_urns, lost

NS = "image-sharing"
BEFORE: dict[str, list[str]] = json.loads((Path(__file__).with_name("registry_urns_before_host.json")).read_text())
GCS = {"storage": "gcs", "bucketName": "acme-registry-dev"}
RUNS = {
    "dev": lambda: example_run("dev"),
    "prod": lambda: example_run("prod"),
    "registry-group": lambda: example_run("registry-group"),
    "registry-own-network": lambda: example_run("registry-own-network"),
    "multi-vm-gcs": lambda: run_stack("dev", overrides={f"{NS}:registryVm": {**GCS, "instances": 2}}),
    "group-external": lambda: run_stack("dev", overrides={f"{NS}:registryVm": {
        **GCS, "mode": "group", "group": {"loadBalancer": "external", "domain": "registry.example.com",
                                          "allowedSourceRanges": ["198.51.100.0/24"]}}}),
}


def _is_component(urn: str) -> bool:
    """Components hold no cloud state: one that goes away deletes nothing in GCP."""
    return urn.split("::")[2].rsplit("$", 1)[-1].startswith("image-sharing:")


@pytest.mark.parametrize("case", sorted(RUNS))
def test_no_cloud_resource_of_the_registry_changes_urn(case: str) -> None:
    run = RUNS[case]()
    before = [urn for urn in BEFORE[case] if not _is_component(urn)]
    assert before, "the snapshot must list the registry's resources"
    assert lost(before, run) == []


def test_the_data_disk_and_the_bucket_keep_their_urn_or_an_alias() -> None:
    """Named on their own: these two hold the images."""
    disk = next(u for u in engine_urns(RUNS["prod"]()) if u.endswith("Disk::registry-data"))
    assert disk == ("urn:pulumi:prod::image-sharing::image-sharing:registry:RegistryVm$gcp:compute/disk:Disk::"
                    "registry-data")
    for case in ("multi-vm-gcs", "registry-group"):
        urns = engine_urns(RUNS[case]())
        bucket = next(u for u in urns if u.endswith("Bucket::registry-bucket"))
        assert ("urn:pulumi:dev::image-sharing::image-sharing:registry:RegistryVm$gcp:storage/bucket:Bucket::"
                "registry-bucket") in urns[bucket]


def test_without_the_aliases_the_moved_resources_would_be_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control case: the same check fails when the host's resources carry no alias."""
    import pulumi

    import components.registry_host as host
    monkeypatch.setattr(host, "former_parent_alias", lambda: pulumi.Alias(name="unrelated-name"))
    fresh = example_run.__wrapped__("registry-group")  # not the cached run
    gone = lost([u for u in BEFORE["registry-group"] if not _is_component(u)], fresh)
    assert any(u.endswith("Bucket::registry-bucket") for u in gone)
    assert any(u.endswith("Account::registry-vm") for u in gone)


def _shapes(run: StackRun) -> set[str]:
    return {r.type.rsplit(":", 1)[-1] for r in run.resources if r.type.startswith("image-sharing:registry:")}


def test_each_shape_takes_the_host_side_by_side() -> None:
    single, group = RUNS["dev"](), RUNS["registry-group"]()
    assert {"RegistryHost", "RegistryVm"} <= _shapes(single) and "RegistryGroup" not in _shapes(single)
    assert {"RegistryHost", "RegistryGroup"} <= _shapes(group) and "RegistryVm" not in _shapes(group)
    for run in (single, group):
        host = next(r for r in run.resources if r.type == "image-sharing:registry:RegistryHost")
        account = run.one("gcp:serviceaccount/account:Account")
        assert account.parent == host.urn


AR_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
VM_MEMBER = "serviceAccount:registry-vm@image-sharing-dev.iam.gserviceaccount.com"


def _with_image(image: str, **vm: object) -> StackRun:
    return run_stack("dev", overrides={f"{NS}:registry": {"image": image}, **(
        {f"{NS}:registryVm": vm} if vm else {})})


def test_an_image_from_another_artifact_registry_repository_gets_a_reader_grant_there() -> None:
    run = _with_image("europe-west1-docker.pkg.dev/shared-images-1/base/registry:2.8.3")
    grant = run.one(AR_MEMBER, "registry-vm-image-reader").inputs
    assert grant == {"project": "shared-images-1", "location": "europe-west1", "repository": "base",
                     "role": "roles/artifactregistry.reader", "member": VM_MEMBER}
    instance = run.one("gcp:compute/instance:Instance", "registry-0")
    assert f"{AR_MEMBER}:registry-vm-image-reader" in run.deps_of(instance), "the VM boots after it"


def test_an_image_from_the_stacks_own_repository_is_granted_through_that_repository() -> None:
    run = _with_image("asia-northeast3-docker.pkg.dev/image-sharing-dev/images/registry:2.8.3")
    grant = run.one(AR_MEMBER, "repo-reader-registry-vm-image")
    assert grant.inputs["member"] == VM_MEMBER and grant.inputs["role"] == "roles/artifactregistry.reader"
    assert not [r for r in run.of_type(AR_MEMBER) if r.name == "registry-vm-image-reader"]


def test_an_image_from_the_stacks_project_waits_for_the_artifact_registry_api() -> None:
    run = _with_image("asia-northeast3-docker.pkg.dev/image-sharing-dev/other/registry:2.8.3")
    grant = run.one(AR_MEMBER, "registry-vm-image-reader")
    assert "gcp:projects/service:Service:artifactregistry" in run.deps_of(grant)
    other = _with_image("europe-west1-docker.pkg.dev/shared-images-1/base/registry:2.8.3")
    # Another project's API cannot be enabled from here; its repository exists, so its API is on.
    assert "gcp:projects/service:Service:artifactregistry" not in other.deps_of(
        other.one(AR_MEMBER, "registry-vm-image-reader"))


def test_a_docker_hub_image_gets_no_repository_grant_of_its_own() -> None:
    run = RUNS["dev"]()
    assert not [r for r in run.of_type(AR_MEMBER) if "registry-vm-image" in r.name]


@pytest.mark.parametrize("image", ["europe-docker.pkg.dev/registry:2.8.3", "us-python.pkg.dev/p-123456/r/x:1",
                                   "europe-docker.pkg.dev/example.com/proj/r/registry:2"])
def test_a_pkg_dev_image_that_names_no_repository_is_refused(image: str) -> None:
    from stackconfig.reader import SettingsError

    with pytest.raises(SettingsError, match=r"registry\.image = .*LOCATION-docker\.pkg\.dev/PROJECT/REPOSITORY"):
        _with_image(image)


@pytest.mark.parametrize(("repository_id", "resource", "config"), [
    ("images-dockerhub", "dockerhub-proxy", {"artifactRegistry": {"dockerHubProxy": True}}),
    ("images-buildcache", "build-cache", {"buildTrigger": {"githubRepository": "acme/site", "registryCache": True}})])
def test_an_image_from_the_stacks_cache_repositories_waits_for_that_repository(
        repository_id: str, resource: str, config: dict[str, object]) -> None:
    """The Docker Hub cache and the build cache are made by this stack too: on the first `up` the grant
    must come after the repository, or it is a 404 (and the VM boots without its image)."""
    image = f"asia-northeast3-docker.pkg.dev/image-sharing-dev/{repository_id}/registry:2.8.3"
    run = run_stack("dev", overrides={f"{NS}:registry": {"image": image},
                                      **{f"{NS}:{key}": value for key, value in config.items()}})
    made = {r.name: r.inputs.get("repositoryId") for r in run.of_type("gcp:artifactregistry/repository:Repository")}
    assert made.get(resource) == repository_id, made
    grant = run.one(AR_MEMBER, "registry-vm-image-reader")
    assert f"gcp:artifactregistry/repository:Repository:{resource}" in run.deps_of(grant)
    assert grant.inputs["repository"] == repository_id and grant.inputs["member"] == VM_MEMBER
