"""The GitHub workflows: actionlint (the real linter) passes; every action is pinned to a version; no
expression reaches a shell; previews carry the policy pack; prod waits for an approved environment."""

from __future__ import annotations

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


def test_pull_requests_get_a_policy_checked_preview_per_stack() -> None:
    workflow = load("pull-request.yml")
    assert list(workflow[True]) == ["pull_request"]  # YAML reads the key `on` as True
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "checks"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    [pulumi] = [s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["diff"] is True
    assert workflow["permissions"] == {"contents": "read"}
    checks = workflow["jobs"]["checks"]["steps"][-1]["run"]
    assert "bash .ci/run" in checks


def test_main_updates_dev_and_prod_only_through_an_approved_environment() -> None:
    jobs = load("deploy.yml")["jobs"]
    assert jobs["dev"]["environment"] == "dev"
    assert jobs["prod"]["environment"] == "prod" and jobs["prod"]["needs"] == "dev"
    for stack, job in jobs.items():
        [pulumi] = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"] == stack
        assert pulumi["with"]["policyPacks"] == "policy"


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
