"""Each stack file, and each docs example, run under mocks, provisions exactly what its inventory
file lists (the way Cloud Foundation Fabric compares a plan with an inventory): a reviewer reads one
YAML per stack or example.

A docs example (README.md or docs/*.md) is a `config:` block preceded by `<!-- example: NAME on STACK -->`;
it is applied on top of that stack's file, and `tests/inventories/NAME.yaml` holds what it must provision."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import stack_run
from tests.harness import ROOT, STACKS, StackRun, is_secret, run_stack

INVENTORIES = Path(__file__).parent / "inventories"
EXAMPLE = re.compile(r"<!-- example: (\S+) on (\S+) -->\n```yaml\n(.*?)```", re.S)


def readme_examples() -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (stack, config) for every example block in the README and the docs pages."""
    examples: dict[str, tuple[str, dict[str, Any]]] = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for name, stack, block in EXAMPLE.findall(page.read_text()):
            assert name not in examples, f"example {name} appears twice ({page.name})"
            examples[name] = (stack, yaml.safe_load(block)["config"])
    return examples


@cache
def example_run(name: str) -> StackRun:
    if name in STACKS:
        return stack_run(name)
    stack, config = readme_examples()[name]
    secure = {k: f"test-secret-{k.split(':')[-1]}" for k, v in config.items() if isinstance(v, dict) and "secure" in v}
    plain = {k: v for k, v in config.items() if k not in secure}
    return run_stack(stack, overrides=plain, secrets=secure)


CASES = [*STACKS, *readme_examples()]


def key(resource_type: str, name: str) -> str:
    return f"{resource_type}::{name}"


def mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` differs from `expected`; dicts compare by the expected keys only, and an
    expected null accepts any value that is present."""
    if expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        return [m for k, v in expected.items()
                for m in (mismatches(v, actual[k], f"{path}.{k}") if k in actual else [f"{path}.{k}: missing"])]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs = enumerate(zip(expected, actual, strict=True))
        return [m for i, (want, got) in pairs for m in mismatches(want, got, f"{path}[{i}]")]
    if expected != actual:
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []


def readable(value: Any) -> Any:
    """Secret inputs appear as "[secret]" in inventories: the fact is reviewed, the value is not."""
    if is_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [readable(v) for v in value]
    return value


def inventory(stack: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((INVENTORIES / f"{stack}.yaml").read_text())
    return data


def test_every_example_has_an_inventory_and_every_inventory_a_case() -> None:
    assert len(readme_examples()) >= 2
    assert sorted(p.stem for p in INVENTORIES.glob("*.yaml")) == sorted(CASES)


@pytest.mark.parametrize("stack", CASES)
def test_stack_provisions_exactly_its_inventory(stack: str) -> None:
    run: StackRun = example_run(stack)
    expected = inventory(stack)
    registered = {key(r.type, r.name): r for r in run.resources if r.custom}
    assert sorted(registered) == sorted(expected["resources"] or {})
    problems = [f"{k}{m}" for k, want in (expected["resources"] or {}).items()
                for m in mismatches(want or {}, readable(registered[k].inputs))]
    assert problems == []


@pytest.mark.parametrize("stack", CASES)
def test_protected_resources_match_inventory(stack: str) -> None:
    run = example_run(stack)
    assert sorted(key(r.type, r.name) for r in run.resources if r.protect) == sorted(inventory(stack)["protected"])


@pytest.mark.parametrize("stack", CASES)
def test_outputs_match_inventory(stack: str) -> None:
    run = example_run(stack)
    expected = inventory(stack)
    assert sorted(run.outputs) == sorted(expected["outputs"])
    assert mismatches(expected["outputs"], run.outputs) == []
    assert sorted(run.secret_outputs) == sorted(expected.get("secretOutputs", []))
