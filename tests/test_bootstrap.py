"""The bootstrap project under mocks: what one `pulumi up` of bootstrap/ creates, who can become which
identity (the federation's CEL conditions run in a real CEL evaluator), and the commands it prints."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import celpy
import pytest
import yaml

from foundation import roles
from foundation.federation import CI_POOL, MAIN_POOL
from foundation.identity import STATE_READER, STATE_WRITER
from foundation.services import BOOTSTRAP_APIS
from foundation.settings import PLACEHOLDERS
from stackconfig.reader import SettingsError
from tests.harness import BOOTSTRAP, ROOT, StackRun, registered_by_last_failure, run_stack, stack_config

CONFIG, _ = stack_config("ci", BOOTSTRAP)
HOST = CONFIG["gcp:project"]
REPO = CONFIG["image-sharing-bootstrap:githubRepository"]
REPO_ID = str(CONFIG["image-sharing-bootstrap:githubRepositoryId"])
PROJECTS = {stack: target["project"] for stack, target in CONFIG["image-sharing-bootstrap:stacks"].items()}
IDENTITIES = ("dev-preview", "dev-deploy", "prod-preview", "prod-deploy")


def email(identity: str) -> str:
    return f"ci-{identity}@{HOST}.iam.gserviceaccount.com"


def grants_to(run: StackRun, type_: str, identity: str) -> list[dict[str, Any]]:
    return [r.inputs for r in run.of_type(type_) if r.inputs.get("member") == f"serviceAccount:{email(identity)}"]


# --- state and keys -------------------------------------------------------------------------------

def test_state_bucket_is_versioned_private_and_protected(bootstrap: StackRun) -> None:
    bucket = bootstrap.one("gcp:storage/bucket:Bucket")
    assert bucket.protect
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["forceDestroy"] is False
    assert bucket.inputs["project"] == HOST and bucket.inputs["location"] == CONFIG["gcp:region"]
    assert bootstrap.outputs["stateBucket"] == f"gs://{bucket.inputs['name']}"
    assert "gcp:projects/service:Service:bootstrap-apis-storage" in bootstrap.deps_of(bucket)


@pytest.mark.parametrize("overrides, days, newer", [
    ({}, 30, 10),
    ({"image-sharing-bootstrap:stateNoncurrentDays": "90", "image-sharing-bootstrap:stateNewerVersions": "3"}, 90, 3),
])
def test_replaced_state_versions_expire_only_when_old_and_superseded(overrides: dict[str, str], days: int,
                                                                      newer: int) -> None:
    bucket = run_stack("ci", project_dir=BOOTSTRAP, overrides=overrides).one("gcp:storage/bucket:Bucket")
    # One rule, so both conditions must hold: never the live object, never a recent or a last few version.
    assert bucket.inputs["lifecycleRules"] == [{
        "action": {"type": "Delete"},
        "condition": {"withState": "ARCHIVED", "daysSinceNoncurrentTime": days, "numNewerVersions": newer}}]


def test_a_zero_retention_is_refused() -> None:
    """The provider drops a 0 condition, which would delete every replaced version at once."""
    with pytest.raises(SettingsError) as err:
        run_stack("ci", project_dir=BOOTSTRAP, overrides={"image-sharing-bootstrap:stateNewerVersions": "0",
                                                          "image-sharing-bootstrap:stateNoncurrentDays": "0"})
    assert sorted(p.key for p in err.value.problems) == [
        "image-sharing-bootstrap:stateNewerVersions", "image-sharing-bootstrap:stateNoncurrentDays"]


def test_one_protected_undeletable_key_per_stack(bootstrap: StackRun) -> None:
    rings = {r.inputs["name"]: r for r in bootstrap.of_type("gcp:kms/keyRing:KeyRing")}
    keys = bootstrap.of_type("gcp:kms/cryptoKey:CryptoKey")
    assert sorted(rings) == ["pulumi-dev", "pulumi-prod"]
    assert len(keys) == 2 and all(r.protect for r in [*rings.values(), *keys])
    for key in keys:
        assert key.inputs["deletionPolicy"] == "PREVENT"  # refuses deletion even unprotected
        assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
        assert int(key.inputs["rotationPeriod"].rstrip("s")) > 86400  # KMS refuses a day or less
    providers = bootstrap.outputs["secretsProviders"]
    for stack in ("dev", "prod"):
        assert providers[stack] == (f"gcpkms://projects/{HOST}/locations/{CONFIG['gcp:region']}/keyRings/"
                                    f"pulumi-{stack}/cryptoKeys/stack-secrets")


def test_each_stack_key_is_used_only_by_its_own_identities_and_only_to_decrypt(bootstrap: StackRun) -> None:
    key_ids = {r.name.removesuffix("-key"): f"{r.name}-id" for r in bootstrap.of_type("gcp:kms/cryptoKey:CryptoKey")}
    uses = {(r.inputs["cryptoKeyId"], r.inputs["member"], r.inputs["role"])
            for r in bootstrap.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")}
    assert uses == {
        (key_ids["dev"], f"serviceAccount:{email('dev-preview')}", "roles/cloudkms.cryptoKeyDecrypter"),
        (key_ids["dev"], f"serviceAccount:{email('dev-deploy')}", "roles/cloudkms.cryptoKeyDecrypter"),
        (key_ids["prod"], f"serviceAccount:{email('prod-preview')}", "roles/cloudkms.cryptoKeyDecrypter"),
        (key_ids["prod"], f"serviceAccount:{email('prod-deploy')}", "roles/cloudkms.cryptoKeyDecrypter"),
    }


def test_previews_read_state_and_deployers_write_only_their_own_stack(bootstrap: StackRun) -> None:
    bucket = bootstrap.one("gcp:storage/bucket:Bucket").inputs["name"]
    for identity in IDENTITIES:
        grants = grants_to(bootstrap, "gcp:storage/bucketIAMMember:BucketIAMMember", identity)
        by_role = {g["role"]: g for g in grants}
        assert STATE_READER in by_role and ("condition" in by_role[STATE_READER]) == (identity == "dev-preview")
        if identity.endswith("preview"):
            assert set(by_role) == {STATE_READER}
            continue
        assert set(by_role) == {STATE_READER, STATE_WRITER}
        condition = by_role[STATE_WRITER]["condition"]["expression"]
        stack = identity.split("-")[0]
        other = "prod" if stack == "dev" else "dev"
        prefixes = re.findall(r"startsWith\('([^']+)'\)", condition)
        objects = f"projects/_/buckets/{bucket}/objects/.pulumi"
        assert prefixes == [f"{objects}/stacks/image-sharing/{stack}.json", f"{objects}/backups/image-sharing/{stack}/",
                            f"{objects}/history/image-sharing/{stack}/",
                            f"{objects}/locks/organization/image-sharing/{stack}/"]
        assert not any(f"/{other}" in p for p in prefixes)
        # The objects the CLI writes for the stack (lock.go, store.go, state.go), and the other stack's.
        lock_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
        own = [f".pulumi/stacks/image-sharing/{stack}.json", f".pulumi/stacks/image-sharing/{stack}.json.gz.bak",
               f".pulumi/locks/organization/image-sharing/{stack}/{lock_id}.json",
               f".pulumi/history/image-sharing/{stack}/{stack}-1700000000.history.json",
               f".pulumi/backups/image-sharing/{stack}/{stack}.1700000000.json"]
        assert [o for o in own if not allows(condition, f"projects/_/buckets/{bucket}/objects/{o}")] == []
        theirs = [o.replace(f"/{stack}", f"/{other}") for o in own] + [f".pulumi/stacks/image-sharing/{stack}2.json"]
        assert [o for o in theirs if allows(condition, f"projects/_/buckets/{bucket}/objects/{o}")] == []


def allows(condition: str, resource_name: str) -> bool:
    """Evaluates an IAM condition on Cloud Storage as IAM does, for a resource of that name."""
    env = celpy.Environment()
    program = env.program(env.compile(condition))
    return bool(program.evaluate({"resource": celpy.json_to_cel({"name": resource_name})}))


def test_pull_requests_read_dev_state_only(bootstrap: StackRun) -> None:
    """ci-dev-preview runs unreviewed code: prod's state (its outputs, resource inputs) stays unreadable."""
    bucket = bootstrap.one("gcp:storage/bucket:Bucket").inputs["name"]
    [read] = [g for g in grants_to(bootstrap, "gcp:storage/bucketIAMMember:BucketIAMMember", "dev-preview")
              if g["role"] == STATE_READER]
    condition = read["condition"]["expression"]
    objects = f"projects/_/buckets/{bucket}/objects/"
    allowed = [f"projects/_/buckets/{bucket}"] + [objects + o for o in (
        ".pulumi/meta.yaml", ".pulumi/stacks/image-sharing/dev.json", ".pulumi/stacks/image-sharing/dev.json.bak",
        ".pulumi/locks/organization/image-sharing/dev/0f8fad5b.json",
        ".pulumi/history/image-sharing/dev/dev-1700000000.history.json")]
    refused = [objects + o for o in (
        ".pulumi/stacks/image-sharing/prod.json", ".pulumi/stacks/image-sharing/prod.json.bak",
        ".pulumi/backups/image-sharing/prod/prod.1700000000.json",
        ".pulumi/history/image-sharing/prod/prod-1700000000.checkpoint.json",
        ".pulumi/stacks/image-sharing/dev2.json", ".pulumi/meta.yaml.bak", "other/file")]
    assert [n for n in allowed if not allows(condition, n)] == []
    assert [n for n in refused if allows(condition, n)] == []


