"""What a repository admin pastes after the bootstrap: the environments and the variables the
workflows read (tests/test_bootstrap.py checks both directions against .github/workflows)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class Variable:
    name: str
    value: pulumi.Input[str]
    environment: str | None = None  # None: a repository variable


def variable_commands(repository: str, variables: list[Variable]) -> pulumi.Output[list[str]]:
    def command(variable: Variable, value: str) -> str:
        args = ["gh", "variable", "set", variable.name, "--repo", repository, "--body", value]
        return shlex.join(args + (["--env", variable.environment] if variable.environment else []))

    return pulumi.Output.all(*[v.value for v in variables]).apply(
        lambda values: [command(v, value) for v, value in zip(variables, values, strict=True)])


def environment_commands(repository: str, environments: tuple[str, ...], branch: str,
                         reviewers: dict[str, list[tuple[str, int]]]) -> list[str]:
    """Creates each environment, deployable from `branch` only; an environment in `reviewers` waits for
    one of them to approve each run, and never for the person who started it (prevent_self_review).
    Repository admins cannot skip these rules (`can_admins_bypass` is true unless set: GitHub's REST
    API, "Create or update an environment"). Required reviewers need a public repository, or GitHub
    Enterprise for a private one (docs/guardrails-and-ci.md says what to do otherwise).
    The body goes in as JSON on stdin: gh's -F fields cannot build an array of objects."""
    commands = []
    for env in environments:
        path = f"repos/{repository}/environments/{env}"
        body: dict[str, object] = {
            "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
            "can_admins_bypass": False}
        if env in reviewers:
            body |= {"prevent_self_review": True,
                     "reviewers": [{"type": kind, "id": id_} for kind, id_ in reviewers[env]]}
        commands += [
            " | ".join([shlex.join(["printf", "%s", json.dumps(body, separators=(",", ":"))]),
                        shlex.join(["gh", "api", "--method", "PUT", path, "--input", "-"])]),
            shlex.join(["gh", "api", "--method", "POST", f"{path}/deployment-branch-policies",
                        "-f", f"name={branch}", "-f", "type=branch"]),
        ]
    return commands
