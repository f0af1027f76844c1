"""A fresh copy of this checkout in a temporary folder, to run the real make in as a newcomer would:
what a target creates (a virtualenv, state, tools) lands there, never in the checkout under test."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.harness import ROOT

# Generated or machine-local, never part of a fresh clone.
IGNORED = (".git", ".venv", "venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__",
           ".pulumi-state", ".tools", ".hypothesis")
MAKE = shutil.which("make") or "/usr/bin/make"


def repo_copy(dest: Path) -> Path:
    """The checkout's files (modification times kept, so make sees the real venv as up to date)."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    return dest


def make(repo: Path, *args: str, env: dict[str, str], venv: Path | None = ROOT / ".venv",
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real make in `repo`, with exactly `env` (PATH included) and VENV pointing at `venv`."""
    extra = [f"VENV={venv}"] if venv else []
    return subprocess.run([MAKE, "--no-print-directory", "-C", str(repo), *args, *extra], env=env,
                          capture_output=True, text=True, check=False, timeout=timeout)
