"""The policy pack's rules: each one both ways on a hand-made resource, then every rule over every
stack and docs example from the mock harness (no violation), and over insecure variants (the
expected violations)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pulumi_policy import PolicyCustomTimeouts, PolicyProviderResource, PolicyResourceOptions, ResourceValidationArgs

from policy import rules
from tests.conftest import bootstrap_run
from tests.harness import StackRun, run_stack, unwrap
from tests.test_inventory import CASES, example_run

LABELS = {"managed-by": "pulumi", "stack": "dev", "project": "image-sharing"}


def provider(labels: dict[str, str] | None = None) -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:gcp", {"defaultLabels": json.dumps(labels or LABELS)},
                                  "urn:pulumi:dev::image-sharing::pulumi:providers:gcp::gcp", "gcp")


def args(resource_type: str, props: dict[str, Any], stack: str = "dev", protect: bool = False,
         with_provider: PolicyProviderResource | None = None) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(resource_type, props, f"urn:pulumi:{stack}::image-sharing::{resource_type}::r",
                                  "r", opts, with_provider or provider(), config={})


def violations(validator: rules.Validator, resource: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    validator(resource, lambda message, urn=None: found.append(message))
    return found


SHIELDED = {"enableSecureBoot": True, "enableVtpm": True, "enableIntegrityMonitoring": True}
OWN_SA = {"email": "registry-vm@p.iam.gserviceaccount.com", "scopes": []}

def user_data(exec_start: str) -> str:
    return "#cloud-config\n" + yaml.safe_dump({"write_files": [{"path": "/etc/systemd/system/r.service",
                                                                "content": f"[Service]\nExecStart={exec_start}\n"}]})


GOOD_VM = {"serviceAccount": OWN_SA, "shieldedInstanceConfig": SHIELDED,
           "metadata": {"user-data": user_data("/usr/bin/docker run --rm -p 5000:5000 registry:2.8.3")}}
FIREWALL_SSH = {"direction": "INGRESS", "allows": [{"protocol": "tcp", "ports": ["22"]}]}
REPO = {"mode": "STANDARD_REPOSITORY", "dockerConfig": {"immutableTags": True}, "cleanupPolicies": [{"id": "x"}]}
BUCKET = {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced", "versioning": {"enabled": True}}
TRIGGER_SA = "projects/p/serviceAccounts/image-builder@p.iam.gserviceaccount.com"

# rule -> (passing resource, violating resource, text of the violation)
CASES_BY_RULE: dict[str, tuple[ResourceValidationArgs, ResourceValidationArgs, str]] = {
    "no-public-iam": (
        args(rules.REPOSITORY.replace("repository:Repository", "repositoryIamMember:RepositoryIamMember"),
             {"member": "group:devs@example.com"}),
        args("gcp:storage/bucketIAMBinding:BucketIAMBinding", {"members": ["user:a@example.com", "allUsers"]}),
        "allUsers must never be granted"),
    "no-world-admin-ports": (
        args(rules.FIREWALL, {**FIREWALL_SSH, "sourceRanges": ["35.235.240.0/20"]}),
        args(rules.FIREWALL, {"direction": "INGRESS", "sourceRanges": ["::/0"],
                              "allows": [{"protocol": "tcp", "ports": ["4000-6000"]}]}),
        "admits 0.0.0.0/0 or ::/0"),
    "vm-hardened": (
        args(rules.INSTANCE, GOOD_VM),
        args(rules.INSTANCE, {**GOOD_VM, "serviceAccount": {"email": "123-compute@developer.gserviceaccount.com"}}),
        "not the default compute account"),
    "prod-repository-rules": (
        args(rules.REPOSITORY, REPO, stack="prod"),
        args(rules.REPOSITORY, {**REPO, "dockerConfig": {"immutableTags": False}}, stack="prod"),
        "immutable tags"),
    "stateful-protected-in-prod": (
        args(rules.DISK, {}, stack="prod", protect=True),
        args(rules.DISK, {}, stack="prod", protect=False),
        "must be protected in production"),
    "project-labels": (
        args(rules.DISK, {}),
        args(rules.DISK, {}, with_provider=provider({"managed-by": "pulumi"})),
        "missing the project's labels ['stack', 'project']"),
    "images-pinned": (
        args("docker:index/remoteImage:RemoteImage", {"name": "registry:2.8.3"}),
        args(rules.INSTANCE, {**GOOD_VM, "metadata": {"user-data": user_data("/usr/bin/docker run -p 1:1 registry")}}),
        "container image 'registry' must be pinned"),
    "trigger-user-managed-account": (
        args(rules.TRIGGER, {"serviceAccount": TRIGGER_SA}),
        args(rules.TRIGGER, {}),
        "user-managed service account"),
    "bucket-private": (
        args(rules.BUCKET, BUCKET),
        args(rules.BUCKET, {**BUCKET, "publicAccessPrevention": "inherited"}),
        "enforce public access prevention"),
    "bucket-versioned": (
        args(rules.BUCKET, BUCKET),
        args(rules.BUCKET, {**BUCKET, "versioning": {"enabled": False}}),
        "keep versions"),
    "prod-subnet-flow-logs": (
        args(rules.SUBNETWORK, {"logConfig": {"flowSampling": 0.5}}, stack="prod"),
        args(rules.SUBNETWORK, {"ipCidrRange": "10.20.0.0/24"}, stack="prod"),
        "must have VPC flow logs"),
}


def test_every_rule_has_cases() -> None:
    assert sorted(CASES_BY_RULE) == sorted(rule.name for rule in rules.RULES)


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda rule: rule.name)
def test_rule_passes_and_violates(rule: rules.Rule) -> None:
    good, bad, message = CASES_BY_RULE[rule.name]
    assert violations(rule.validate, good) == []
    found = violations(rule.validate, bad)
    assert found and any(message in text for text in found), found


def test_extra_violations_are_caught() -> None:
    assert violations(rules.vm_hardened, args(rules.INSTANCE, {**GOOD_VM, "shieldedInstanceConfig": {}})) == [
        "Shielded VM (secure boot, vTPM, integrity monitoring) must be on"]
    leaky = {**GOOD_VM, "metadata": {"startup-script": "echo 'password: hunter2'"}}
    assert "holds a password or a private key" in violations(rules.vm_hardened, args(rules.INSTANCE, leaky))[0]
    # A group's instance template is a VM too.
    default_sa = {**GOOD_VM, "serviceAccount": {"email": "default"}}
    assert violations(rules.vm_hardened, args(rules.TEMPLATE, default_sa)) == [
        "the VM must run as its own service account, not the default compute account"]
    unpinned = "#cloud-config\nwrite_files:\n- content: 'ExecStart=/usr/bin/docker run --rm registry:latest'\n"
    assert violations(rules.images_pinned, args(rules.TEMPLATE, {"metadata": {"user-data": unpinned}})) == [
        "container image 'registry:latest' must be pinned to a version tag or digest, never latest"]
    https = {"direction": "INGRESS", "sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["443"]}]}
    assert violations(rules.no_world_admin_ports, args(rules.FIREWALL, https)) == []
    assert violations(rules.images_pinned, args("docker:index/remoteImage:RemoteImage", {"name": "nginx:latest"}))
    assert violations(rules.prod_repository_rules, args(rules.REPOSITORY, {"dockerConfig": {}}, stack="dev")) == []


def check_stack(run: StackRun) -> dict[str, list[str]]:
    """Every rule over every created resource of a stack run, as the engine would call them."""
    providers = {r.urn: PolicyProviderResource(r.type, r.inputs, r.urn, r.name)
                 for r in run.resources if r.type.startswith("pulumi:providers:")}
    found: dict[str, list[str]] = {}
    for resource in run.custom:
        props = json.loads(json.dumps(resource.inputs, default=str))
        props = {k: unwrap(v) for k, v in props.items()}
        opts = PolicyResourceOptions(resource.protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
        policy_args = ResourceValidationArgs(resource.type, props, resource.urn, resource.name, opts,
                                             providers.get(resource.provider.rsplit("::", 1)[0]), config={})
        for rule in rules.RULES:
            for message in violations(rule.validate, policy_args):
                found.setdefault(rule.name, []).append(f"{resource.name}: {message}")
    return found


@pytest.mark.parametrize("case", CASES)
def test_stacks_and_examples_have_no_violation(case: str) -> None:
    assert check_stack(example_run(case)) == {}


def test_a_prod_stack_without_production_defaults_is_flagged() -> None:
    # The data disk is protected on every stack unless a replacement is allowed: allow one to see the rule.
    run = run_stack("prod", overrides={"image-sharing:production": False,
                                       "image-sharing:registryVm": {"allowDataDiskReplacement": True}})
    found = check_stack(run)
    assert sorted(found) == ["prod-repository-rules", "prod-subnet-flow-logs", "stateful-protected-in-prod"]
    assert found["prod-subnet-flow-logs"] == [
        "registry-subnet: a production subnet must have VPC flow logs (logConfig)"]
    message = "stateful resources (repositories, registry disks and buckets) must be protected in production"
    assert sorted(found["stateful-protected-in-prod"]) == [
        f"{name}: {message}" for name in ("registry-data", "repository")]
    assert found["prod-repository-rules"] == ["repository: a production repository must have immutable tags"]


def test_only_the_remote_cache_may_be_unprotected_in_prod() -> None:
    """The Docker Hub cache is replaced delete-first, unprotected; the repository holding images is not."""
    cache = {**REPO, "mode": "REMOTE_REPOSITORY"}
    assert violations(rules.stateful_protected_in_prod, args(rules.REPOSITORY, cache, stack="prod")) == []
    for props in (REPO, {k: v for k, v in REPO.items() if k != "mode"}, {**REPO, "mode": "VIRTUAL_REPOSITORY"}):
        assert violations(rules.stateful_protected_in_prod, args(rules.REPOSITORY, props, stack="prod"))
    run = run_stack("prod", overrides={"image-sharing:artifactRegistry": {"dockerHubProxy": True}})
    assert run.one(rules.REPOSITORY, "dockerhub-proxy").protect is False
    assert check_stack(run) == {}
    unprotected = run_stack("prod", overrides={"image-sharing:artifactRegistry": {"dockerHubProxy": True},
                                               "image-sharing:production": False})
    flagged = [m.split(":")[0] for m in check_stack(unprotected)["stateful-protected-in-prod"]]
    assert "repository" in flagged and "dockerhub-proxy" not in flagged


def test_code_that_opens_the_vm_is_flagged(dev: StackRun) -> None:
    """Settings refuse these values; the pack is the second line if code ever produced them."""
    tampered = run_stack("dev")
    for resource in tampered.resources:
        if resource.name == "registry-ssh":
            resource.inputs["sourceRanges"] = ["0.0.0.0/0"]
        if resource.name == "registry-0":
            resource.inputs["serviceAccount"] = {"email": "default"}
    found = check_stack(tampered)
    assert sorted(found) == ["no-world-admin-ports", "vm-hardened"]


def test_a_rule_without_sources_counts_as_open_to_the_world() -> None:
    tampered = run_stack("dev")
    for resource in tampered.resources:
        if resource.name == "registry-port":
            resource.inputs["sourceRanges"] = []
    assert check_stack(tampered)["no-world-admin-ports"] == [
        "registry-port: a firewall rule admits 0.0.0.0/0 or ::/0 to SSH or the registry port"]


def test_pack_registers_every_rule_with_its_enforcement(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs policy/__main__.py with PolicyPack replaced (the real one starts a server and blocks)."""
    import runpy
    import sys

    import pulumi_policy

    from tests.harness import ROOT

    packs: list[dict[str, Any]] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: packs.append(kwargs))
    monkeypatch.setattr(sys, "path", [str(ROOT / "policy"), *sys.path])
    runpy.run_path(str(ROOT / "policy" / "__main__.py"), run_name="__main__")
    [pack] = packs
    assert pack["name"] == "image-sharing"
    registered = {p.name: p for p in pack["policies"]}
    assert sorted(registered) == sorted(rule.name for rule in rules.RULES)
    levels = {name: policy.enforcement_level for name, policy in registered.items()}
    assert levels.pop("bucket-versioned").value == "advisory"
    assert {level.value for level in levels.values()} == {"mandatory"}


