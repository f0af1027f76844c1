"""The Artifact Registry repository under mocks: inputs, lifecycle rules, protection, proxy, CMEK,
IAM scoped to the repository, audit logs, dependencies and the outputs users paste."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from components.app_source import sample_site_build
from components.artifact_repository import audit_config_warning
from stackconfig.reader import SettingsError
from tests.gcloud_sdk import sdk_python
from tests.harness import StackRun, registered_by_last_failure, run_stack

NS = "image-sharing"
REPO = "gcp:artifactregistry/repository:Repository"
MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
AUDIT = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
KMS_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
KEY = "projects/kms-project/locations/asia-northeast3/keyRings/ring/cryptoKeys/images"


def with_ar(stack: str = "dev", **values: Any) -> StackRun:
    return run_stack(stack, overrides={f"{NS}:artifactRegistry": values})


def days(n: int) -> str:
    return f"{n * 86400}s"


def test_dev_repository_inputs(dev: StackRun) -> None:
    repo = dev.one(REPO, "repository")
    assert {k: repo.inputs[k] for k in ("project", "location", "format", "mode", "repositoryId")} == {
        "project": "image-sharing-dev", "location": "asia-northeast3", "format": "DOCKER",
        "mode": "STANDARD_REPOSITORY", "repositoryId": "images"}
    assert repo.inputs["description"] == "Docker images shared by the team, managed by Pulumi"
    assert repo.inputs["dockerConfig"] == {"immutableTags": False}
    assert repo.inputs["vulnerabilityScanningConfig"] == {"enablementConfig": "DISABLED"}
    assert "kmsKeyName" not in repo.inputs
    assert repo.protect is False


def test_prod_repository_is_immutable_and_protected(prod: StackRun) -> None:
    repo = prod.one(REPO, "repository")
    assert repo.inputs["dockerConfig"] == {"immutableTags": True}
    assert repo.protect is True


def test_immutability_is_plain_config() -> None:
    on, off = with_ar("dev", immutableTags=True), with_ar("prod", immutableTags=False)
    assert on.one(REPO, "repository").inputs["dockerConfig"] == {"immutableTags": True}
    assert off.one(REPO, "repository").inputs["dockerConfig"] == {"immutableTags": False}
    assert with_ar("prod", immutableTags=False).one(REPO, "repository").protect is True


def test_cleanup_policies_as_configured(prod: StackRun) -> None:
    repo = prod.one(REPO, "repository")
    assert repo.inputs["cleanupPolicyDryRun"] is False
    assert repo.inputs["cleanupPolicies"] == [
        {"id": "keep-recent", "action": "KEEP", "mostRecentVersions": {"keepCount": 10}},
        # Production pushes no sample image (its repository is the pipeline's): nothing of its own to keep.
        {"id": "keep-protected-tags", "action": "KEEP", "condition": {"tagState": "TAGGED", "tagPrefixes": ["v"]}},
        {"id": "delete-untagged", "action": "DELETE", "condition": {"tagState": "UNTAGGED", "olderThan": days(14)}},
        {"id": "delete-old", "action": "DELETE", "condition": {"tagState": "ANY", "olderThan": days(30)}},
    ]


def test_cleanup_dry_run_and_no_protected_prefixes() -> None:
    repo = with_ar(cleanup={"dryRun": True, "protectedTagPrefixes": [], "keepRecent": 2}).one(REPO, "repository")
    assert repo.inputs["cleanupPolicyDryRun"] is True
    assert [p["id"] for p in repo.inputs["cleanupPolicies"]] == [
        "keep-recent", "keep-stack-image", "delete-untagged", "delete-old"]
    assert repo.inputs["cleanupPolicies"][0]["mostRecentVersions"] == {"keepCount": 2}


def kept_by_cleanup(policies: list[dict[str, Any]], package: str, versions: list[tuple[str, int]]) -> set[str]:
    """Artifact Registry's documented evaluation: a version any KEEP rule matches is kept, whatever the
    DELETE rules say; `mostRecentVersions` keeps the newest N per package. versions: (tag, age in days)."""
    newest = sorted(versions, key=lambda v: v[1])
    kept: set[str] = set()
    for policy in (p for p in policies if p["action"] == "KEEP"):
        if "mostRecentVersions" in policy:
            kept |= {tag for tag, _ in newest[:int(policy["mostRecentVersions"]["keepCount"])]}
            continue
        condition = policy["condition"]
        if package.startswith(tuple(condition.get("packageNamePrefixes", [""]))):
            kept |= {tag for tag, _ in versions if tag.startswith(tuple(condition["tagPrefixes"]))}
    return kept


def test_the_exported_image_survives_the_cleanup_policy(dev: StackRun) -> None:
    """The trigger pushes more than keepRecent newer versions and the stack's image passes deleteAfterDays:
    the image the outputs point at is still kept, and only that one of the stack's pushes."""
    tag = dev.outputs["sampleImage"]["tag"]
    policies = dev.one(REPO, "repository").inputs["cleanupPolicies"]
    versions = [(tag, 90), ("src-000000000000", 120), *((f"sha-{i}", i) for i in range(20))]
    kept = kept_by_cleanup(policies, "hello-nginx", versions)
    assert tag in kept and "src-000000000000" not in kept
    # A nested image name is URL-encoded in the package id: the tag alone must still keep it.
    assert tag in kept_by_cleanup(policies, "team%2Fhello-nginx", versions)
    assert tag not in kept_by_cleanup([p for p in policies if p["id"] != "keep-stack-image"], "hello-nginx", versions)
    assert dev.outputs["sampleImage"]["artifactRegistry"]["ref"].endswith(f"/hello-nginx:{tag}")


