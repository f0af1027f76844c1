"""Rewrites tests/inventories/<case>.yaml from what the program registers under mocks, so a change to
the program shows up as a reviewable diff of the inventory instead of a hand edit.

`python scripts/inventory.py [CASE ...]` prints the diff of what would change; `--write` writes it.
A value stays `null` (present, not compared) where it holds the content-derived image tag, the VM's
cloud-init user-data, or where the current inventory already says null. The inventory is a reviewed
snapshot: read the diff before committing it."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import StackRun
from tests.test_inventory import CASES, INVENTORIES, example_run, key, readable

HEADER = """\
# What {what} provisions, checked by tests/test_inventory.py against the program under mocks.
# resources: every resource to be created (TYPE::NAME) with the inputs it must have; "[secret]" marks a
# secret input. null: present, value not compared here (it holds the content-derived image tag, or the
# cloud-init user-data, which tests/test_registry_vm*.py check in full).
# Regenerate with `python scripts/inventory.py --write {name}` and review the diff.
"""
UNCOMPARED_KEYS = {"user-data"}


def _blank(value: Any, old: Any, tag: str, field: str = "") -> Any:
    """`value` with null wherever it is not to be compared (`old` is the current inventory's value)."""
    if field in UNCOMPARED_KEYS or (field and old is None):
        return None
    if isinstance(value, dict):
        old_map = old if isinstance(old, dict) else {}
        return {k: _blank(v, old_map.get(k, _MISSING), tag, k) for k, v in value.items()}
    if isinstance(value, list):
        same_shape = isinstance(old, list) and len(old) == len(value)
        return [_blank(v, old[i] if same_shape else _MISSING, tag, "[]") for i, v in enumerate(value)]
    if isinstance(value, str) and tag in value:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine's protobuf numbers are floats; the inventories read as written
    return value


_MISSING: Any = object()


def _tag(run: StackRun) -> str:
    """The sample image's tag in this run (it hashes the build inputs, which differ between cases)."""
    images = run.of_type("docker:index/image:Image")
    tag: str = images[0].inputs["build"]["args"]["REVISION"] if images else "\0no sample image"
    return tag


def render(case: str) -> str:
    path = INVENTORIES / f"{case}.yaml"
    old: dict[str, Any] = yaml.safe_load(path.read_text()) if path.exists() else {}
    run = example_run(case)
    tag = _tag(run)
    resources = {key(r.type, r.name): readable(r.inputs) for r in run.resources if r.custom}
    data = {
        "resources": _blank(resources, old.get("resources", _MISSING), tag),
        "protected": sorted(key(r.type, r.name) for r in run.resources if r.protect),
        "outputs": _blank(run.outputs, old.get("outputs", _MISSING), tag),
        "secretOutputs": sorted(run.secret_outputs),
    }
    what = f"`pulumi up -s {case}`" if case in ("dev", "prod", "local") else f"the docs example `{case}`"
    # Sections in reading order; keys inside them sorted, so a regeneration diffs only what changed.
    body = "".join(yaml.safe_dump({k: v}, sort_keys=True, width=120, allow_unicode=True) for k, v in data.items())
    return HEADER.format(what=what, name=case) + body


def main(argv: list[str]) -> int:
    write = "--write" in argv
    cases = [a for a in argv if not a.startswith("--")] or list(CASES)
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        print(f"unknown case(s) {unknown}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    for case in cases:
        path = INVENTORIES / f"{case}.yaml"
        new = render(case)
        old = path.read_text() if path.exists() else ""
        if write:
            path.write_text(new)
        elif new != old:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       str(path), str(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
