"""The Docker CLI as an offline peer: pointed at a daemon socket that does not exist, it parses a
command (flags, sub-command, image references) and only then fails to connect. A refusal from the
parser is what a user would meet when pasting the command."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from functools import cache

from tests.peers import binary

PARSE_ERRORS = ("unknown flag", "unknown shorthand flag", "unknown command", "invalid reference format",
                "requires at least", "requires exactly", "accepts at most", "flag needs an argument",
                "invalid argument")


@cache
def refusal(command: str) -> str | None:
    """None when the Docker CLI parses `command`, else what it said."""
    argv = shlex.split(command)
    assert argv and argv[0] == "docker", command
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DOCKER_HOST": f"unix://{home}/no-daemon.sock", "DOCKER_CONFIG": home,
               "HOME": home}
        done = subprocess.run([binary("docker"), *argv[1:]], env=env, capture_output=True, text=True,
                              input="not-a-password\n", timeout=60)
    said = done.stdout + done.stderr
    return said.strip() if any(marker in said for marker in PARSE_ERRORS) else None
