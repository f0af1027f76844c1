"""The deploy identity's roles are derived from what the main program creates: every resource type in
the inventories (every stack and docs example) has a role, and every role has a type that needs it."""

from __future__ import annotations

import yaml

from foundation import roles
from tests.harness import ROOT, StackRun

INVENTORIES = sorted((ROOT / "tests" / "inventories").glob("*.yaml"))


def inventory_resources() -> list[tuple[str, str, dict[str, object]]]:
    """(file, type, inputs) of every resource in every inventory."""
    found = []
    for path in INVENTORIES:
        for key, inputs in (yaml.safe_load(path.read_text())["resources"] or {}).items():
            found.append((path.name, key.rsplit("::", 1)[0], inputs or {}))
    return found


def unmapped(types: set[str]) -> set[str]:
    return {t for t in types if not t.startswith(roles.NOT_GCP_PREFIXES)
            and t not in roles.DEPLOY_ROLES_BY_TYPE and t not in roles.OUTSIDE_PROJECT}


def test_inventories_are_read() -> None:
    assert len(INVENTORIES) >= 3 and len(inventory_resources()) > 50


def test_every_resource_type_the_program_creates_has_a_deploy_role(dev: StackRun, prod: StackRun) -> None:
    types = {t for _, t, _ in inventory_resources()} | {r.type for run in (dev, prod) for r in run.custom}
    assert unmapped(types) == set(), "add the type's least role to bootstrap/foundation/roles.py"


def test_a_new_resource_type_without_a_role_is_caught() -> None:
    assert unmapped({"gcp:compute/network:Network", "docker:index/image:Image"}) == {"gcp:compute/network:Network"}


def test_every_deploy_role_is_needed_by_a_type_the_program_creates() -> None:
    used = {t for _, t, _ in inventory_resources()}
    stale = set(roles.DEPLOY_ROLES_BY_TYPE) - used
    assert stale == set(), "a role no inventory needs widens the deploy identity: remove it"


def test_the_deployer_may_grant_exactly_the_project_roles_the_program_grants() -> None:
    granted = {str(inputs["role"]) for _, t, inputs in inventory_resources()
               if t == "gcp:projects/iAMMember:IAMMember"}
    assert granted == set(roles.GRANTABLE_PROJECT_ROLES)
    for role in roles.GRANTABLE_PROJECT_ROLES:
        assert f"'{role}'" in roles.project_iam_condition()


def test_attaching_service_accounts_needs_act_as() -> None:
    for type_ in ("gcp:compute/instance:Instance", "gcp:cloudbuild/trigger:Trigger"):
        assert roles.ACT_AS in roles.DEPLOY_ROLES_BY_TYPE[type_]
