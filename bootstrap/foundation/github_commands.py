"""What a repository admin pastes after the bootstrap: the environments and the variables the
workflows read (tests/test_bootstrap.py checks both directions against .github/workflows)."""

from __future__ import annotations

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


def environment_commands(repository: str, environments: tuple[str, ...], branch: str) -> list[str]:
    """Creates each environment, deployable from `branch` only. Required reviewers (on prod) need user
    ids, so they are added in Settings -> Environments (docs/bootstrap.md)."""
    commands = []
    for env in environments:
        path = f"repos/{repository}/environments/{env}"
        commands += [
            shlex.join(["gh", "api", "--method", "PUT", path,
                        "-F", "deployment_branch_policy[protected_branches]=false",
                        "-F", "deployment_branch_policy[custom_branch_policies]=true"]),
            shlex.join(["gh", "api", "--method", "POST", f"{path}/deployment-branch-policies",
                        "-f", f"name={branch}", "-f", "type=branch"]),
        ]
    return commands
