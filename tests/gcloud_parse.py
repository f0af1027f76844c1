"""gcloud's own argument parser as an offline check: a command it prints or documents must parse.
Without an account, a command that parses stops at "no active account" (exit 1); a parse error
exits 2 ("unrecognized arguments", "Invalid choice", "argument ... expected")."""

from __future__ import annotations

import shlex
import subprocess
import tempfile

from tests.peers import binary


def gcloud_parse_error(command: str) -> str | None:
    """None when gcloud accepts the command line, else its complaint."""
    argv = shlex.split(command)
    assert argv[0] == "gcloud", command
    with tempfile.TemporaryDirectory() as config:
        result = subprocess.run([binary("gcloud"), *argv[1:]], capture_output=True, text=True, check=False,
                                timeout=60, env={"PATH": "/usr/bin:/bin", "CLOUDSDK_CONFIG": config,
                                                 "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"})
    if result.returncode == 2 or "unrecognized arguments" in result.stderr or "Invalid choice" in result.stderr:
        return result.stderr
    assert "active account" in result.stderr, result.stderr  # it got past the parser, no further
    return None
