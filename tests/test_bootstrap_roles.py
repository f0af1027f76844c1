"""The deploy identity's roles are derived from what the main program creates: every resource type it can
create (its inventories, a run with every feature on, and every resource class its components call) has a
role, and every role has a type that needs it."""

from __future__ import annotations

import inspect
import json
import re
from functools import cache

import pulumi_gcp
import yaml

from foundation import roles
from tests.harness import ROOT, StackRun, run_stack

INVENTORIES = sorted((ROOT / "tests" / "inventories").glob("*.yaml"))
# Every optional feature on at once: the types no stack file or docs example creates.
EVERY_FEATURE = {
    "image-sharing:registryVm": {"storage": "gcs", "bucketName": "image-sharing-dev-registry", "instances": 2,
                                 "cloudNat": True, "directAccessCidrs": ["203.0.113.0/24"]},
    "image-sharing:alerts": {"email": "ops@example.com"},
    "image-sharing:artifactRegistry": {
        "kmsKeyName": "projects/image-sharing-dev/locations/asia-northeast3/keyRings/r/cryptoKeys/k",
        "vulnerabilityScanning": True, "dockerHubProxy": True, "auditLogs": True},
    "image-sharing:buildTrigger": {
        "githubRepository": "acme/site", "generation": 2, "appInstallationId": 123,
        "githubTokenSecretVersion": "projects/image-sharing-dev/secrets/cloudbuild-github-token/versions/1"},
    "image-sharing:budget": {"billingAccount": "ABCDEF-012345-6789AB"},
    "image-sharing:sampleImage": {"dockerHubUser": "someone"},
}
EVERY_FEATURE_SECRETS = {"image-sharing:registryTlsCert": "cert", "image-sharing:registryTlsKey": "key"}
# The registry's group mode with the external load balancer (the internal one is a docs example).
EVERY_GROUP_FEATURE = {
    "image-sharing:registryVm": {"mode": "group", "storage": "gcs", "bucketName": "image-sharing-dev-registry",
                                 "group": {"loadBalancer": "external", "domain": "registry.example.com",
                                           "allowedSourceRanges": ["203.0.113.0/24"]}},
}
GCP_CALL = re.compile(r"\bgcp\.([a-z0-9_]+)\.([A-Z][A-Za-z0-9]*)\(")


def inventory_resources() -> list[tuple[str, str, dict[str, object]]]:
    """(file, type, inputs) of every resource in every inventory."""
    found = []
    for path in INVENTORIES:
        for key, inputs in (yaml.safe_load(path.read_text())["resources"] or {}).items():
            found.append((path.name, key.rsplit("::", 1)[0], inputs or {}))
    return found


@cache
def every_feature() -> StackRun:
    return run_stack("dev", overrides={k: json.dumps(v) for k, v in EVERY_FEATURE.items()},
                     secrets=EVERY_FEATURE_SECRETS)


@cache
def every_group_feature() -> StackRun:
    return run_stack("dev", overrides={k: json.dumps(v) for k, v in EVERY_GROUP_FEATURE.items()})


def program_types(dev: StackRun, prod: StackRun) -> set[str]:
    runs = (dev, prod, every_feature(), every_group_feature())
    return {t for _, t, _ in inventory_resources()} | {r.type for run in runs for r in run.custom}


def called_types() -> set[str]:
    """The type token of every pulumi_gcp resource class the components call."""
    tokens = set()
    for path in sorted((ROOT / "components").glob("*.py")):
        for module, name in GCP_CALL.findall(path.read_text()):
            cls = getattr(getattr(pulumi_gcp, module), name)
            if isinstance(cls, type):  # invokes (get_project_output, ...) are functions
                found = re.search(r"__init__\(\s*'(gcp:[^']+)'", inspect.getsource(cls))
                assert found, f"no type token in pulumi_gcp.{module}.{name}"
                tokens.add(found[1])
    return tokens


def unmapped(types: set[str]) -> set[str]:
    return {t for t in types if not t.startswith(roles.NOT_GCP_PREFIXES)
            and t not in roles.DEPLOY_ROLES_BY_TYPE and t not in roles.OUTSIDE_PROJECT}


def test_inventories_are_read() -> None:
    assert len(INVENTORIES) >= 3 and len(inventory_resources()) > 50


def test_the_every_feature_run_creates_every_class_the_components_call(dev: StackRun, prod: StackRun) -> None:
    called = called_types()
    assert {"gcp:storage/bucket:Bucket", "gcp:billing/budget:Budget", "gcp:compute/instance:Instance"} <= called
    assert called - program_types(dev, prod) == set(), "turn the feature on in EVERY_FEATURE"


def test_every_resource_type_the_program_creates_has_a_deploy_role(dev: StackRun, prod: StackRun) -> None:
    assert unmapped(program_types(dev, prod)) == set(), "add the type's least role to bootstrap/foundation/roles.py"


def test_a_new_resource_type_without_a_role_is_caught() -> None:
    assert unmapped({"gcp:sql/databaseInstance:DatabaseInstance", "docker:index/image:Image"}) == {
        "gcp:sql/databaseInstance:DatabaseInstance"}


def test_every_deploy_role_is_needed_by_a_type_the_program_creates(dev: StackRun, prod: StackRun) -> None:
    stale = (set(roles.DEPLOY_ROLES_BY_TYPE) | set(roles.OUTSIDE_PROJECT)) - program_types(dev, prod)
    assert stale == set(), "a role nothing needs widens the deploy identity: remove it"


def test_the_deployer_may_grant_exactly_the_project_roles_the_program_grants(dev: StackRun, prod: StackRun) -> None:
    granted = {str(inputs["role"]) for _, t, inputs in inventory_resources() if t == "gcp:projects/iAMMember:IAMMember"}
    granted |= {r.inputs["role"] for r in every_feature().of_type("gcp:projects/iAMMember:IAMMember")}
    assert granted == set(roles.GRANTABLE_PROJECT_ROLES)
    for role in roles.GRANTABLE_PROJECT_ROLES:
        assert f"'{role}'" in roles.project_iam_condition()


def test_attaching_service_accounts_needs_act_as() -> None:
    for type_ in ("gcp:compute/instance:Instance", "gcp:cloudbuild/trigger:Trigger"):
        assert roles.ACT_AS in roles.DEPLOY_ROLES_BY_TYPE[type_]


def test_previews_may_bill_calls_to_the_project_when_a_provider_asks_to() -> None:
    """user_project_override sends X-Goog-User-Project, which needs serviceusage.services.use."""
    overriding = [r.name for r in every_feature().of_type("pulumi:providers:gcp")
                  if str(r.inputs.get("userProjectOverride")).lower() == "true"]
    assert overriding == ["gcp-billing"]
    assert roles.QUOTA_USER in roles.PREVIEW_ROLES
    assert roles.QUOTA_USER == "roles/serviceusage.serviceUsageConsumer"
    assert "roles/serviceusage.serviceUsageAdmin" in roles.deploy_roles()  # includes services.use
