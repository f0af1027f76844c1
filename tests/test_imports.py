"""Arrows run one way, from composition down to data: no module of components/ imports itself back
through another (settings and registry_config once did), and settings import no renderer or component."""

from __future__ import annotations

import ast
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parent.parent / "components"


def imports_of(path: Path) -> set[str]:
    """The components modules `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "components":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("components."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("components.")}
    return found


def package_imports(package: str) -> set[str]:
    """A package of components/ (settings/) as one node: what its modules import from outside it."""
    return set().union(*(imports_of(path) for path in (COMPONENTS / package).glob("*.py"))) - {package}


def graph() -> dict[str, set[str]]:
    modules = {path.stem: imports_of(path) for path in COMPONENTS.glob("*.py")}
    packages = {path.parent.name: package_imports(path.parent.name) for path in COMPONENTS.glob("*/__init__.py")}
    return modules | packages


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(edges.get(node, ())):
            if target in path:
                found.append([*path[path.index(target):], target])
            elif len(path) < len(edges):
                visit(target, [*path, target])

    for start in sorted(edges):
        visit(start, [start])
    return found


def test_components_import_each_other_without_a_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    assert cycles({"settings": {"registry_config"}, "registry_config": {"settings"}}) == [
        ["registry_config", "settings", "registry_config"], ["settings", "registry_config", "settings"]]


def test_settings_import_only_data_modules() -> None:
    allowed = {"checks", "grammars", "names", "gcp_locations", "image_refs", "calendar"}
    assert "settings" in graph()
    assert package_imports("settings") <= allowed
