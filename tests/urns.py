"""Resource URNs as the Pulumi engine builds them, from a mock run's parent chain (the mock monitor keeps
only the parent's last type), and the former URNs each resource's aliases claim, inherited by its
children as the engine does. A URN the state already holds and no resource claims any more would be
deleted and created again: for a data disk or a bucket, its data lost."""

from __future__ import annotations

from tests.harness import Resource, StackRun

ROOT_TYPE = "pulumi:pulumi:Stack"


def _prefix(run: StackRun) -> str:
    return "::".join(run.resources[0].urn.split("::")[:2])  # urn:pulumi:STACK::PROJECT


def _qualified(prefix: str, parent_qualified: str | None, type_: str, name: str) -> tuple[str, str]:
    qualified = f"{parent_qualified}${type_}" if parent_qualified else type_
    return qualified, f"{prefix}::{qualified}::{name}"


def _qualified_of(urn: str) -> str | None:
    """The qualified type of a URN, None for the root stack (its children's URNs leave it out)."""
    qualified = urn.split("::")[2]
    return None if qualified == ROOT_TYPE else qualified


def engine_urns(run: StackRun) -> dict[str, set[str]]:
    """Current engine URN -> the former URNs its aliases (own or inherited from a parent) claim."""
    prefix = _prefix(run)
    by_mock_urn = {r.urn: r for r in run.resources}
    memo: dict[str, tuple[str, set[str]]] = {}

    def resolve(resource: Resource) -> tuple[str, set[str]]:
        if resource.urn in memo:
            return memo[resource.urn]
        if resource.type == ROOT_TYPE or not resource.parent or resource.parent not in by_mock_urn:
            parent_urn, parent_formers = None, set[str]()
        else:
            parent_urn, parent_formers = resolve(by_mock_urn[resource.parent])
        parent_q = _qualified_of(parent_urn) if parent_urn else None
        _, urn = _qualified(prefix, parent_q, resource.type, resource.name)
        formers = {_qualified(prefix, _qualified_of(p), resource.type, resource.name)[1] for p in parent_formers}
        formers |= {_qualified(prefix, _qualified_of(p), resource.type, resource.name)[1]
                    for p in resource.options.get("aliasParents", [])}
        memo[resource.urn] = (urn, formers)
        return urn, formers

    return dict(resolve(r) for r in run.resources if r.type != ROOT_TYPE)


def lost(before: list[str], run: StackRun) -> list[str]:
    """URNs of `before` that no resource of `run` has or claims through an alias."""
    urns = engine_urns(run)
    claimed = set(urns) | {former for formers in urns.values() for former in formers}
    return [urn for urn in before if urn not in claimed]
