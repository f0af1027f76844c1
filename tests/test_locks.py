"""The hash locks CI's deploy jobs install (`make deploy-setup`, pip --require-hashes): each covers every
requirement of its requirements.txt with a version in range, and every pinned package carries hashes.
After a change to a requirements.txt, `make lock` regenerates them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.harness import ROOT

LOCKS = [(ROOT / "requirements.txt", ROOT / "requirements.lock"),
         (ROOT / "policy" / "requirements.txt", ROOT / "policy" / "requirements.lock")]
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?P<rest>(?: \\\n(?: {4}.*)(?:\n|$))*)",
                   re.MULTILINE)
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def lock_problems(requirements_txt: list[Requirement], lock_text: str) -> list[str]:
    """Why the lock does not cover the requirements, or has a package pip --require-hashes would refuse."""
    entries = {canonicalize_name(m["name"]): m for m in ENTRY.finditer(lock_text)}
    packages = [line for line in lock_text.splitlines() if line and not line.startswith((" ", "#"))]
    problems = [f"not pinned with ==: {line}" for line in packages if "==" not in line]
    problems += [f"{name}: no sha256 hash" for name, m in entries.items() if not HASH.search(m["rest"])]
    for requirement in requirements_txt:
        entry = entries.get(canonicalize_name(requirement.name))
        if entry is None:
            problems.append(f"{requirement.name}: missing")
        elif Version(entry["version"]) not in requirement.specifier:
            problems.append(f"{requirement.name}=={entry['version']}: outside {requirement.specifier}")
    return problems


@pytest.mark.parametrize("txt, lock", LOCKS, ids=["program", "policy pack"])
def test_the_lock_covers_its_requirements_with_hashes(txt: Path, lock: Path) -> None:
    text = lock.read_text()
    assert len(ENTRY.findall(text)) >= len(requirements(txt)) > 0
    assert lock_problems(requirements(txt), text) == []


LOCK = """pulumi==3.272.0 \\
    --hash=sha256:""" + "a" * 64 + """
pyyaml==6.0.4 \\
    --hash=sha256:""" + "b" * 64 + "\n"


@pytest.mark.parametrize("requirement, lock, problem", [
    ("pulumi>=3.200,<4", LOCK, None),
    ("pulumi>=4,<5", LOCK, "pulumi==3.272.0: outside"),
    ("pulumi-gcp>=10,<11", LOCK, "pulumi-gcp: missing"),
    ("pyyaml>=6,<7", LOCK.replace("--hash=sha256:" + "b" * 64, "--hash=sha256:short"), "pyyaml: no sha256 hash"),
    ("pyyaml>=6,<7", LOCK + "docker>=7\n", "not pinned with ==: docker>=7"),
])
def test_a_stale_or_unhashed_lock_is_refused(requirement: str, lock: str, problem: str | None) -> None:
    problems = lock_problems([Requirement(requirement)], lock)
    assert problems == [] if problem is None else any(problem in p for p in problems), problems