# --- federation -------------------------------------------------------------------------------------

def token(**claims: str) -> dict[str, str]:
    """The claims GitHub puts in a run's OIDC token that the conditions read."""
    base = {"repository": REPO, "repository_id": REPO_ID, "ref": "refs/heads/main", "ref_type": "branch",
            "sub": f"repo:{REPO}:ref:refs/heads/main", "event_name": "push",
            "workflow_ref": f"{REPO}/.github/workflows/deploy.yml@refs/heads/main"}
    return {**base, **claims}


PULL_REQUEST = token(ref="refs/pull/7/merge", sub=f"repo:{REPO}:pull_request", event_name="pull_request",
                     workflow_ref=f"{REPO}/.github/workflows/pull-request.yml@refs/pull/7/merge")
PROD = {"environment": "prod", "sub": f"repo:{REPO}:environment:prod"}
PROD_PREVIEW = {"environment": "prod-preview", "sub": f"repo:{REPO}:environment:prod-preview"}
MAIN_IN = {env: token(environment=env, sub=f"repo:{REPO}:environment:{env}") for env in ("dev", "prod-preview", "prod")}
RUNS = {
    "pull request": PULL_REQUEST,
    "pull request naming environment prod": token(ref="refs/pull/7/merge", environment="prod",
                                                  sub=f"repo:{REPO}:environment:prod"),
    "feature branch in environment prod": token(ref="refs/heads/feature", environment="prod",
                                                sub=f"repo:{REPO}:environment:prod"),
    "tag named main in environment prod": token(ref="refs/tags/main", ref_type="tag", environment="prod",
                                                sub=f"repo:{REPO}:environment:prod"),
    "main without environment": token(),
    **{f"main in {env}": claims for env, claims in MAIN_IN.items()},
    "same name, other repository id": token(repository_id="999", environment="prod",
                                            sub=f"repo:{REPO}:environment:prod"),
    "other repository": token(repository="someone/else", environment="prod", sub="repo:someone/else:environment:prod"),
    # pull_request_target runs the base branch's workflow on main, with a pull request's input at hand.
    "pull_request_target workflow on main in prod-preview": token(
        **PROD_PREVIEW, event_name="pull_request_target",
        workflow_ref=f"{REPO}/.github/workflows/label.yml@refs/heads/main"),
    "deploy.yml on main, event pull_request_target": token(**PROD_PREVIEW, event_name="pull_request_target"),
    "another workflow pushed on main in prod": token(
        **PROD, workflow_ref=f"{REPO}/.github/workflows/other.yml@refs/heads/main"),
    "deploy.yml of a feature branch in prod": token(
        **PROD, workflow_ref=f"{REPO}/.github/workflows/deploy.yml@refs/heads/feature"),
    "deploy.yml dispatched on main in prod": token(**PROD, event_name="workflow_dispatch"),
    "deploy.yml scheduled on main in prod": token(**PROD, event_name="schedule"),
    "main in prod without workflow claims": {k: v for k, v in token(**PROD).items()
                                              if k not in ("workflow_ref", "event_name")},
}


