"""The GitHub workflows: actionlint and zizmor (the real linters) pass; every action is pinned to a commit;
no checkout keeps the token; jobs holding a cloud identity install only hash-locked dependencies; no
expression reaches a shell; previews carry the policy pack; dev and prod queue apart; prod waits for an
approved environment and applies exactly the plan that was previewed; pull requests reach no prod secret
and no deploy identity."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import ROOT
from tests.peers import binary

WORKFLOWS = ROOT / ".github" / "workflows"
# `owner/repo@<40 hex>  # vX.Y.Z`: a tag can be moved to other code, a commit cannot; the comment is
# what Dependabot and a reader go by.
PINNED_LINE = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40})  # (v\d+\.\d+\.\d+)$")


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def steps() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.name}:{job_name}", step) for path in sorted(WORKFLOWS.glob("*.yml"))
            for job_name, job in load(path.name)["jobs"].items() for step in job["steps"]]


def test_there_are_workflows() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == ["deploy.yml", "pull-request.yml"]


def pin_violations(text: str) -> list[str]:
    """Every `uses:` line that is not a full commit SHA with its version in a comment, and every action
    pinned to two different commits."""
    lines = [line for line in text.splitlines() if re.match(r"^\s*(?:- )?uses:", line)]
    bad = [line.strip() for line in lines if not PINNED_LINE.match(line)]
    commits: dict[str, set[tuple[str, str]]] = {}
    for line in lines:
        if found := PINNED_LINE.match(line):
            commits.setdefault(found[1], set()).add((found[2], found[3]))
    return bad + [f"{action}: {sorted(pins)}" for action, pins in commits.items() if len(pins) > 1]


def test_every_action_is_pinned_to_a_commit_with_its_version() -> None:
    texts = [path.read_text() for path in sorted(WORKFLOWS.glob("*.yml"))]
    assert sum(text.count("uses:") for text in texts) == len([s for _, s in steps() if "uses" in s]) > 0
    assert [v for text in texts for v in pin_violations(text)] == []


@pytest.mark.parametrize("line", [
    "      - uses: actions/checkout@v5",
    "      - uses: actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09",
    "      - uses: actions/checkout@fbc6f399  # v5.1.0",
    "      - uses: actions/checkout@main  # v5.1.0",
])
def test_a_tag_or_short_or_uncommented_pin_is_refused(line: str) -> None:
    assert pin_violations(line) == [line.strip()]


def test_one_action_pinned_to_two_commits_is_refused() -> None:
    text = ("- uses: a/b@" + "1" * 40 + "  # v1.0.0\n" + "- uses: a/b@" + "2" * 40 + "  # v1.0.1\n")
    assert len(pin_violations(text)) == 1


def test_no_checkout_keeps_the_token() -> None:
    """actions/checkout writes the job's token into .git/config unless told not to; any later step
    (or an uploaded workspace) could read it."""
    checkouts = [(where, s) for where, s in steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 5
    assert [where for where, s in checkouts if (s.get("with") or {}).get("persist-credentials") is not False] == []


def federating_jobs() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.name}:{name}", job) for path in sorted(WORKFLOWS.glob("*.yml"))
            for name, job in load(path.name)["jobs"].items() if "id-token" in (job.get("permissions") or {})]


def test_jobs_holding_a_cloud_identity_install_only_the_hash_locked_runtime() -> None:
    jobs = federating_jobs()
    assert [where for where, _ in jobs] == ["deploy.yml:dev", "deploy.yml:prod-preview", "deploy.yml:prod",
                                            "pull-request.yml:preview"]
    for where, job in jobs:
        runs = [s["run"] for s in job["steps"] if "run" in s]
        installs = [r for r in runs if "make" in r or "pip" in r]
        assert installs == ["make deploy-setup"], where


def test_deploy_setup_installs_with_require_hashes_from_the_locks() -> None:
    """What `make deploy-setup` runs, as make itself expands it."""
    dry = subprocess.run(["make", "-n", "deploy-setup"], cwd=ROOT, capture_output=True, text=True, check=True)
    installs = [line for line in dry.stdout.splitlines() if "pip install" in line]
    assert len(installs) == 2
    for line in installs:
        assert "--require-hashes" in line and "--only-binary :all:" in line
        assert re.search(r" -r (policy/)?requirements\.lock$", line), line
    assert "requirements-dev" not in dry.stdout and "requirements.txt" not in dry.stdout


def test_the_pulumi_cli_is_pinned_to_the_locked_sdk_version() -> None:
    """CI's CLI, the Makefile's (PULUMI_VERSION, what `make up` installs) and the SDK CI installs agree."""
    locked = re.search(r"^pulumi==(\S+) ", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    makefile = re.search(r"^PULUMI_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert locked and makefile and locked[1] == makefile[1]
    actions = [s for _, s in steps() if s.get("uses", "").startswith("pulumi/actions@")]
    assert len(actions) == 6  # one per job runs a command; prod's two jobs also install the CLI alone
    assert {s["with"].get("pulumi-version") for s in actions} == {locked[1]}


def test_dev_and_prod_queue_apart_and_no_deploy_is_cancelled() -> None:
    workflow = load("deploy.yml")
    assert "concurrency" not in workflow  # one group for the whole workflow holds dev behind prod's approval
    groups = {name: job["concurrency"] for name, job in workflow["jobs"].items()}
    assert groups == {"dev": {"group": "deploy-dev", "cancel-in-progress": False},
                      "prod-preview": {"group": "deploy-prod", "cancel-in-progress": False},
                      "prod": {"group": "deploy-prod", "cancel-in-progress": False}}


def pulumi_runs(job_steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pulumi/actions steps that run a command (without one, the action only installs the CLI)."""
    return [s for s in job_steps if s.get("uses", "").startswith("pulumi/actions@") and "command" in s["with"]]