UNKNOWN_FIELDS = """
from apitools.base.py import encoding
from googlecloudsdk.generated_clients.apis.artifactregistry.v1 import artifactregistry_v1_messages as m

def unknown(message):
    found = list(message.all_unrecognized_fields())
    for field in message.all_fields():
        value = message.get_assigned_value(field.name)
        if hasattr(value, "all_unrecognized_fields"):
            found += unknown(value)
    return found

result = {p["id"]: unknown(encoding.DictToMessage(p, m.CleanupPolicy)) for p in payload}
"""


@pytest.mark.integration
def test_cleanup_policies_are_artifact_registry_api_messages(prod: StackRun) -> None:
    """Field names and enum values checked by the API's own message classes (shipped with gcloud)."""
    policies = prod.one(REPO, "repository").inputs["cleanupPolicies"]
    policies = [{**p, "mostRecentVersions": {"keepCount": int(p["mostRecentVersions"]["keepCount"])}}
                if "mostRecentVersions" in p else p for p in policies]
    assert sdk_python(UNKNOWN_FIELDS, policies) == {p["id"]: [] for p in policies}
    bad = {"id": "x", "action": "KEEP", "condition": {"tagState": "TAGGED", "tagPrefix": ["v"]}}
    assert sdk_python(UNKNOWN_FIELDS, [bad]) == {"x": ["tagPrefix"]}


def test_no_image_kept_without_a_sample_image_and_none_in_the_cache() -> None:
    run = run_stack("dev", overrides={f"{NS}:sampleImage": {"enabled": False},
                                      f"{NS}:artifactRegistry": {"dockerHubProxy": True}})
    assert "keep-stack-image" not in [p["id"] for p in run.one(REPO, "repository").inputs["cleanupPolicies"]]
    proxy = with_ar(dockerHubProxy=True).one(REPO, "dockerhub-proxy")
    assert "keep-stack-image" not in [p["id"] for p in proxy.inputs["cleanupPolicies"]]


def test_repository_waits_only_for_its_api(dev: StackRun) -> None:
    assert dev.deps_of(dev.one(REPO, "repository")) == {"gcp:projects/service:Service:artifactregistry"}