def accepts(provider: Any, claims: dict[str, str]) -> bool:
    """Evaluates the provider's attribute condition as STS does; an error (missing claim) refuses."""
    env = celpy.Environment()
    program = env.program(env.compile(provider.inputs["attributeCondition"]))
    try:
        return bool(program.evaluate({"assertion": celpy.json_to_cel(claims)}))
    except celpy.CELEvalError:
        return False


def principals(provider: Any, claims: dict[str, str]) -> set[str]:
    """The IAM principals a token accepted by `provider` is: its subject and its attribute sets."""
    pool = f"projects/123456789012/locations/global/workloadIdentityPools/{provider.inputs['workloadIdentityPoolId']}"
    mapping = provider.inputs["attributeMapping"]
    found = {f"principal://iam.googleapis.com/{pool}/subject/{claims['sub']}"}
    for attribute, expression in mapping.items():
        claim = expression.removeprefix("assertion.")
        if attribute.startswith("attribute.") and claim in claims:
            found.add(f"principalSet://iam.googleapis.com/{pool}/{attribute}/{claims[claim]}")
    return found


def who_can_become(run: StackRun, claims: dict[str, str]) -> set[str]:
    bindings = {r.inputs["member"]: r.name.removesuffix("-federated")
                for r in run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
                if r.inputs["role"] == "roles/iam.workloadIdentityUser"}
    identities: set[str] = set()
    for provider in run.of_type("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"):
        if accepts(provider, claims):
            identities |= {bindings[p] for p in principals(provider, claims) if p in bindings}
    return identities