def plan_violations(workflow: dict[Any, Any]) -> list[str]:
    """Why prod's update might apply something other than the plan its approver saw; empty when it cannot."""
    jobs, found = workflow["jobs"], []
    preview, prod = jobs["prod-preview"]["steps"], jobs["prod"]["steps"]
    [saved] = pulumi_runs(preview)
    plan = saved["with"].get("plan")
    if not plan or saved["with"]["command"] != "preview":
        return ["prod-preview saves no update plan"]
    digest = [s for s in preview if "run" in s and f"sha256sum {plan}" in s["run"] and "GITHUB_OUTPUT" in s["run"]]
    uploads = [s for s in preview if s.get("uses", "").startswith("actions/upload-artifact@")
               and s["with"].get("path") == plan]
    if not digest or jobs["prod-preview"].get("outputs", {}).get("plan-sha256") != \
            f"${{{{ steps.{digest[0].get('id')}.outputs.sha256 }}}}":
        found.append("prod-preview publishes no digest of the plan")
    if not uploads or preview.index(uploads[0]) < preview.index(saved):
        found.append("prod-preview uploads no plan")
    order = {}
    for index, step in enumerate(prod):
        uses, run = step.get("uses", ""), step.get("run", "")
        if uses.startswith("actions/download-artifact@") and uploads and \
                step["with"].get("name") == uploads[0]["with"].get("name"):
            order["download"] = index
        if "sha256sum --check" in run and f"  {plan}" in run and \
                step.get("env", {}).get("PLAN_SHA256") == "${{ needs.prod-preview.outputs.plan-sha256 }}":
            order["check"] = index
        if uses.startswith("google-github-actions/auth@"):
            order["identity"] = index
        if "pulumi stack export --stack prod --file prod-state.json" in run and "sha256sum --check" in run and \
                step.get("env", {}).get("STATE_SHA256") == "${{ needs.prod-preview.outputs.state-sha256 }}":
            order["state"] = index
        if uses.startswith("pulumi/actions@") and "command" in step["with"]:
            order["up"] = index
            if step["with"].get("plan") != plan or step["with"]["command"] != "up":
                found.append("prod's update is not constrained to the plan")
    if not (order.get("download", 99) < order.get("check", 99) < order.get("identity", -1) < order.get("up", -1)):
        found.append(f"prod does not download and check the plan before it takes its identity and updates: {order}")
    # The concurrency group does not keep another run's update out between this run's preview and its
    # prod job: the state the plan was made against is recorded before the preview and compared before `up`.
    recorded = [s for s in preview if s.get("id") and "pulumi stack export --stack prod --file prod-state.json"
                in s.get("run", "") and "GITHUB_OUTPUT" in s.get("run", "")]
    if not recorded or preview.index(recorded[0]) > preview.index(saved) or \
            jobs["prod-preview"].get("outputs", {}).get("state-sha256") != \
            f"${{{{ steps.{recorded[0]['id']}.outputs.sha256 }}}}":
        found.append("prod-preview records no digest of prod's state before the plan is made")
    if not (order.get("identity", 99) < order.get("state", 99) < order.get("up", -1)):
        found.append(f"prod does not compare prod's state with the recorded one before it updates: {order}")
    return found


