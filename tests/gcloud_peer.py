"""gcloud's own Python with its libraries (the REST API message classes, the config loaders) as an
offline peer. Its argument parser is in tests/gcloud_cli.py."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from tests.peers import binary


def _env(config: str) -> dict[str, str]:
    return {**os.environ, "CLOUDSDK_CONFIG": config, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}


@cache
def _sdk() -> tuple[Path, Path]:
    with tempfile.TemporaryDirectory() as config:
        out = subprocess.run([binary("gcloud"), "info", "--format=json(installation.sdk_root,basic.python_location)"],
                             capture_output=True, text=True, env=_env(config), timeout=120, check=True).stdout
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
