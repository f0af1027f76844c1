"""The GitHub workflows: actionlint (the real linter) passes; every action is pinned to a version; no
expression reaches a shell; previews carry the policy pack; prod waits for an approved environment;
pull requests reach no prod secret and no deploy identity."""

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
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(?:v\d+(?:\.\d+){0,2}|[0-9a-f]{40})$")


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def steps() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.name}:{job_name}", step) for path in sorted(WORKFLOWS.glob("*.yml"))
            for job_name, job in load(path.name)["jobs"].items() for step in job["steps"]]


def test_there_are_workflows() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == ["deploy.yml", "pull-request.yml"]


def test_every_action_is_pinned_to_a_version() -> None:
    uses = [step["uses"] for _, step in steps() if "uses" in step]
    assert uses
    assert [u for u in uses if not PINNED.match(u)] == []


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
    [pulumi] = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
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
            if step.get("uses", "").startswith("pulumi/actions@") and step["with"]["command"] != "preview":
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
        [pulumi] = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
        assert pulumi["with"]["policyPacks"] == "policy"
        commands[name] = (pulumi["with"]["command"], pulumi["with"]["stack-name"])
    assert commands == {"dev": ("up", "dev"), "prod-preview": ("preview", "prod"), "prod": ("up", "prod")}
    assert jobs["prod-preview"]["steps"][-1]["with"]["comment-on-summary"] is True


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