def test_prod_applies_exactly_the_plan_that_was_previewed() -> None:
    assert plan_violations(load("deploy.yml")) == []


def _step(workflow: dict[Any, Any], job: str, prefix: str) -> dict[str, Any]:
    """The job's first step using or running `prefix`; for pulumi/actions, the one that runs a command."""
    job_steps = workflow["jobs"][job]["steps"]
    if prefix == "pulumi/actions@":
        return pulumi_runs(job_steps)[0]
    return next(s for s in job_steps if s.get("uses", s.get("run", "")).startswith(prefix))


@pytest.mark.parametrize("mutate, reason", [
    (lambda w: _step(w, "prod", "pulumi/actions@")["with"].pop("plan"), "not constrained"),
    (lambda w: _step(w, "prod-preview", "pulumi/actions@")["with"].pop("plan"), "saves no update plan"),
    (lambda w: w["jobs"]["prod"]["steps"].remove(_step(w, "prod", "test -n")), "does not download and check"),
    (lambda w: _step(w, "prod", "test -n").update(env={"PLAN_SHA256": "0" * 64}), "does not download and check"),
    (lambda w: w["jobs"]["prod-preview"].pop("outputs"), "publishes no digest"),
    (lambda w: w["jobs"]["prod"]["steps"].insert(0, w["jobs"]["prod"]["steps"].pop(
        w["jobs"]["prod"]["steps"].index(_step(w, "prod", "google-github-actions/auth@")))),
     "does not download and check"),
    (lambda w: w["jobs"]["prod"]["steps"].remove(_step(w, "prod", "test -n \"$STATE_SHA256\"")),
     "does not compare prod's state"),
    (lambda w: _step(w, "prod", "test -n \"$STATE_SHA256\"").update(env={"STATE_SHA256": "0" * 64}),
     "does not compare prod's state"),
    (lambda w: w["jobs"]["prod"]["steps"].append(w["jobs"]["prod"]["steps"].pop(
        w["jobs"]["prod"]["steps"].index(_step(w, "prod", "test -n \"$STATE_SHA256\"")))),
     "does not compare prod's state"),
    (lambda w: w["jobs"]["prod-preview"]["outputs"].pop("state-sha256"), "records no digest of prod's state"),
    (lambda w: w["jobs"]["prod-preview"]["steps"].append(w["jobs"]["prod-preview"]["steps"].pop(
        w["jobs"]["prod-preview"]["steps"].index(_step(w, "prod-preview", "pulumi stack export")))),
     "records no digest of prod's state"),
])
def test_a_prod_update_that_could_leave_the_plan_is_refused(mutate: Any, reason: str) -> None:
    workflow = copy.deepcopy(load("deploy.yml"))
    mutate(workflow)
    assert any(reason in v for v in plan_violations(workflow)), plan_violations(workflow)


def test_dependabot_updates_the_actions_and_both_requirement_sets() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    ecosystems = {u["package-ecosystem"]: u.get("directories", [u.get("directory")]) for u in config["updates"]}
    assert ecosystems == {"github-actions": ["/"], "pip": ["/", "/policy"]}


def test_no_expression_reaches_a_shell() -> None:
    """`${{ }}` inside run: is pasted into the script before it runs: untrusted text (a PR title, a
    branch name) would become code. Values go through env: instead."""
    runs = [(where, step["run"]) for where, step in steps() if "run" in step]
    assert runs
    assert [where for where, script in runs if "${{" in script] == []