def test_proxy_only_when_enabled_or_needed_by_the_registry_vm(dev: StackRun) -> None:
    assert [r.name for r in dev.of_type(REPO)] == ["repository", "dockerhub-proxy"]  # the VM pulls through it
    no_vm = run_stack("dev", overrides={f"{NS}:registryVm": {"enabled": False}})
    assert [r.name for r in no_vm.of_type(REPO)] == ["repository"]
    assert "dockerHubProxy" not in no_vm.outputs
    run = with_ar("prod", dockerHubProxy=True)
    proxy = run.one(REPO, "dockerhub-proxy")
    assert proxy.inputs["mode"] == "REMOTE_REPOSITORY"
    assert proxy.inputs["repositoryId"] == "images-dockerhub"
    assert proxy.inputs["remoteRepositoryConfig"]["dockerRepository"] == {"publicRepository": "DOCKER_HUB"}
    assert run.outputs["dockerHubProxy"] == "asia-northeast3-docker.pkg.dev/image-sharing-prod/images-dockerhub"


def test_the_cache_is_replaced_delete_first_and_unprotected_the_repository_stays_protected() -> None:
    """Adding kmsKeyName to an existing stack replaces the cache: protected, prod's `up` would fail; created
    before deleted, the new one clashes on repository_id (409). It only caches Docker Hub: nothing is lost."""
    for stack in ("prod", "dev"):
        run = with_ar(stack, dockerHubProxy=True, kmsKeyName=KEY)
        proxy, repo = run.one(REPO, "dockerhub-proxy"), run.one(REPO, "repository")
        assert proxy.protect is False
        assert proxy.options["deleteBeforeReplace"] is True
        assert repo.protect is (stack == "prod")
        assert repo.options["deleteBeforeReplace"] is False
        assert f"{KMS_MEMBER}:artifactregistry-agent-kms" in run.deps_of(proxy)


def test_iam_members_exactly_as_configured_and_scoped_to_the_repository() -> None:
    run = with_ar(readers=["group:devs@example.com", "user:ana@example.com"],
                  writers=["serviceAccount:ci@other-project.iam.gserviceaccount.com"])
    configured = [g for g in run.of_type(MEMBER) if g.name != "proxy-reader-registry-vm"]
    grants = {(g.inputs["role"], g.inputs["member"]) for g in configured}
    assert grants == {
        ("roles/artifactregistry.reader", "group:devs@example.com"),
        ("roles/artifactregistry.reader", "user:ana@example.com"),
        ("roles/artifactregistry.writer", "serviceAccount:ci@other-project.iam.gserviceaccount.com"),
    }
    for grant in configured:
        assert (grant.inputs["repository"], grant.inputs["location"]) == ("images", "asia-northeast3")
        assert run.deps_of(grant) == {f"{REPO}:repository"}
    project_wide = [r for r in run.resources if r.type.startswith("gcp:projects/iAM")]
    assert not [r for r in project_wide if "artifactregistry" in str(r.inputs.get("role"))]
    assert not [r for r in run.resources if "IAMBinding" in r.type or "IAMPolicy" in r.type]


def test_no_grants_by_default(dev: StackRun) -> None:
    # Only the registry VM's own read access to the Docker Hub cache it pulls its image through.
    assert [(g.name, g.inputs["repository"]) for g in dev.of_type(MEMBER)] == [
        ("proxy-reader-registry-vm", "images-dockerhub")]


def test_kms_grant_exists_before_the_repository() -> None:
    run = with_ar(kmsKeyName=KEY)
    grant = run.one(KMS_MEMBER)
    agent = "serviceAccount:service-123456789012@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    assert grant.inputs == {"cryptoKeyId": KEY, "role": "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                            "member": agent}
    assert run.deps_of(grant) == {"gcp:projects/serviceIdentity:ServiceIdentity:artifactregistry-agent",
                                  "gcp:projects/service:Service:cloudkms"}
    repo = run.one(REPO, "repository")
    assert repo.inputs["kmsKeyName"] == KEY
    assert f"{KMS_MEMBER}:artifactregistry-agent-kms" in run.deps_of(repo)


