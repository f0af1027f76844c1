"""The installed Google Cloud SDK as an offline peer: its argument parser accepts or refuses a command
before any network call. Run without credentials, a command that parses stops at "no active account"
(exit 1); one that does not parse exits 2 with gcloud's own message ("unrecognized arguments",
"Invalid choice", a missing required flag)."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from functools import cache

from tests.peers import binary

# Commands that would start an interactive or browser flow, or change this machine's own files,
# are checked by their help page instead (the command path exists, every flag used is documented).
HELP_ONLY = (("auth", "login"), ("auth", "application-default", "login"), ("auth", "configure-docker"),
             ("init",))
PARSE_ERRORS = ("unrecognized arguments", "Invalid choice", "argument ", "must be specified",
                "is required", "Invalid value", "expected one argument")


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
    env.update(HOME=home, CLOUDSDK_CONFIG=os.path.join(home, "gcloud"), CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1", CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="1")
    return env


def _positional_path(argv: list[str]) -> tuple[str, ...]:
    return tuple(a for a in argv[1:] if not a.startswith("-"))


@cache
def refusal(command: str) -> str | None:
    """None when the installed gcloud parses `command`, else what gcloud said."""
    argv = shlex.split(command)
    assert argv and argv[0] == "gcloud", command
    path = _positional_path(argv)
    help_only = next((p for p in HELP_ONLY if path[:len(p)] == p), None)
    with tempfile.TemporaryDirectory() as home:
        if help_only is not None:
            done = subprocess.run([binary("gcloud"), *help_only, "--help"], env=_env(home), capture_output=True,
                                  text=True, timeout=60, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                return done.stderr.strip()
            flags = {a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")}
            missing = sorted(f for f in flags if f not in done.stdout)
            return f"flags not in `gcloud {' '.join(help_only)} --help`: {missing}" if missing else None
        done = subprocess.run([binary("gcloud"), *argv[1:]], env=_env(home), capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode == 2 or any(marker in done.stderr for marker in PARSE_ERRORS):
        return done.stderr.strip()
    return None
