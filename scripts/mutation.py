"""Mutation testing of the pure modules, one module at a time (`make mutation`, `make mutation MODULES=names`).

mutmut reads its settings from the pyproject.toml of the folder it runs in and has no option to pick one
source file or one set of tests, so each module gets a copy of the project under .mutation/MODULE whose
pyproject.toml adds, to the shared [tool.mutmut] settings, that module alone (`only_mutate`) and the
test files that exercise it ([tool.mutation.tests] here). Each run starts afresh; the results stay there
until the next (`cd .mutation/MODULE && ../../.venv/bin/mutmut show NAME`). Prints killed / total per
module; `--show` prints each surviving mutant's diff. Slow and CPU-heavy: run it under `nice` (the Makefile does)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
# Not copied: caches, virtualenvs, mutmut's own output.
SKIP = {".git", ".venv", ".mutation", "mutants", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__",
        ".pulumi-state", "venv", "node_modules", ".hypothesis"}


def _toml_value(value: object) -> str:
    return json.dumps(value)  # TOML's strings and arrays of strings are JSON's


def _prepare(module: str, tests: list[str], shared: dict[str, object]) -> Path:
    work = WORK / module
    # A fresh copy each time: mutmut's cache would keep a verdict made with tests that have changed since.
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name in SKIP or entry.name == "pyproject.toml":
            continue
        target = work / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, ignore=shutil.ignore_patterns(*SKIP))
        else:
            shutil.copy2(entry, target)
    roots = typing.cast(list[str], shared["source_paths"])
    [source] = [f"{root}/{module}.py" for root in roots if (ROOT / root / f"{module}.py").exists()]
    settings = {**shared, "only_mutate": [source],
                "pytest_add_cli_args_test_selection": tests}
    lines = [f"{key} = {_toml_value(value)}" for key, value in settings.items()]
    text = (ROOT / "pyproject.toml").read_text()
    # The project's own pytest/ruff settings stay; [tool.mutmut] is replaced by the module's.
    head, _, _ = text.partition("[tool.mutmut]")
    (work / "pyproject.toml").write_text(head + "[tool.mutmut]\n" + "\n".join(lines) + "\n")
    return work


def _mutmut(work: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    mutmut = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(mutmut), *args], cwd=work, check=False, text=True,
                          capture_output=capture)


def _survivors(work: Path) -> list[str]:
    out = _mutmut(work, "results", capture=True).stdout
    return [line.split(":")[0].strip() for line in out.splitlines() if line.strip().endswith(": survived")]


def main() -> int:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    table: dict[str, list[str]] = config["mutation"]["tests"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(table), help=f"default: all of {', '.join(table)}")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--max-children", default="2", help="parallel mutant runs (default 2)")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in table]
    if unknown:
        parser.error(f"no [tool.mutation.tests] entry for {', '.join(unknown)}")
    summary = []
    failed = []
    for module in args.modules:
        work = _prepare(module, table[module], config["mutmut"])
        print(f"== {module}: {' '.join(table[module])}", flush=True)
        if _mutmut(work, "run", "--max-children", args.max_children).returncode != 0:
            print(f"mutmut failed for {module} (its output is above)", file=sys.stderr)
            failed.append(module)
            continue
        _mutmut(work, "export-cicd-stats", capture=True)
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
        survivors = _survivors(work)
        summary.append((module, stats, survivors))
        if args.show:
            for name in survivors:
                print(_mutmut(work, "show", name, capture=True).stdout)
    # A mutant that makes a test hang (a loop that no longer ends) counts as caught, as mutmut counts it.
    print("\nmodule               caught / total   killed  timeout  survived  score")
    for module, stats, survivors in summary:
        caught = stats["killed"] + stats["timeout"]
        print(f"{module:20} {caught:6} / {stats['total']:<6} {stats['killed']:6}  {stats['timeout']:7}  "
              f"{stats['survived']:8}  {caught / max(stats['total'], 1):6.1%}")
        for name in survivors:
            print(f"    survived: {name}")
    for module in failed:
        print(f"{module:20} failed: no score")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