@pytest.mark.parametrize("run_name, expected", [
    ("pull request", {"dev-preview"}),
    ("pull request naming environment prod", {"dev-preview"}),
    ("feature branch in environment prod", {"dev-preview"}),
    ("tag named main in environment prod", {"dev-preview"}),
    ("main without environment", {"dev-preview"}),
    ("main in dev", {"dev-preview", "dev-deploy"}),
    ("main in prod-preview", {"dev-preview", "prod-preview"}),
    ("main in prod", {"dev-preview", "prod-deploy"}),
    ("same name, other repository id", set()),
    ("other repository", set()),
    ("pull_request_target workflow on main in prod-preview", {"dev-preview"}),
    ("deploy.yml on main, event pull_request_target", {"dev-preview"}),
    ("another workflow pushed on main in prod", {"dev-preview"}),
    ("deploy.yml of a feature branch in prod", {"dev-preview"}),
    ("deploy.yml dispatched on main in prod", {"dev-preview", "prod-deploy"}),
    ("deploy.yml scheduled on main in prod", {"dev-preview"}),
    ("main in prod without workflow claims", {"dev-preview"}),
])
def test_who_can_become_which_identity(bootstrap: StackRun, run_name: str, expected: set[str]) -> None:
    assert who_can_become(bootstrap, RUNS[run_name]) == expected


def test_federation_providers_trust_github_with_conditions_on_the_repository(bootstrap: StackRun) -> None:
    providers = {r.inputs["workloadIdentityPoolId"]: r.inputs
                 for r in bootstrap.of_type("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")}
    assert sorted(providers) == sorted([CI_POOL, MAIN_POOL])
    for provider in providers.values():
        assert provider["oidc"] == {"issuerUri": "https://token.actions.githubusercontent.com"}
        assert provider["attributeMapping"]["google.subject"] == "assertion.sub"
        assert f"assertion.repository_id == '{REPO_ID}'" in provider["attributeCondition"]
        assert f"assertion.repository == '{REPO}'" in provider["attributeCondition"]
    assert "assertion.ref == 'refs/heads/main'" in providers[MAIN_POOL]["attributeCondition"]
    assert all(p.protect for p in bootstrap.of_type("gcp:iam/workloadIdentityPool:WorkloadIdentityPool"))


def test_pools_and_providers_are_protected(bootstrap: StackRun) -> None:
    """Their ids stay reserved for 30 days after a deletion."""
    federation = [*bootstrap.of_type("gcp:iam/workloadIdentityPool:WorkloadIdentityPool"),
                  *bootstrap.of_type("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")]
    assert len(federation) == 4 and [r.name for r in federation if not r.protect] == []


def documented_limits(cls: type) -> dict[str, int]:
    """camelCase input -> the length the installed SDK's docstring says it cannot exceed."""
    import inspect

    found = re.findall(r":param [\w.\[\]]+ (\w+): [^\n]*?Cannot exceed (\d+) characters", inspect.getsource(cls))
    return {re.sub(r"_(\w)", lambda m: m[1].upper(), name): int(limit) for name, limit in found}


def test_the_sdk_documents_the_name_limits() -> None:
    import pulumi_gcp

    for cls in (pulumi_gcp.iam.WorkloadIdentityPool, pulumi_gcp.iam.WorkloadIdentityPoolProvider):
        assert documented_limits(cls) == {"displayName": 32, "description": 256}


@pytest.mark.parametrize("branch", ["main", "release/" + "x" * 92])
def test_pool_and_provider_names_fit_the_documented_limits(branch: str) -> None:
    import pulumi_gcp

    run = run_stack("ci", project_dir=BOOTSTRAP, overrides={"image-sharing-bootstrap:mainBranch": branch})
    checked = 0
    for cls, type_ in ((pulumi_gcp.iam.WorkloadIdentityPool, "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"),
                       (pulumi_gcp.iam.WorkloadIdentityPoolProvider,
                        "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")):
        for resource in run.of_type(type_):
            for field, limit in documented_limits(cls).items():
                assert 0 < len(resource.inputs[field]) <= limit, (resource.name, field, resource.inputs[field])
                checked += 1
    assert checked == 8


def test_the_deploy_pool_trusts_the_deploy_workflow_on_its_own_events() -> None:
    from foundation.federation import DEPLOY_EVENTS, DEPLOY_WORKFLOW

    deploy = yaml.safe_load((ROOT / DEPLOY_WORKFLOW).read_text())
    assert sorted(deploy[True]) == sorted(DEPLOY_EVENTS)  # YAML reads the key `on` as True


def test_federation_waits_for_the_apis_it_calls(bootstrap: StackRun) -> None:
    for pool in bootstrap.of_type("gcp:iam/workloadIdentityPool:WorkloadIdentityPool"):
        assert {"gcp:projects/service:Service:bootstrap-apis-iam",
                "gcp:projects/service:Service:bootstrap-apis-sts"} <= bootstrap.deps_of(pool)


# --- roles --------------------------------------------------------------------------------------------

def test_previews_hold_read_only_roles_on_their_own_project(bootstrap: StackRun) -> None:
    for stack in ("dev", "prod"):
        grants = grants_to(bootstrap, "gcp:projects/iAMMember:IAMMember", f"{stack}-preview")
        assert {(g["project"], g["role"]) for g in grants} == {
            (PROJECTS[stack], "roles/viewer"), (PROJECTS[stack], "roles/serviceusage.serviceUsageConsumer")}
        assert not any("condition" in g for g in grants)


