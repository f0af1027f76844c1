"""The shared settings reader (stackconfig/): one copy, used by both programs, importing neither."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from stackconfig.reader import Problem, parse_object, setting
from stackconfig.rules import all_of, each, in_range, matches, non_empty, one_of, schema_of
from tests.harness import BOOTSTRAP, ROOT


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


MAIN_PROGRAM = {"components", "scripts", "policy", "tests", "__main__"}


@pytest.mark.parametrize("path", sorted(BOOTSTRAP.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_bootstrap_imports_nothing_of_the_main_program_but_the_shared_reader(path: Path) -> None:
    assert _imports(path).isdisjoint(MAIN_PROGRAM)


@pytest.mark.parametrize("path", sorted((ROOT / "stackconfig").glob("*.py")), ids=lambda p: p.name)
def test_the_shared_reader_imports_neither_program(path: Path) -> None:
    assert _imports(path).isdisjoint(MAIN_PROGRAM | {"foundation", "pulumi", "pulumi_gcp"})


def test_there_is_one_reader() -> None:
    # .mutation/ holds make mutation's copies of the project; inside such a copy ROOT is under .mutation/
    # itself, so only the parts below ROOT count.
    copies = [p for p in ROOT.rglob("*.py")
              if not {".venv", ".mutation", "mutants"} & set(p.relative_to(ROOT).parts)
              and "\ndef parse_object(" in p.read_text()]
    assert copies == [ROOT / "stackconfig" / "reader.py"]


@dataclasses.dataclass(frozen=True)
class _Needed:
    name: str = setting(doc="A name nobody can guess.")
    size: int = setting(3, doc="A size.", check=in_range(1, 9))


def test_a_required_key_left_out_is_a_problem_naming_it() -> None:
    problems: list[Problem] = []
    parse_object(_Needed, {"size": 4}, "ns:", problems)
    assert [(p.key, p.expected) for p in problems] == [("ns:name", "a value (required): A name nobody can guess.")]


def test_rules_carry_what_a_schema_can_say() -> None:
    import re

    assert schema_of(in_range(2, 7)) == {"minimum": 2, "maximum": 7}
    assert schema_of(one_of(["b", "a"], "a or b")) == {"enum": ["a", "b"]}
    assert schema_of(each(matches(re.compile("^x$"), "x"))) == {"items": {"pattern": "^x$", "maxLength": 1000}}
    both = all_of(in_range(1, 3), in_range(2, 4))  # overlapping keys cannot be merged into one object
    assert schema_of(both) == {"allOf": [{"minimum": 1, "maximum": 3}, {"minimum": 2, "maximum": 4}]}
    assert both(1) == "a number from 2 to 4" and both(3) is None
    assert schema_of(plain) == {}


def plain(value: object) -> str | None:
    """A check that is a plain function, not a Rule: it says nothing a schema could carry."""
    return None


def test_schemas_of_non_empty_and_of_combined_rules() -> None:
    import re

    assert schema_of(non_empty("a branch")) == {"minLength": 1}
    assert schema_of(each(plain)) == {}  # a plain function says nothing of the items: no empty "items"
    # Parts with distinct keys merge into one object, plain functions adding nothing.
    merged = all_of(non_empty("x"), plain, matches(re.compile("^x$"), "x"))
    assert schema_of(merged) == {"minLength": 1, "pattern": "^x$", "maxLength": 1000}
    assert schema_of(all_of(plain)) == {} and schema_of(all_of()) == {}


SETTINGS_DIR = ROOT / "components" / "settings"
def test_every_capability_has_its_module_and_the_loader_runs_each_modules_rules() -> None:
    from components.settings import loader

    modules = {p.stem for p in SETTINGS_DIR.glob("*.py")} - {"__init__"}
    assert {"artifact_registry", "pipeline", "registry", "network", "alerts", "budget", "secrets", "gcp",
            "stack", "loader"} <= modules
    owners = {check.__module__.rsplit(".", 1)[1] for check in loader.CROSS_CHECKS}
    ruled = {name for name in modules if "def cross_checks" in (SETTINGS_DIR / f"{name}.py").read_text()
             or "def derived_checks" in (SETTINGS_DIR / f"{name}.py").read_text()}
    assert ruled <= owners  # a module's rules that the loader never calls would never run
