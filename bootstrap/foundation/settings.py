"""The bootstrap stack's config as one typed, validated, frozen object, read before any resource."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi

from stackconfig.reader import INVALID, Problem, Rule, SettingsError, parse_object, setting
from stackconfig.rules import matches

PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
GITHUB_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")
# GitHub lists up to six required reviewers, each a user or a team, by numeric id.
REVIEWERS = re.compile(r"^(User|Team):[1-9][0-9]*(,(User|Team):[1-9][0-9]*){0,5}$")
BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")
PULUMI_PROJECT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
STACKS = ("dev", "prod")


# Ids and counts start at 1.
positive = Rule(lambda value: None if value > 0 else "a positive number", {"minimum": 1})


@dataclass(frozen=True)
class GcpSettings:
    project: str = setting(doc="The project holding the state bucket, the KMS keys and the CI identities.",
                           check=matches(PROJECT_ID, "a project id: 6-30 lowercase letters, digits, hyphens"))
    region: str = setting("asia-northeast3", doc="Location of the state bucket and the KMS key rings.",
                          check=matches(REGION, "a GCP region such as asia-northeast3"))


@dataclass(frozen=True)
class StackTarget:
    project: str = setting(doc="GCP project this stack of the main program deploys into.",
                           check=matches(PROJECT_ID, "a project id: 6-30 lowercase letters, digits, hyphens"))


@dataclass(frozen=True)
class Stacks:
    dev: StackTarget = setting(doc="Where the dev stack deploys (any run on main, environment dev).")
    prod: StackTarget = setting(doc="Where the prod stack deploys (approved runs on main, environment prod).")


@dataclass(frozen=True)
class BootstrapSettings:
    github_repository: str = setting(doc="GitHub OWNER/REPO whose workflows may federate.",
                                     check=matches(GITHUB_REPO, "OWNER/REPO as on GitHub"))
    github_repository_id: int = setting(doc="Numeric repository id: `gh api repos/OWNER/REPO --jq .id`.",
                                        check=positive)
    stacks: Stacks = setting(doc="The main program's GCP stacks, each in its own project.")
    prod_reviewers: str = setting(
        doc="Who approves prod deploys: `User:ID,Team:ID` (1 to 6; `gh api users/NAME --jq .id`, "
            "`gh api orgs/ORG/teams/SLUG --jq .id`).",
        check=matches(REVIEWERS, "User:ID or Team:ID, comma-separated, 1 to 6 of them"))
    state_bucket: str | None = setting(None, doc="State bucket name. Unset: PROJECT-pulumi-state.",
                                       check=matches(BUCKET, "a GCS bucket name"))
    main_branch: str = setting("main", doc="The branch whose runs may deploy.",
                               check=matches(BRANCH, "a branch name"))
    # 0 would be dropped by the provider (the rule would then delete every noncurrent version at once).
    state_noncurrent_days: int = setting(30, doc="Keep a replaced state object version at least this many days.",
                                         check=positive)
    state_newer_versions: int = setting(10, doc="Keep at least this many newer versions of each state object.",
                                        check=positive)
    program_project: str = setting("image-sharing", doc="The main program's Pulumi project name (state paths).",
                                   check=matches(PULUMI_PROJECT, "a Pulumi project name"))


@dataclass(frozen=True)
class Settings:
    gcp: GcpSettings
    bootstrap: BootstrapSettings

    @property
    def state_bucket(self) -> str:
        return self.bootstrap.state_bucket or f"{self.gcp.project}-pulumi-state"

    @property
    def prod_reviewers(self) -> list[tuple[str, int]]:
        return [(kind, int(id_)) for kind, id_ in (r.split(":") for r in self.bootstrap.prod_reviewers.split(","))]

    def stack_project(self, stack: str) -> str:
        target: StackTarget = getattr(self.bootstrap.stacks, stack)
        return target.project

    @property
    def labels(self) -> dict[str, str]:
        return {"managed-by": "pulumi", "stack": pulumi.get_stack().lower()[:63],
                "project": pulumi.get_project().lower()[:63]}


def _cross_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    dev, prod = s.stack_project("dev"), s.stack_project("prod")
    # A deploy identity may act as any service account of its stack's project (to attach them to VMs
    # and builds); sharing a project would let dev's deployer run as prod's accounts or the CI ones.
    if dev == prod:
        problems.append(Problem(f"{ns}:stacks.prod.project", prod,
                                "a project other than dev's: dev's deployer could act as prod's accounts"))
    # A deployer holds serviceAccountAdmin and serviceAccountUser on its stack's project: there it could
    # rewrite the CI identities' own IAM or act as them. gcp:project is a dedicated CI/admin project.
    for stack, project in (("dev", dev), ("prod", prod)):
        if project == s.gcp.project:
            problems.append(Problem(f"{ns}:stacks.{stack}.project", project,
                                    f"a project other than gcp:project ({s.gcp.project}), which holds the CI "
                                    f"identities and the state: {stack}'s deployer could take them over; give "
                                    "the bootstrap a project of its own"))


# What bootstrap/Pulumi.ci.yaml ships with (a test keeps the two equal): config key -> (placeholder,
# where the real value comes from). Each is a valid value, and a bootstrap run with it would federate
# someone else's repository or deploy into someone else's project: refused, key by key.
PLACEHOLDERS: dict[str, tuple[object, str]] = {
    "gcp:project": ("image-sharing-ci", "your CI/admin project's id (a project of its own, neither dev's nor prod's)"),
    "githubRepository": ("your-org/image-sharing", "your repository, OWNER/REPO as on GitHub"),
    "githubRepositoryId": (123456789, "your repository's id: `gh api repos/OWNER/REPO --jq .id`"),
    "prodReviewers": ("User:1234567", "who approves prod deploys: `gh api users/NAME --jq .id` gives the ID of "
                                      "User:ID, `gh api orgs/ORG/teams/SLUG --jq .id` of Team:ID"),
    "stacks.dev.project": ("image-sharing-dev", "the project dev deploys into (gcp:project in Pulumi.dev.yaml)"),
    "stacks.prod.project": ("image-sharing-prod", "the project prod deploys into (gcp:project in Pulumi.prod.yaml)"),
}


def _placeholders(ns: str, config: dict[str, Any], own: dict[str, Any], problems: list[Problem]) -> None:
    """Each value still as bootstrap/Pulumi.ci.yaml ships it, named by its key."""
    for key, (placeholder, wanted) in PLACEHOLDERS.items():
        if key.startswith("gcp:"):
            full, value = key, config.get(key)
        else:
            full, value = f"{ns}:{key}", own
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if value is not None and str(value) == str(placeholder):
            problems.append(Problem(full, value, f"{wanted}; {json.dumps(value)} is the placeholder "
                                                 "bootstrap/Pulumi.ci.yaml ships with"))


def _decode(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _all_config() -> dict[str, Any]:
    # Every key the engine passed in, so a misspelled top-level key is reported, not ignored.
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def load_settings() -> Settings:
    """Reads and validates the whole bootstrap config; raises SettingsError listing every problem."""
    ns = pulumi.get_project()
    config = _all_config()
    problems: list[Problem] = []
    own = {k[len(ns) + 1:]: _decode(v) for k, v in config.items() if k.startswith(f"{ns}:")}
    gcp_keys = {k[4:]: v for k, v in config.items() if k in ("gcp:project", "gcp:region")}
    gcp = parse_object(GcpSettings, gcp_keys, "gcp:", problems)
    bootstrap = parse_object(BootstrapSettings, own, f"{ns}:", problems)
    _placeholders(ns, config, own, problems)
    if gcp is not INVALID and bootstrap is not INVALID:
        _cross_checks(Settings(gcp, bootstrap), ns, problems)
    if problems:
        raise SettingsError(problems, "the bootstrap config")
    return Settings(gcp, bootstrap)
