"""The deployment order a stack implies: what must exist before what, and the longest such chain."""

from __future__ import annotations

from functools import cache

from tests.harness import Resource, StackRun


def edges(run: StackRun) -> dict[str, set[str]]:
    """URN -> URNs it waits for: its dependencies and its explicit provider."""
    urns = run.by_urn
    graph: dict[str, set[str]] = {}
    for r in run.resources:
        if not r.custom:
            continue  # components are not created; their children are
        waits = {u for u in r.dependencies if u in urns}
        provider_urn = r.provider.rsplit("::", 1)[0]  # a provider reference is "URN::ID"
        if provider_urn in urns:
            waits.add(provider_urn)
        graph[r.urn] = waits
    return graph


def critical_path(run: StackRun) -> list[Resource]:
    """The longest chain of resources that must be created one after another."""
    graph = edges(run)

    @cache
    def longest(urn: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dep in graph.get(urn, ()):
            chain = longest(dep)
            if len(chain) > len(best):
                best = chain
        return (*best, urn)

    chains = [longest(u) for u in graph]
    path = max(chains, key=len, default=())
    return [run.by_urn[u] for u in path]