def sdk_takes_labels(resource_type: str) -> bool:
    """Whether pulumi-gcp's args class for a type token (gcp:MODULE/x:Class) has a `labels` argument."""
    import importlib
    import inspect

    module, cls = resource_type.split(":")[1].split("/")[0], resource_type.rsplit(":", 1)[1]
    sdk = importlib.import_module(getattr(importlib.import_module(f"pulumi_gcp.{module}"), cls).__module__)
    return "labels" in inspect.signature(getattr(sdk, f"{cls}Args").__init__).parameters


def test_labels_rule_lists_exactly_the_labelable_types_the_program_creates() -> None:
    """A listed type without labels passes only through the provider's defaults: false assurance. The
    bootstrap runs under the same pack (`--policy-pack ../policy`), so its types count too."""
    assert sdk_takes_labels(rules.DISK) and not sdk_takes_labels("gcp:compute/resourcePolicy:ResourcePolicy")
    assert [t for t in sorted(rules.LABELED) if not sdk_takes_labels(t)] == []
    gcs = run_stack("dev", overrides={"image-sharing:registryVm": {"storage": "gcs", "bucketName": "acme-images"}})
    external_group = run_stack("dev", overrides={"image-sharing:registryVm": {
        "mode": "group", "storage": "gcs", "bucketName": "acme-images",
        "group": {"loadBalancer": "external", "domain": "registry.example.com",
                  "allowedSourceRanges": ["198.51.100.0/24"]}}})
    runs = [gcs, external_group, *map(example_run, CASES), bootstrap_run()]
    created = {r.type for run in runs for r in run.custom if r.type.startswith("gcp:")}
    assert rules.BUCKET in created and "gcp:kms/cryptoKey:CryptoKey" in created
    assert {t for t in created if sdk_takes_labels(t)} - rules.SETTINGS_LABELS == rules.LABELED


def test_docker_run_image_is_found_before_the_command_arguments() -> None:
    unit = ("ExecStart=/usr/bin/docker run --rm --name registry-gc --mount type=bind,source=/a,target=/b "
            "-p 5000:5000 registry:latest garbage-collect --delete-untagged /etc/docker/registry/config.yml\n"
            "ExecStart=/usr/bin/docker run -d --env-file /run/x registry:2.8.3\n")
    assert rules.docker_run_images(unit) == ["registry:latest", "registry:2.8.3"]
