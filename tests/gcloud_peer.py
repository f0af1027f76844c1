"""The installed gcloud as an offline peer: its argument parser (a command that parses fails later, on
the missing account, never with exit 2) and its own Python with the REST API message classes."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from tests.peers import binary

PARSE_ERRORS = ("unrecognized arguments", "Invalid choice", "argument ", "must be specified")


def _env(config: str) -> dict[str, str]:
    return {**os.environ, "CLOUDSDK_CONFIG": config, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}


def gcloud(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as config:
        return subprocess.run([binary("gcloud"), *args], capture_output=True, text=True, env=_env(config),
                              timeout=120, check=False)


def assert_parses(args: list[str]) -> None:
    """gcloud accepted every argument: it got as far as asking for credentials."""
    assert args[0] == "gcloud", args
    result = gcloud(*args[1:])
    assert result.returncode == 1 and "active account" in result.stderr, (args, result.returncode, result.stderr)
    assert not any(error in result.stderr for error in PARSE_ERRORS), result.stderr


@cache
def _sdk() -> tuple[Path, Path]:
    out = gcloud("info", "--format=json(installation.sdk_root,basic.python_location)").stdout
    info = json.loads(out)
    return Path(info["installation"]["sdk_root"]), Path(info["basic"]["python_location"])


def gcloud_python(script: str, stdin: Any) -> Any:
    """Runs `script` in gcloud's own Python with its libraries; JSON in on stdin, JSON out on stdout."""
    root, python = _sdk()
    path = f"{root / 'lib'}:{root / 'lib' / 'third_party'}"
    with tempfile.TemporaryDirectory() as config:
        result = subprocess.run([str(python), "-c", script], input=json.dumps(stdin), capture_output=True,
                                text=True, env={**_env(config), "PYTHONPATH": path}, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
