"""Prints, per stack: the program's evaluation time under mocks (median of several runs), how many
resources it registers, and the deployment critical path (its length counts resources, provider
included). "cold" is a fresh interpreter (imports included), "warm" a re-run in one process.
A benchmark, not a test: nothing fails."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dependency_graph import critical_path
from tests.harness import STACKS, run_stack

RUNS = 7
COLD_RUNS = 3
ROOT = Path(__file__).resolve().parent.parent


def cold_seconds(stack: str) -> float:
    """A fresh interpreter each time, as `pulumi up` starts one: SDK imports included."""
    code = ("import sys, time; sys.path.insert(0, '.'); t = time.perf_counter(); "
            f"from tests.harness import run_stack; run_stack({stack!r}); print(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                                  text=True).stdout) for _ in range(COLD_RUNS)]
    return statistics.median(times)


def main() -> None:
    run_stack("dev")  # warm-up: first imports of pulumi_gcp / pulumi_docker modules
    print(f"{'stack':<6} {'cold s':>7} {'warm s':>7} {'resources':>9} {'custom':>6} {'path':>4}")
    paths = {}
    for stack in STACKS:
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            run = run_stack(stack)
            times.append(time.perf_counter() - start)
        path = critical_path(run)
        paths[stack] = path
        print(f"{stack:<6} {cold_seconds(stack):>7.3f} {statistics.median(times):>7.3f} {len(run.resources):>9} "
              f"{len(run.custom):>6} {len(path):>4}")
    for stack, path in paths.items():
        print(f"\ncritical path ({stack}): " + " -> ".join(f"{r.type.split(':')[-1]}:{r.name}" for r in path))


if __name__ == "__main__":
    main()