def test_gcp_auth_is_workload_identity_only() -> None:
    auth = [step for _, step in steps() if step.get("uses", "").startswith("google-github-actions/auth@")]
    assert auth
    for step in auth:
        assert set(step["with"]) == {"workload_identity_provider", "service_account"}
    assert "credentials_json" not in "".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))


def test_pull_requests_get_a_policy_checked_dev_preview() -> None:
    workflow = load("pull-request.yml")
    assert list(workflow[True]) == ["pull_request"]  # YAML reads the key `on` as True
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "checks"
    # Pull requests from forks run the checks only: GitHub gives them no variables and no federated token.
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    [pulumi] = pulumi_runs(preview["steps"])
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["stack-name"] == "dev"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["diff"] is True
    assert workflow["permissions"] == {"contents": "read"}
    checks = workflow["jobs"]["checks"]["steps"][-1]["run"]
    assert "bash .ci/run" in checks


# What a pull request's run may read: the dev preview identity, the federation that grants only it,
# the state location, and the token GitHub scopes to the run itself.
PULL_REQUEST_VARIABLES = {"GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_PREVIEW_SERVICE_ACCOUNT", "PULUMI_BACKEND_URL"}
PULL_REQUEST_SECRETS = {"GITHUB_TOKEN"}
REFERENCE = re.compile(r"\b(vars|secrets)\.([A-Za-z0-9_]+)")


def references(node: Any) -> set[tuple[str, str]]:
    """(`vars` or `secrets`, NAME) for every expression anywhere in a parsed workflow or job."""
    return {(m[1], m[2]) for m in REFERENCE.finditer(yaml.safe_dump(node))}


def pull_request_violations(workflow: dict[Any, Any]) -> list[str]:
    """Why a pull-request workflow could reach prod secrets or a deploy identity; empty when it cannot."""
    found = []
    for kind, name in sorted(references(workflow)):
        allowed = PULL_REQUEST_VARIABLES if kind == "vars" else PULL_REQUEST_SECRETS
        if name not in allowed:
            found.append(f"reads {kind}.{name}")
    for job_name, job in workflow["jobs"].items():
        if "environment" in job:
            found.append(f"{job_name}: runs in environment {job['environment']!r}")
        if "id-token" in (job.get("permissions") or {}) and job_name != "preview":
            found.append(f"{job_name}: may request federated tokens")
        for step in job["steps"]:
            if step.get("uses", "").startswith("pulumi/actions@") and step["with"].get("command") != "preview":
                found.append(f"{job_name}: runs pulumi {step['with']['command']}")
    if "id-token" in (workflow.get("permissions") or {}):
        found.append("every job may request federated tokens")
    return found


def test_pull_requests_reach_no_prod_secret_and_no_deploy_identity() -> None:
    workflow = load("pull-request.yml")
    assert pull_request_violations(workflow) == []
    # The one federated step: the preview identity, through the provider only it trusts (test_bootstrap).
    [auth] = [step for job in workflow["jobs"].values() for step in job["steps"]
              if step.get("uses", "").startswith("google-github-actions/auth@")]
    assert auth["with"]["service_account"] == "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}"


@pytest.mark.parametrize("mutate, reason", [
    (lambda w: w["jobs"]["preview"]["steps"][-1].setdefault("env", {}).update(
        PULUMI_CONFIG_PASSPHRASE="${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"), "secrets.PULUMI_CONFIG_PASSPHRASE"),
    (lambda w: w["jobs"]["preview"]["steps"][-2]["with"].update(
        service_account="${{ vars.GCP_SERVICE_ACCOUNT }}"), "vars.GCP_SERVICE_ACCOUNT"),
    (lambda w: w["jobs"]["preview"]["steps"][-2]["with"].update(
        workload_identity_provider="${{ vars.GCP_MAIN_WORKLOAD_IDENTITY_PROVIDER }}"),
     "vars.GCP_MAIN_WORKLOAD_IDENTITY_PROVIDER"),
    (lambda w: w["jobs"]["preview"].update(environment="prod"), "environment 'prod'"),
    (lambda w: w["jobs"]["preview"]["steps"][-1]["with"].update(command="up"), "runs pulumi up"),
    (lambda w: w["jobs"]["checks"].update(permissions={"id-token": "write"}), "checks: may request"),
    (lambda w: w.update(permissions={"contents": "read", "id-token": "write"}), "every job may request"),
])
def test_a_pull_request_workflow_that_reaches_prod_is_refused(mutate: Any, reason: str) -> None:
    workflow = copy.deepcopy(load("pull-request.yml"))
    mutate(workflow)
    assert any(reason in v for v in pull_request_violations(workflow)), pull_request_violations(workflow)


