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


def label(resource: Resource) -> str:
    """`Type:name`, as the benchmark prints a link of the path."""
    return f"{resource.type.split(':')[-1]}:{resource.name}"


def critical_path(run: StackRun) -> list[Resource]:
    """The longest chain of resources that must be created one after another. Several chains are often
    equally long: the one whose labels sort first is taken, so every run names the same chain (the
    dependencies are sets, whose order changes from one interpreter to the next)."""
    graph = edges(run)
    urns = run.by_urn

    def rank(chain: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
        return -len(chain), tuple(label(urns[u]) for u in chain)

    @cache
    def longest(urn: str) -> tuple[str, ...]:
        chains = [longest(dep) for dep in graph.get(urn, ())]
        best = min(chains, key=rank, default=())
        return (*best, urn)

    path = min((longest(u) for u in graph), key=rank, default=())
    return [urns[u] for u in path]