# Roles holding secretmanager.versions.access (Google's Secret Manager role reference), basic roles
# included to be safe; roles/viewer has no Secret Manager payload access.
SECRET_PAYLOAD_READERS = {"roles/secretmanager.secretAccessor", "roles/secretmanager.admin", "roles/owner",
                          "roles/editor"}


def test_the_pull_request_identity_cannot_read_the_token_secrets(bootstrap: StackRun) -> None:
    """A same-repository pull request runs its own code as ci-dev-preview: it must reach neither the
    GitHub nor the Docker Hub token. They are no stack secrets (settings refuse them), and no grant
    anywhere gives the preview identities a role that reads Secret Manager payloads."""
    for identity in ("dev-preview", "prod-preview"):
        member = f"serviceAccount:{email(identity)}"
        grants = [(r.type, r.inputs["role"]) for r in bootstrap.resources
                  if r.type.endswith(("IAMMember", "IamMember")) and r.inputs.get("member") == member]
        assert grants and not [g for g in grants if g[1] in SECRET_PAYLOAD_READERS], grants
        assert not [g for g in grants if "secretmanager" in g[0].lower()]


def test_deployers_hold_the_derived_roles_on_their_own_project_only(bootstrap: StackRun) -> None:
    for stack in ("dev", "prod"):
        grants = grants_to(bootstrap, "gcp:projects/iAMMember:IAMMember", f"{stack}-deploy")
        assert sorted(g["role"] for g in grants) == list(roles.deploy_roles())
        assert {g["project"] for g in grants} == {PROJECTS[stack]}
        conditions = {g["role"]: g["condition"]["expression"] for g in grants if "condition" in g}
        assert conditions == {
            roles.PROJECT_IAM: "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
                               ".hasOnly(['roles/logging.logWriter', 'roles/monitoring.metricWriter', "
                               "'roles/cloudbuild.builds.approver', 'roles/ondemandscanning.admin', "
                               "'roles/servicedirectory.pscAuthorizedService'])",
            roles.STORAGE_ADMIN: roles.storage_condition(f"{HOST}-pulumi-state"),
        }
    assert bootstrap.outputs["deployRoles"] == list(roles.deploy_roles())


@pytest.mark.parametrize("resource_name, allowed", [
    ("projects/_/buckets/state", False),
    ("projects/_/buckets/state/objects/.pulumi/stacks/image-sharing/prod.json", False),
    ("projects/_/buckets/state2", True),  # a bucket whose name only starts with the state bucket's
    ("projects/_/buckets/state2/objects/docker/registry/v2/x", True),
    ("projects/_/buckets/registry", True),
])
def test_the_storage_admin_condition_excludes_the_state_bucket_only(resource_name: str, allowed: bool) -> None:
    assert allows(roles.storage_condition("state"), resource_name) is allowed


def test_no_identity_is_owner_editor_or_token_creator(bootstrap: StackRun) -> None:
    every = {r.inputs["role"] for r in bootstrap.resources if r.custom and "role" in r.inputs}
    assert not every & {"roles/owner", "roles/editor", "roles/iam.serviceAccountTokenCreator",
                        "roles/iam.serviceAccountKeyAdmin"}
    broad = [r for r in bootstrap.resources if r.inputs.get("role") in {roles.STORAGE_ADMIN, roles.PROJECT_IAM}]
    assert broad and all("condition" in r.inputs for r in broad)


def test_identities_live_in_the_bootstrap_project_and_wait_for_iam(bootstrap: StackRun) -> None:
    accounts = {r.inputs["accountId"]: r for r in bootstrap.of_type("gcp:serviceaccount/account:Account")}
    assert sorted(accounts) == sorted(f"ci-{i}" for i in IDENTITIES)
    for account in accounts.values():
        assert account.inputs["project"] == HOST
        assert "gcp:projects/service:Service:bootstrap-apis-iam" in bootstrap.deps_of(account)


def test_bootstrap_apis_are_enabled_and_never_disabled(bootstrap: StackRun) -> None:
    services = bootstrap.of_type("gcp:projects/service:Service")
    host = {s.inputs["service"] for s in services if s.inputs["project"] == HOST}
    assert host == set(BOOTSTRAP_APIS) == {f"{api}.googleapis.com" for api in (
        "serviceusage", "cloudresourcemanager", "iam", "iamcredentials", "sts", "cloudkms", "storage")}
    # Each stack's project (not the bootstrap's) gets the two a deployer needs to enable the rest itself.
    assert HOST not in PROJECTS.values()
    for stack in ("dev", "prod"):
        enabled = {s.inputs["service"] for s in services if s.inputs["project"] == PROJECTS[stack]}
        assert enabled == {"serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com"}
    assert all(s.inputs["disableOnDestroy"] is False for s in services)


# --- the commands it prints ----------------------------------------------------------------------------

