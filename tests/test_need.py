"""Every make target that runs Pulumi (or gcloud, or hands out gh commands) checks first for what it
needs, as a newcomer meets it: the real make in a fresh copy of the checkout, a PATH of plain tools
with no Pulumi CLI (stubs where a program must answer), a fake Pulumi release served from 127.0.0.1.
Nothing is built when a check fails: no virtualenv, no policy virtualenv, no state folder."""

from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.metadata
import io
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import ROOT
from tests.peers import binary, free_port
from tests.repo_copy import make, repo_copy

PULUMI_VERSION = re.search(r"^PULUMI_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)  # type: ignore[union-attr]
# What the Makefile and scripts/need.sh run, from this machine; nothing else is on the PATH.
BASIC_TOOLS = ("sh", "env", "sed", "awk", "cut", "head", "tar", "gzip", "curl", "sha256sum", "mktemp", "mkdir",
               "rm", "mv", "uname", "cat", "touch", "test", "ls")
INSTALL_COMMAND = f"curl -fsSL https://get.pulumi.com | sh -s -- --version {PULUMI_VERSION}"
PIPELINE_TARGETS = ("preview", "up", "destroy", "bootstrap-preview", "bootstrap")


def fake_pulumi(log: Path, version: str = PULUMI_VERSION) -> str:
    return f'#!/bin/sh\necho "pulumi $*" >> {log}\n[ "$1" = version ] && echo v{version}\nexit 0\n'


@dataclass
class Newcomer:
    """A fresh clone and a machine with plain tools; `programs` adds stubs (name -> sh body)."""
    tmp: Path

    def __post_init__(self) -> None:
        self.repo = repo_copy(self.tmp / "repo")
        self.bin = self.tmp / "bin"
        self.bin.mkdir()
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.log = self.tmp / "calls.log"
        for tool in BASIC_TOOLS:
            found = shutil.which(tool)
            assert found, tool
            (self.bin / tool).symlink_to(found)

    def stub(self, name: str, body: str = "exit 0") -> None:
        path = self.bin / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {self.log}\n{body}\n')
        path.chmod(0o755)

    def pulumi_on_path(self, version: str = PULUMI_VERSION) -> None:
        (self.bin / "pulumi").write_text(fake_pulumi(self.log, version))
        (self.bin / "pulumi").chmod(0o755)

    def docker(self, answers: bool = True) -> None:
        self.stub("docker", f'[ "$1" = info ] && exit {0 if answers else 1}; exit 0')

    def venvs_ready(self) -> dict[str, str]:
        """The real project venv and an up-to-date policy venv marker: a passing check goes on to Pulumi."""
        marker = self.repo / "policy" / "venv" / ".installed"
        marker.parent.mkdir(parents=True)
        marker.touch()
        return {"venv": str(ROOT / ".venv")}

    def make(self, *args: str, venv: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return make(self.repo, *args, venv=venv, env={"PATH": str(self.bin), "HOME": str(self.home), **env},
                    timeout=120)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def built_nothing(self) -> bool:
        return not any((self.repo / p).exists() for p in (".venv", "policy/venv", ".pulumi-state",
                                                           "bootstrap/.pulumi-state", ".tools/pulumi"))


@pytest.fixture()
def newcomer(tmp_path: Path) -> Newcomer:
    return Newcomer(tmp_path)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def release(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Pulumi release folder as get.pulumi.com/releases/sdk has it, served on 127.0.0.1:
    pulumi-vX-linux-x64.tar.gz (pulumi/pulumi and a language host) and pulumi-X-checksums.txt."""
    folder = tmp_path / "releases"
    folder.mkdir()
    log = tmp_path / "calls.log"
    uname_m = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True).stdout.strip()
    arch = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}[uname_m]
    archive = f"pulumi-v{PULUMI_VERSION}-linux-{arch}.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in (("pulumi/pulumi", fake_pulumi(log).replace('"pulumi ', '"installed-pulumi ')),
                           ("pulumi/pulumi-language-python", "#!/bin/sh\n")):
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    (folder / archive).write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    other = hashlib.sha256(b"another archive").hexdigest()
    (folder / f"pulumi-{PULUMI_VERSION}-checksums.txt").write_text(
        f"{other}  pulumi-v{PULUMI_VERSION}-darwin-arm64.tar.gz\n{digest}  {archive}\n")
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port),
                                             functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", folder
    finally:
        server.shutdown()
        server.server_close()


def nowhere() -> str:
    """A release URL nothing answers on, as for a machine offline."""
    return f"http://127.0.0.1:{free_port()}"


# --- the Pulumi CLI --------------------------------------------------------------------------------

@pytest.mark.parametrize("target", PIPELINE_TARGETS)
def test_without_pulumi_and_offline_each_target_names_the_install_and_builds_nothing(
        newcomer: Newcomer, target: str) -> None:
    newcomer.docker()
    result = newcomer.make(target, PULUMI_RELEASES=nowhere())
    assert result.returncode != 0
    assert f"The Pulumi CLI (v{PULUMI_VERSION}, the version this project is tested with) is not installed" \
        in result.stderr
    assert f"could not download {nowhere()[:17]}" in result.stderr
    assert f"  {INSTALL_COMMAND}\n" in result.stderr
    assert "Nothing was done" in result.stderr and "No such file or directory" not in result.stderr
    assert newcomer.built_nothing()


def test_a_missing_pulumi_is_installed_verified_and_used(newcomer: Newcomer, release: tuple[str, Path]) -> None:
    result = newcomer.make("pulumi-cli", PULUMI_RELEASES=release[0])
    assert result.returncode == 0, result.stderr
    assert "Installing the Pulumi CLI" in result.stderr
    installed = newcomer.repo / ".tools" / "pulumi" / "bin"
    assert (installed / "pulumi").exists() and (installed / "pulumi-language-python").exists()
    assert f"Installed: v{PULUMI_VERSION}" in result.stderr


def test_preview_runs_the_installed_pulumi_after_the_checks(newcomer: Newcomer, release: tuple[str, Path]) -> None:
    newcomer.docker()
    venv = newcomer.venvs_ready()["venv"]
    result = newcomer.make("preview", venv=Path(venv), PULUMI_RELEASES=release[0])
    assert result.returncode == 0, result.stderr
    assert [c for c in newcomer.calls() if c.startswith("installed-pulumi") and c != "installed-pulumi version"] == [
        "installed-pulumi stack select --create local",
        "installed-pulumi preview --diff --stack local --policy-pack policy"]
    # Checked first: docker was asked before pulumi ran.
    calls = newcomer.calls()
    assert calls.index("docker info") < calls.index("installed-pulumi stack select --create local")


def test_a_tampered_release_is_refused_and_nothing_is_installed(newcomer: Newcomer,
                                                                release: tuple[str, Path]) -> None:
    url, folder = release
    archive = next(folder.glob("*.tar.gz"))
    archive.write_bytes(archive.read_bytes() + b"\0")  # the archive changed, the checksums did not
    newcomer.docker()
    result = newcomer.make("up", PULUMI_RELEASES=url)
    assert result.returncode != 0
    assert f"REFUSED: {archive.name} has SHA-256 {hashlib.sha256(archive.read_bytes()).hexdigest()}" in result.stderr
    assert f"  {INSTALL_COMMAND}\n" in result.stderr
    assert newcomer.built_nothing() and not (newcomer.repo / ".tools" / "pulumi").exists()


def test_a_release_missing_from_the_checksums_is_refused(newcomer: Newcomer, release: tuple[str, Path]) -> None:
    url, folder = release
    sums = next(folder.glob("*-checksums.txt"))
    sums.write_text("\n".join(line for line in sums.read_text().splitlines() if "linux" not in line) + "\n")
    result = newcomer.make("pulumi-cli", PULUMI_RELEASES=url)
    assert result.returncode != 0 and "lists no checksum for pulumi-v" in result.stderr
    assert not (newcomer.repo / ".tools" / "pulumi").exists()


def test_another_pulumi_version_on_path_gives_way_to_the_pinned_one(newcomer: Newcomer,
                                                                     release: tuple[str, Path]) -> None:
    newcomer.pulumi_on_path("3.100.0")
    newcomer.docker()
    venv = newcomer.venvs_ready()["venv"]
    result = newcomer.make("up", venv=Path(venv), PULUMI_RELEASES=release[0])
    assert result.returncode == 0, result.stderr
    assert f"The Pulumi CLI here is v3.100.0; this project is tested with v{PULUMI_VERSION}." in result.stderr
    ran = [c for c in newcomer.calls() if " stack " in c or " up " in c]
    assert ran and all(c.startswith("installed-pulumi") for c in ran), ran


def test_the_pinned_cli_is_a_version_of_the_sdk_range_the_program_runs_with() -> None:
    """Pulumi releases the CLI and the Python SDK together, under one version number: the pin is one
    requirements.txt accepts, and no newer than the SDK installed here (pip takes the newest)."""
    installed = tuple(int(p) for p in importlib.metadata.version("pulumi").split(".")[:3])
    assert tuple(int(p) for p in PULUMI_VERSION.split(".")) <= installed
    low, high = re.search(r"^pulumi>=([\d.]+),<(\d+)$", (ROOT / "requirements.txt").read_text(), re.M).groups()  # type: ignore[union-attr]
    as_tuple = tuple(int(p) for p in PULUMI_VERSION.split("."))
    assert tuple(int(p) for p in low.split(".")) <= as_tuple < (int(high),)


# --- Docker, gcloud, gh, credentials ---------------------------------------------------------------

@pytest.mark.parametrize("engine", ["missing", "down"])
def test_the_local_stack_without_a_running_docker_stops_first(newcomer: Newcomer, engine: str) -> None:
    newcomer.pulumi_on_path()
    if engine == "down":
        newcomer.docker(answers=False)
    for target in ("preview", "up", "destroy"):
        result = newcomer.make(target)
        assert result.returncode != 0
        expected = "Docker is not installed" if engine == "missing" else "its engine does not answer 'docker info'"
        assert expected in result.stderr and "Pulumi CLI" not in result.stderr
        assert newcomer.built_nothing()
    assert [c for c in newcomer.calls() if not c.startswith(("pulumi version", "docker info"))] == []


def test_bootstrap_names_gcloud_credentials_and_gh_at_once(newcomer: Newcomer) -> None:
    newcomer.pulumi_on_path()
    result = newcomer.make("bootstrap")
    assert result.returncode != 0
    assert "The Google Cloud CLI (gcloud) is not installed: https://cloud.google.com/sdk/docs/install" in result.stderr
    assert "  gcloud auth application-default login\n" in result.stderr
    assert "The GitHub CLI (gh, 2.31 or newer) is not installed: https://cli.github.com/" in result.stderr
    assert newcomer.built_nothing()
    preview = newcomer.make("bootstrap-preview")
    assert "gcloud auth application-default login" in preview.stderr and "GitHub CLI" not in preview.stderr
    assert newcomer.built_nothing()


def test_bootstrap_refuses_an_old_gh(newcomer: Newcomer) -> None:
    newcomer.pulumi_on_path()
    newcomer.stub("gcloud")
    newcomer.stub("gh", 'echo "gh version 2.20.2 (2022-11-15)"')
    adc = newcomer.home / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text("{}")
    result = newcomer.make("bootstrap")
    assert result.returncode != 0 and "gh 2.20 is too old: 2.31 or newer has gh variable" in result.stderr
    assert "gcloud" not in result.stderr and newcomer.built_nothing()


def test_bootstrap_with_everything_in_place_runs_pulumi(newcomer: Newcomer) -> None:
    newcomer.pulumi_on_path()
    newcomer.stub("gcloud")
    newcomer.stub("gh", 'echo "gh version 2.45.0 (2024-03-04)"')
    key = newcomer.tmp / "key.json"
    key.write_text("{}")
    venv = newcomer.venvs_ready()["venv"]
    result = newcomer.make("bootstrap", venv=Path(venv), GOOGLE_APPLICATION_CREDENTIALS=str(key))
    assert result.returncode == 0, result.stderr
    assert "pulumi up --stack ci --policy-pack ../policy" in newcomer.calls()


def test_bootstrap_apis_without_gcloud_says_where_to_get_it(newcomer: Newcomer) -> None:
    result = newcomer.make("bootstrap-apis", "PROJECT=my-project")
    assert result.returncode != 0
    assert "The Google Cloud CLI (gcloud) is not installed" in result.stderr
    assert "No such file or directory" not in result.stderr and "Error 127" not in result.stderr


# --- where the state goes --------------------------------------------------------------------------

def test_dev_and_prod_say_where_their_state_is_and_warn_about_a_local_folder(newcomer: Newcomer) -> None:
    newcomer.pulumi_on_path()
    newcomer.docker()
    venv = Path(newcomer.venvs_ready()["venv"])
    result = newcomer.make("preview", "STACK=dev", venv=venv)
    assert result.returncode == 0, result.stderr
    assert f"WARNING: stack dev keeps its Pulumi state in {newcomer.repo}/.pulumi-state, a folder on this machine" \
        in result.stderr
    assert "tracked only here" in result.stderr and "PULUMI_BACKEND_URL=gs://YOUR-STATE-BUCKET" in result.stderr
    result = newcomer.make("up", "STACK=prod", venv=venv, PULUMI_BACKEND_URL="gs://acme-ci-pulumi-state")
    assert result.returncode == 0, result.stderr
    assert "Stack prod: Pulumi state in gs://acme-ci-pulumi-state" in result.stderr
    assert "WARNING" not in result.stderr
    local = newcomer.make("preview", venv=venv)
    assert local.returncode == 0 and "state" not in local.stderr.lower()


def test_up_on_a_gcp_stack_warns_when_docker_cannot_build_the_sample_image(newcomer: Newcomer) -> None:
    newcomer.pulumi_on_path()
    venv = Path(newcomer.venvs_ready()["venv"])
    result = newcomer.make("up", "STACK=dev", venv=venv, PULUMI_BACKEND_URL="gs://b")
    assert result.returncode == 0, result.stderr
    assert "Docker is not installed, and pulumi up (it builds the sample image unless sampleImage.enabled" \
        in result.stderr


@pytest.mark.integration
def test_shellcheck_finds_nothing_in_the_need_script() -> None:
    result = subprocess.run([binary("shellcheck"), "--severity", "style", "--format", "gcc",
                             str(ROOT / "scripts" / "need.sh")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
