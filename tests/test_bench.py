"""`make bench` as a person runs it: one table in the format docs/development.md shows, the same
critical path on every run, and each warning of the program printed once, below the table."""

from __future__ import annotations

import re
import subprocess

from scripts import bench
from tests.harness import ROOT, STACKS

ROW = re.compile(r"^\| (\w+) \| \d+\.\d\d \| \d+\.\d\d\d \| \d+ \| \d+ \| (\d+): (.+) \|$")


def _make_bench() -> str:
    done = subprocess.run(["make", "--no-print-directory", "bench", "BENCH_ARGS=--runs 1 --cold-runs 1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    return done.stdout + done.stderr


def _table(output: str) -> tuple[list[str], list[str]]:
    lines = output.splitlines()
    start = lines.index(bench.HEADER.splitlines()[0])
    rows = lines[start + 2:start + 2 + len(STACKS)]
    return rows, lines[start + 2 + len(STACKS):]


def test_bench_is_deterministic_and_warns_once_outside_the_table() -> None:
    outputs = [_make_bench(), _make_bench()]
    paths = []
    for output in outputs:
        rows, after = _table(output)
        matched = [ROW.match(r) for r in rows]
        assert all(matched), rows
        assert [m.group(1) for m in matched if m] == list(STACKS)
        for m in matched:
            assert m and int(m.group(2)) == len(m.group(3).split(bench.ARROW))
        paths.append([m.group(3) for m in matched if m])
        warning = "the audit config of artifactregistry.googleapis.com in project image-sharing-prod is authoritative"
        assert output.count(warning) == 1, output
        assert any(warning in line for line in after), "the warning comes after the table"
    assert paths[0] == paths[1]


def test_the_docs_table_has_the_bench_format() -> None:
    page = (ROOT / "docs" / "development.md").read_text()
    block = page.split("<!-- bench:start -->\n", 1)[1].split("<!-- bench:end -->", 1)[0]
    assert block.startswith(bench.HEADER + "\n")
    rows = block[len(bench.HEADER) + 1:].split("\n\n", 1)[0].splitlines()
    assert [m.group(1) for m in map(ROW.match, rows) if m] == list(STACKS), rows