def produced_variables(run: StackRun) -> dict[tuple[str, str | None], str]:
    """(NAME, environment or None) -> value, read back from the printed `gh variable set` commands."""
    produced: dict[tuple[str, str | None], str] = {}
    for command in run.outputs["githubVariables"].splitlines():
        args = shlex.split(command)
        assert args[:3] == ["gh", "variable", "set"] and args[4:6] == ["--repo", REPO]
        options = dict(zip(args[4::2], args[5::2], strict=True))
        assert set(options) <= {"--repo", "--body", "--env"}
        produced[(args[3], options.get("--env"))] = options["--body"]
    return produced


def workflow_reads() -> set[tuple[str, str | None]]:
    """(NAME, the job's environment or None) for every `vars.NAME` a workflow job reads."""
    reads = set()
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for name in re.findall(r"\bvars\.([A-Za-z0-9_]+)", yaml.safe_dump(job)):
                reads.add((name, job.get("environment")))
    return reads


def unmatched(reads: set[tuple[str, str | None]], produced: set[tuple[str, str | None]]) -> list[str]:
    """GitHub resolves a variable in a job from its environment first, then the repository."""
    problems = [f"{name} read in {env or 'the repository'} is never set" for name, env in sorted(reads, key=str)
                if (name, env) not in produced and (name, None) not in produced]
    problems += [f"{name} set for {env or 'the repository'} is never read" for name, env in sorted(produced, key=str)
                 if not any(n == name and (env is None or e == env) for n, e in reads)]
    return problems


def test_bootstrap_sets_exactly_the_variables_the_workflows_read(bootstrap: StackRun) -> None:
    assert unmatched(workflow_reads(), set(produced_variables(bootstrap))) == []


@pytest.mark.parametrize("read, produced, problem", [
    ({("NEW_VAR", None)}, set(), "NEW_VAR read in the repository is never set"),
    ({("GCP_SERVICE_ACCOUNT", "prod")}, {("GCP_SERVICE_ACCOUNT", "dev")}, "GCP_SERVICE_ACCOUNT read in prod"),
    (set(), {("STALE", "prod")}, "STALE set for prod is never read"),
])
def test_a_variable_mismatch_is_found(read: set[Any], produced: set[Any], problem: str) -> None:
    assert any(p.startswith(problem) for p in unmatched(read, produced))


def test_variables_hand_each_environment_its_own_identity(bootstrap: StackRun) -> None:
    produced = produced_variables(bootstrap)
    accounts = bootstrap.outputs["serviceAccounts"]
    assert produced[("GCP_PREVIEW_SERVICE_ACCOUNT", None)] == accounts["dev-preview"]
    for env, identity in (("dev", "dev-deploy"), ("prod-preview", "prod-preview"), ("prod", "prod-deploy")):
        assert produced[("GCP_SERVICE_ACCOUNT", env)] == accounts[identity]
    assert produced[("GCP_WORKLOAD_IDENTITY_PROVIDER", None)].endswith(
        f"/workloadIdentityPools/{CI_POOL}/providers/github")
    assert produced[("GCP_MAIN_WORKLOAD_IDENTITY_PROVIDER", None)].endswith(
        f"/workloadIdentityPools/{MAIN_POOL}/providers/github")
    assert produced[("PULUMI_BACKEND_URL", None)] == bootstrap.outputs["stateBucket"]


def test_stack_init_commands_use_the_bucket_and_each_stack_key(bootstrap: StackRun) -> None:
    export, *inits = bootstrap.outputs["stackInit"].splitlines()
    assert export == f"export PULUMI_BACKEND_URL={bootstrap.outputs['stateBucket']}"
    providers = bootstrap.outputs["secretsProviders"]
    assert [shlex.split(c) for c in inits] == [
        ["pulumi", "stack", "init", stack, "--secrets-provider", providers[stack]] for stack in ("dev", "prod")]


def environment_bodies(run: StackRun) -> dict[str, dict[str, Any]]:
    """Environment -> the JSON body its printed `printf '%s' BODY | gh api --method PUT PATH --input -` sends."""
    bodies = {}
    for command in run.outputs["githubEnvironments"].splitlines():
        if " | " not in command:
            continue
        printf, gh = (shlex.split(part) for part in command.split(" | "))
        assert printf[:2] == ["printf", "%s"] and len(printf) == 3
        assert gh[:4] == ["gh", "api", "--method", "PUT"] and gh[5:] == ["--input", "-"]
        bodies[gh[4].removeprefix(f"repos/{REPO}/environments/")] = json.loads(printf[2])
    return bodies


