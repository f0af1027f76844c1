"""`make bootstrap-apis PROJECT=...`: the one step before a first `pulumi up` with service-account
credentials, checked by make itself and by the installed gcloud's parser."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from components.project_services import BOOTSTRAP_APIS, RESOURCE_MANAGER
from tests.gcloud_cli import refusal
from tests.harness import ROOT


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args], capture_output=True,
                          text=True, check=False, timeout=60)


def bootstrap_command(project: str) -> list[str]:
    dry = make("-n", "bootstrap-apis", f"PROJECT={project}")
    assert dry.returncode == 0, dry.stderr
    [line] = [line for line in dry.stdout.splitlines() if line.startswith("gcloud ")]
    return shlex.split(line)


def test_enables_what_every_service_read_needs() -> None:
    command = bootstrap_command("acme-images")
    assert command[:3] == ["gcloud", "services", "enable"]
    assert set(command[3:-1]) == set(BOOTSTRAP_APIS) and RESOURCE_MANAGER in BOOTSTRAP_APIS
    assert command[-1] == "--project=acme-images"


def test_refuses_to_run_without_a_project() -> None:
    result = make("bootstrap-apis")
    assert result.returncode != 0
    assert "usage: make bootstrap-apis PROJECT=my-project" in result.stderr


@pytest.mark.integration
def test_gcloud_accepts_the_command() -> None:
    assert refusal(shlex.join(bootstrap_command("acme-images"))) is None
    assert refusal("gcloud services enable serviceusage.googleapis.com --projects=acme-images") is not None


def test_same_two_apis_as_the_bootstrap_enables_in_each_stack_project() -> None:
    from bootstrap.foundation.services import STACK_APIS

    assert set(STACK_APIS) == set(BOOTSTRAP_APIS)