def test_docker_hub_cache_is_encrypted_with_the_key_too() -> None:
    """An org policy requiring CMEK refuses any repository without the key, the cache included."""
    run = with_ar(kmsKeyName=KEY, dockerHubProxy=True)
    proxy = run.one(REPO, "dockerhub-proxy")
    assert proxy.inputs["kmsKeyName"] == KEY
    assert f"{KMS_MEMBER}:artifactregistry-agent-kms" in run.deps_of(proxy)
    assert "cloudkms.googleapis.com" in run.outputs["enabledApis"]
    assert "kmsKeyName" not in with_ar(dockerHubProxy=True).one(REPO, "dockerhub-proxy").inputs


def test_no_kms_resources_without_a_key(dev: StackRun) -> None:
    assert dev.of_type(KMS_MEMBER) == []
    assert dev.of_type("gcp:projects/serviceIdentity:ServiceIdentity") == []


def test_kms_key_in_another_location_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"kmsKeyName = .*expected a key in the repository's location"):
        with_ar(kmsKeyName=KEY.replace("asia-northeast3", "us-east1"))
    assert registered_by_last_failure() == []


def test_audit_logs_only_when_configured(dev: StackRun, prod: StackRun) -> None:
    assert dev.of_type(AUDIT) == []
    audit = prod.one(AUDIT)
    assert audit.inputs == {"project": "image-sharing-prod", "service": "artifactregistry.googleapis.com",
                            "auditLogConfigs": [{"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}]}
    assert prod.deps_of(audit) == {"gcp:projects/service:Service:cloudresourcemanager"}


def test_authoritative_audit_config_is_announced_in_the_preview(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        with_ar(auditLogs=False)
    assert not [r for r in caplog.records if "authoritative" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        run = with_ar(auditLogs=True)
    assert run.of_type(AUDIT)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings.count(audit_config_warning("image-sharing-dev")) == 1
    assert "replaces any Data Access audit config" in audit_config_warning("p")


def test_scanning_switch() -> None:
    run = with_ar(vulnerabilityScanning=True)
    assert run.one(REPO, "repository").inputs["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}


def test_repository_off() -> None:
    # The registry VM then reaches Docker Hub through Cloud NAT.
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"enabled": False},
                                      f"{NS}:registryVm": {"cloudNat": True}})
    assert run.of_type(REPO) == []
    assert "artifactRegistryHost" not in run.outputs


def test_outputs_are_ready_to_paste(dev: StackRun) -> None:
    tag = sample_site_build("unknown").tag
    # The walkthrough pushes under a tag of its own, never the one the stack pushes, exports and keeps.
    mine = "manual-" + tag.removeprefix("src-")
    ref = f"asia-northeast3-docker.pkg.dev/image-sharing-dev/images/hello-nginx:{mine}"
    assert dev.outputs["artifactRegistryHost"] == "asia-northeast3-docker.pkg.dev"
    assert dev.outputs["artifactRegistryRepository"] == "asia-northeast3-docker.pkg.dev/image-sharing-dev/images"
    assert dev.outputs["artifactRegistryCommands"] == {
        "login": "gcloud auth configure-docker asia-northeast3-docker.pkg.dev",
        "build": f"docker build --platform linux/amd64 -t hello-nginx:{mine} app",
        "tag": f"docker tag hello-nginx:{mine} {ref}",
        "push": f"docker push {ref}",
        "pull": f"docker pull {ref}",
    }
    assert dev.outputs["sampleImage"]["tag"] == tag != mine


def test_production_prints_no_push_into_the_pipelines_repository(prod: StackRun) -> None:
    """Prod's repository holds only what the pipeline promoted: no sample image, no push command."""
    assert "sampleImage" not in prod.outputs
    assert prod.outputs["artifactRegistryCommands"] == {
        "login": "gcloud auth configure-docker asia-northeast3-docker.pkg.dev",
        "list": "gcloud artifacts docker images list asia-northeast3-docker.pkg.dev/image-sharing-prod/images/"
                "hello-nginx --include-tags --sort-by=~update_time --limit=5 "
                "--format='table(version,tags.list(),update_time)'",
    }
    assert not [r for r in prod.resources if r.type.startswith("docker:")]