def test_main_updates_dev_then_previews_and_updates_prod_through_environments() -> None:
    workflow = load("deploy.yml")
    jobs = workflow["jobs"]
    assert workflow["permissions"] == {"contents": "read"}  # id-token per job, only where a job federates
    assert {name: job["environment"] for name, job in jobs.items()} == {
        "dev": "dev", "prod-preview": "prod-preview", "prod": "prod"}
    assert jobs["prod-preview"]["needs"] == "dev" and jobs["prod"]["needs"] == "prod-preview"
    commands = {}
    for name, job in jobs.items():
        assert job["if"] == "github.ref == 'refs/heads/main'"  # workflow_dispatch may name any branch
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        [auth] = [s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")]
        assert auth["with"] == {"workload_identity_provider": "${{ vars.GCP_MAIN_WORKLOAD_IDENTITY_PROVIDER }}",
                                "service_account": "${{ vars.GCP_SERVICE_ACCOUNT }}"}  # the environment's own
        [pulumi] = pulumi_runs(job["steps"])
        assert pulumi["with"]["policyPacks"] == "policy"
        commands[name] = (pulumi["with"]["command"], pulumi["with"]["stack-name"])
    assert commands == {"dev": ("up", "dev"), "prod-preview": ("preview", "prod"), "prod": ("up", "prod")}
    assert _step(workflow, "prod-preview", "pulumi/actions@")["with"]["comment-on-summary"] is True


def test_no_secret_is_repository_wide() -> None:
    """Stack secrets are decrypted with each stack's KMS key, reachable only by that environment's
    identity; the workflows hold no secret but the run's own GitHub token."""
    for path in WORKFLOWS.glob("*.yml"):
        assert {name for kind, name in references(load(path.name)) if kind == "secrets"} <= {"GITHUB_TOKEN"}


def actionlint(cwd: Path) -> subprocess.CompletedProcess[str]:
    # actionlint also runs shellcheck over run: scripts when it finds it on PATH.
    env = {**os.environ, "PATH": f"{Path(binary('shellcheck')).parent}:{os.environ.get('PATH', '')}"}
    return subprocess.run([binary("actionlint"), "-no-color"], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def lintable_copy(tmp_path: Path) -> Path:
    """actionlint wants a git repository around .github/workflows."""
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    # Offline: no GitHub API calls (so no check that a pinned commit exists: docs/guardrails-and-ci.md).
    return subprocess.run([binary("zizmor"), "--offline", "--pedantic", "--no-progress", str(path)],
                          capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.integration
def test_zizmor_finds_nothing() -> None:
    result = zizmor(ROOT / ".github")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


@pytest.mark.integration
@pytest.mark.parametrize("old, new, audit", [
    ("actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09  # v5.1.0", "actions/checkout@v5", "unpinned-uses"),
    ("        with:\n          persist-credentials: false\n", "", "artipacked"),
])
def test_zizmor_can_fail(tmp_path: Path, old: str, new: str, audit: str) -> None:
    broken = lintable_copy(tmp_path) / ".github" / "workflows" / "deploy.yml"
    assert old in broken.read_text()
    broken.write_text(broken.read_text().replace(old, new, 1))
    result = zizmor(broken)
    assert result.returncode != 0 and audit in result.stdout, result.stdout


@pytest.mark.integration
def test_actionlint_passes(tmp_path: Path) -> None:
    result = actionlint(lintable_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_actionlint_can_fail(tmp_path: Path) -> None:
    repo = lintable_copy(tmp_path)
    broken = repo / ".github" / "workflows" / "deploy.yml"
    broken.write_text(broken.read_text().replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    bogus: 1", 1))
    result = actionlint(repo)
    assert result.returncode != 0 and "bogus" in result.stdout