def test_environments_are_created_deployable_from_main_only(bootstrap: StackRun) -> None:
    commands = [shlex.split(c) for c in bootstrap.outputs["githubEnvironments"].splitlines() if " | " not in c]
    bodies = environment_bodies(bootstrap)
    assert list(bodies) == ["dev", "prod-preview", "prod"]
    assert all(b["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}
               for b in bodies.values())
    # GitHub lets repository admins skip an environment's rules unless told not to (default true).
    assert [env for env, b in bodies.items() if b.get("can_admins_bypass") is not False] == []
    assert [c[4] for c in commands] == [
        f"repos/{REPO}/environments/{env}/deployment-branch-policies" for env in bodies]
    assert all(c[:4] == ["gh", "api", "--method", "POST"] and c[5:] == ["-f", "name=main", "-f", "type=branch"]
               for c in commands)


def test_prod_waits_for_a_reviewer_who_did_not_start_the_run() -> None:
    run = run_stack("ci", project_dir=BOOTSTRAP, overrides={
        "image-sharing-bootstrap:prodReviewers": "User:1234567,Team:89"})
    bodies = environment_bodies(run)
    assert bodies["prod"]["prevent_self_review"] is True
    assert bodies["prod"]["reviewers"] == [{"type": "User", "id": 1234567}, {"type": "Team", "id": 89}]
    assert [env for env, body in bodies.items() if "reviewers" in body] == ["prod"]


@pytest.mark.parametrize("reviewers", ["", "user:1", "User:alice", "User:1,", ",".join(["User:1"] * 7)])
def test_bad_reviewers_are_refused(reviewers: str) -> None:
    with pytest.raises(SettingsError) as err:
        run_stack("ci", project_dir=BOOTSTRAP, overrides={"image-sharing-bootstrap:prodReviewers": reviewers})
    assert [p.key for p in err.value.problems] == ["image-sharing-bootstrap:prodReviewers"]


def expand_in_sh(command: str, tmp_path: Any) -> list[str]:
    """The argv a real shell runs for `command`, with a stand-in gcloud that answers `projects describe`
    with a project number and prints every other call's arguments, one a line."""
    import subprocess

    stub = tmp_path / "gcloud"
    stub.write_text('#!/bin/sh\nif [ "$1 $2" = "projects describe" ]; then echo 123456789012; exit; fi\n'
                    'printf "%s\\n" gcloud "$@"\n')
    stub.chmod(0o755)
    result = subprocess.run(["sh", "-c", command], env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
                            capture_output=True, text=True, check=True, timeout=30)
    return result.stdout.splitlines()


def test_the_default_compute_account_loses_editor_by_a_printed_command(bootstrap: StackRun, tmp_path: Any) -> None:
    commands = bootstrap.outputs["defaultComputeEditorRemoval"].splitlines()
    assert len(commands) == 2
    for stack, command in zip(("dev", "prod"), commands, strict=True):
        assert expand_in_sh(command, tmp_path) == [
            "gcloud", "projects", "remove-iam-policy-binding", PROJECTS[stack],
            "--member", "serviceAccount:123456789012-compute@developer.gserviceaccount.com",
            "--role", "roles/editor", "--condition", "None"]


@pytest.mark.integration
def test_the_printed_editor_removal_parses_in_gcloud(bootstrap: StackRun, tmp_path: Any) -> None:
    from tests.gcloud_cli import refusal

    for command in bootstrap.outputs["defaultComputeEditorRemoval"].splitlines():
        inner = re.search(r"\$\((gcloud .+?)\)-compute@", command)
        assert inner and refusal(inner[1]) is None
        assert refusal(shlex.join(expand_in_sh(command, tmp_path))) is None


# --- settings ------------------------------------------------------------------------------------------

def test_every_bad_value_is_reported_at_once_before_any_resource() -> None:
    with pytest.raises(SettingsError) as err:
        run_stack("ci", project_dir=BOOTSTRAP, overrides={
            "gcp:project": "Bad_Project",
            "image-sharing-bootstrap:githubRepository": "not a repo",
            "image-sharing-bootstrap:githubRepositoryId": "0",
            "image-sharing-bootstrap:stacks": json.dumps({"dev": {"project": "acme-images-dev"}, "prd": {}}),
            "image-sharing-bootstrap:stateBuckt": "x",
        })
    keys = [p.key for p in err.value.problems]
    assert sorted(keys) == sorted([
        "gcp:project", "image-sharing-bootstrap:githubRepository", "image-sharing-bootstrap:githubRepositoryId",
        "image-sharing-bootstrap:stacks.prd", "image-sharing-bootstrap:stacks.prod",
        "image-sharing-bootstrap:stateBuckt"])
    assert "did you mean 'stateBucket'?" in str(err.value)
    assert registered_by_last_failure() == []


def test_the_shipped_placeholders_are_refused_each_by_its_key() -> None:
    """bootstrap/Pulumi.ci.yaml as it comes: every value a newcomer must replace is named, with where its
    real value comes from; nothing is registered."""
    shipped = yaml.safe_load((BOOTSTRAP / "Pulumi.ci.yaml").read_text())["config"]
    with pytest.raises(SettingsError) as err:
        run_stack("ci", project_dir=BOOTSTRAP, overrides=shipped)
    ns = "image-sharing-bootstrap"
    assert sorted(p.key for p in err.value.problems) == sorted(
        key if key.startswith("gcp:") else f"{ns}:{key}" for key in PLACEHOLDERS)
    message = str(err.value)
    assert (f'{ns}:githubRepositoryId = 123456789: expected your repository\'s id: `gh api repos/OWNER/REPO --jq .id`; '
            "123456789 is the placeholder bootstrap/Pulumi.ci.yaml ships with") in message
    assert f"{ns}:stacks.prod.project = 'image-sharing-prod': expected the project prod deploys into" in message
    assert registered_by_last_failure() == []


def test_the_placeholders_are_the_shipped_values() -> None:
    shipped = yaml.safe_load((BOOTSTRAP / "Pulumi.ci.yaml").read_text())["config"]
    for key, (placeholder, _) in PLACEHOLDERS.items():
        value = shipped.get(key) if key.startswith("gcp:") else shipped["image-sharing-bootstrap:" + key.split(".")[0]]
        for part in key.split(".")[1:] if not key.startswith("gcp:") else ():
            value = value[part]
        assert value == placeholder, key


def test_required_keys_are_named_when_missing() -> None:
    with pytest.raises(SettingsError) as err:
        run_stack("ci", project_dir=BOOTSTRAP, drop=("image-sharing-bootstrap:githubRepositoryId", "gcp:project"))
    assert sorted(p.key for p in err.value.problems) == [
        "gcp:project", "image-sharing-bootstrap:githubRepositoryId"]
    assert "gh api repos/OWNER/REPO --jq .id" in str(err.value)


@pytest.mark.parametrize("dev, prod, bad_key", [
    ("image-sharing-one", "image-sharing-one", "stacks.prod.project"),
    (HOST, "image-sharing-other", "stacks.dev.project"),
    ("image-sharing-other", HOST, "stacks.prod.project"),  # prod's deployer could rewrite the CI identities
])
def test_stacks_need_projects_of_their_own(dev: str, prod: str, bad_key: str) -> None:
    with pytest.raises(SettingsError) as err:
        run_stack("ci", project_dir=BOOTSTRAP, overrides={
            "image-sharing-bootstrap:stacks": json.dumps({"dev": {"project": dev}, "prod": {"project": prod}})})
    assert [p.key for p in err.value.problems] == [f"image-sharing-bootstrap:{bad_key}"]
    assert registered_by_last_failure() == []
    if HOST in (dev, prod):
        assert "give the bootstrap a project of its own" in str(err.value)


def test_the_stack_file_runs_as_committed(bootstrap: StackRun) -> None:
    assert len(bootstrap.custom) > 40 and bootstrap.outputs["stateBucket"] == f"gs://{HOST}-pulumi-state"


def test_the_policy_pack_finds_nothing_and_would_catch_an_open_bucket(bootstrap: StackRun) -> None:
    from tests.test_policy import check_stack

    assert check_stack(bootstrap) == {}
    tampered = run_stack("ci", project_dir=BOOTSTRAP)
    tampered.one("gcp:storage/bucket:Bucket").inputs["publicAccessPrevention"] = "inherited"
    assert list(check_stack(tampered)) == ["bucket-private"]


def _settings_rows(cls: type, prefix: str) -> dict[str, object]:
    """Every leaf key of a bootstrap settings dataclass with its default (MISSING: required)."""
    import dataclasses
    import typing

    from stackconfig.reader import camel

    rows: dict[str, object] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            rows |= _settings_rows(hints[f.name], f"{prefix}{camel(f.name)}.")
        else:
            rows[prefix + camel(f.name)] = f.default
    return rows


def test_the_docs_table_lists_every_bootstrap_key_with_its_default() -> None:
    import dataclasses

    from foundation.settings import BootstrapSettings, GcpSettings

    page = (ROOT / "docs" / "bootstrap.md").read_text().split("## Configuration")[1].split("\n## ")[0]
    documented = {m[1]: m[2].strip() for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \|", page, re.M)}
    expected = _settings_rows(GcpSettings, "gcp:") | _settings_rows(BootstrapSettings, "image-sharing-bootstrap:")
    assert set(documented) == set(expected)
    for key, default in expected.items():
        if default is dataclasses.MISSING:
            assert documented[key] == "(required)", key
        elif default is not None:
            assert documented[key] == f"`{json.dumps(default)}`", key


def test_the_docs_name_every_deploy_role() -> None:
    page = (ROOT / "docs" / "bootstrap.md").read_text()
    documented = set(re.findall(r"`(roles/[A-Za-z0-9.]+)`", page.split("The deploy roles")[1].split("Check what")[0]))
    outside = {text.split()[0] for text in roles.OUTSIDE_PROJECT.values()}
    assert documented == set(roles.deploy_roles()) | outside | set(roles.GRANTABLE_PROJECT_ROLES)


def test_the_deploying_branch_is_the_one_the_workflows_deploy_from() -> None:
    from foundation.settings import BootstrapSettings

    branch = BootstrapSettings.__dataclass_fields__["main_branch"].default
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    assert deploy[True]["push"]["branches"] == [branch]
    assert {job["if"] for job in deploy["jobs"].values()} == {f"github.ref == 'refs/heads/{branch}'"}
