"""Prints, per stack: the program's evaluation time under mocks (median of several runs), how many
resources it registers, and the deployment critical path (its length counts resources, provider
included). "cold" is a fresh interpreter (imports included), "warm" a re-run in one process.
A benchmark, not a test: nothing fails.

The output is the Markdown table docs/development.md shows, then each warning the program printed,
once (the program warns on every run; the runs' own stderr is captured so the table stays whole).
`--runs N --cold-runs N` make it quicker (the tests run it with 1)."""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dependency_graph import critical_path, label
from tests.harness import STACKS, StackRun, run_stack

ROOT = Path(__file__).resolve().parent.parent
HEADER = "| stack | cold s | warm s | resources | custom | critical path |\n| --- | --- | --- | --- | --- | --- |"
ARROW = " → "


def cold_seconds(stack: str, runs: int) -> float:
    """A fresh interpreter each time, as `pulumi up` starts one: SDK imports included."""
    code = ("import sys, time; sys.path.insert(0, '.'); t = time.perf_counter(); "
            f"from tests.harness import run_stack; run_stack({stack!r}); print(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                                  text=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def row(stack: str, cold: float, warm: float, run: StackRun) -> str:
    path = critical_path(run)
    return (f"| {stack} | {cold:.2f} | {warm:.3f} | {len(run.resources)} | {len(run.custom)} | "
            f"{len(path)}: {ARROW.join(label(r) for r in path)} |")


def quiet_run(stack: str, warnings: dict[str, None]) -> StackRun:
    """run_stack with whatever the program prints to stderr (pulumi.log.warn under mocks) collected."""
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        run = run_stack(stack)
    for block in captured.getvalue().split("\nwarning: "):
        text = block.removeprefix("warning: ").strip()
        if text:
            warnings.setdefault(f"{stack}: {text}")
    return run


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="warm runs per stack (median)")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh interpreters per stack (median)")
    args = parser.parse_args(argv)
    warnings: dict[str, None] = {}  # insertion-ordered set: each warning once, in the order first seen
    quiet_run("dev", warnings)  # warm-up: first imports of pulumi_gcp / pulumi_docker modules
    print(HEADER, flush=True)
    for stack in STACKS:
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            run = quiet_run(stack, warnings)
            times.append(time.perf_counter() - start)
        print(row(stack, cold_seconds(stack, args.cold_runs), statistics.median(times), run), flush=True)
    if warnings:
        print("\nThe program warned (each warning once):")
        for text in warnings:
            print(f"- {text}")


if __name__ == "__main__":
    main(sys.argv[1:])
