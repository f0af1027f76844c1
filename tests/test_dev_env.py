"""`make test` on any laptop: the peers installed here when root or passwordless sudo and apt-get allow,
else the suite in the container of .devcontainer/Dockerfile (docker or podman), else a message naming
each missing peer and the command that gets it; on CI a missing peer always fails.

The decision is tested by running the real make and scripts/peers.sh with a PATH of stubs (id, uname,
sudo, apt-get, docker, podman, the peers, the venv's python) that log how they were called."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from docker.api.build import process_dockerfile
from docker.utils.build import tar

from tests.harness import ROOT
from tests.peers import binary

DOCKERFILE = ROOT / ".devcontainer" / "Dockerfile"
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
PEERS_SCRIPT = ROOT / "scripts" / "peers.sh"
MAKE = shutil.which("make") or "make"


def make_variable(name: str) -> list[str]:
    """A variable's value as make itself reads the Makefile ($(info): no shell, no echo needed)."""
    out = subprocess.run([MAKE, "-s", "--no-print-directory", "-C", str(ROOT), "--eval", "print-%: ; $(info $($*))",
                          f"print-{name}"], capture_output=True, text=True, check=True).stdout
    return out.split()


PACKAGES = make_variable("PEER_PACKAGES")
COMMANDS = make_variable("PEER_COMMANDS")
TOOLS = make_variable("PEER_TOOLS")
PACKAGE_OF = dict(zip(COMMANDS, PACKAGES, strict=True))


# ---------------------------------------------------------------------------------------------------
# The decision, run for real with stubs on PATH


@dataclass
class Machine:
    """A fake laptop or CI runner: which programs exist and how they answer."""
    tmp: Path
    uid: int = 1000
    os_name: str = "Linux"
    peers: tuple[str, ...] = ()      # the Debian peers' commands present
    tools: tuple[str, ...] = ("docker", "gcloud")  # the other peers present (CI's machines have both)
    apt: bool = True
    sudo: str | None = None          # None: absent; "nopasswd"; "password" (sudo -n fails)
    runtimes: dict[str, bool] = field(default_factory=dict)  # name -> engine answers `info`
    apt_installs: bool = True        # apt-get install really provides the commands
    system_peers: tuple[str, ...] = ()  # peers in the machine's own sbin, off the user's PATH

    @property
    def system_dirs(self) -> tuple[Path, ...]:
        return (self.tmp / "sbin",)

    def __post_init__(self) -> None:
        self.bin = self.tmp / "bin"
        self.venv = self.tmp / "venv"
        self.log = self.tmp / "calls.log"
        (self.venv / "bin").mkdir(parents=True)
        self.bin.mkdir()
        for tool, real in (("sh", "/bin/sh"), ("env", "/usr/bin/env"), ("make", MAKE)):
            (self.bin / tool).symlink_to(real)
        self.stub("id", 'echo "$UID_FOR_TEST"')
        self.stub("uname", f"echo {self.os_name}")
        self.stub(str(self.venv / "bin" / "python"), "")
        # Newer than the requirements files: `setup` has nothing to do.
        (self.venv / ".installed").touch()
        future = (ROOT / "requirements-dev.txt").stat().st_mtime + 3600
        os.utime(self.venv / ".installed", (future, future))
        for peer in self.peers:
            self.stub(peer, "")
        (self.tmp / "sbin").mkdir()
        for peer in self.system_peers:
            self.stub(str(self.tmp / "sbin" / peer), "")
        if self.apt:
            creates = " ".join(f"{p}) printf '#!/bin/sh\\n' > {self.bin}/{c}; /bin/chmod +x {self.bin}/{c};;"
                               for c, p in PACKAGE_OF.items())
            install = f'for p in "$@"; do case "$p" in {creates} esac; done' if self.apt_installs else ""
            self.stub("apt-get", install)
        if self.sudo:
            ok = "0" if self.sudo == "nopasswd" else "1"
            self.stub("sudo", f'[ "$1" = -n ] && exit {ok}; "$@"')
        for name in {*self.runtimes, *(t for t in self.tools if t in ("docker", "podman"))}:
            # A CLI whose engine answers `info`, or one without an engine (as on CI's machines).
            self.stub(name, f'[ "$1" = info ] && exit {0 if self.runtimes.get(name) else 1}; exit 0')
        for tool in self.tools:
            if not (self.bin / tool).exists():
                self.stub(tool, "")

    def stub(self, name: str, body: str) -> None:
        path = Path(name) if name.startswith("/") else self.bin / name
        label = path.name if path.parent != self.venv / "bin" else "python"
        path.write_text(f'#!/bin/sh\necho "{label} $*" >> {self.log}\n{body}\n')
        path.chmod(0o755)

    def make(self, target: str, *args: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin), "UID_FOR_TEST": str(self.uid), "HOME": str(self.tmp),
               "PEER_SYSTEM_DIRS": " ".join(str(d) for d in self.system_dirs)}
        if ci:
            env["CI"] = "true"
        return subprocess.run([str(self.bin / "make"), "--no-print-directory", "-C", str(ROOT), target,
                               f"VENV={self.venv}", *args], env=env, capture_output=True, text=True,
                              check=False, timeout=60)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def called(machine: Machine, program: str) -> list[str]:
    return [c for c in machine.calls() if c.split(" ", 1)[0] == program]


PYTEST_HERE = "python -m pytest"


@pytest.mark.parametrize("ci", [False, True])
def test_peers_present_run_here_and_install_nothing(tmp_path: Path, ci: bool) -> None:
    machine = Machine(tmp_path, peers=tuple(COMMANDS), sudo="nopasswd", runtimes={"docker": True})
    result = machine.make("test", ci=ci)
    assert result.returncode == 0, result.stderr
    assert [c.strip() for c in machine.calls() if c.startswith(("python", "apt-get", "sudo", "docker"))] == [
        PYTEST_HERE]


@pytest.mark.parametrize("ci", [False, True])
def test_root_installs_only_the_missing_packages_then_runs_here(tmp_path: Path, ci: bool) -> None:
    machine = Machine(tmp_path, uid=0, peers=("skopeo", "cloud-init", "systemd-analyze", "gcc", "node"),
                      runtimes={"docker": True})
    result = machine.make("test", ci=ci)
    assert result.returncode == 0, result.stderr
    assert called(machine, "apt-get") == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends docker-registry nginx-light"]
    assert called(machine, "python") == [PYTEST_HERE]
    assert not called(machine, "docker") and not called(machine, "sudo")


def test_passwordless_sudo_installs_with_sudo(tmp_path: Path) -> None:
    machine = Machine(tmp_path, sudo="nopasswd")
    result = machine.make("test")
    assert result.returncode == 0, result.stderr
    assert called(machine, "sudo")[1:] == [
        "sudo apt-get update -qq",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        + " ".join(PACKAGES)]
    assert called(machine, "python") == [PYTEST_HERE]


def test_an_install_that_provides_nothing_fails_loudly(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=0, apt_installs=False)
    result = machine.make("test", ci=True)
    assert result.returncode != 0
    assert "still missing after apt-get install: " + " ".join(COMMANDS) in result.stderr
    assert not called(machine, "python")


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_no_root_and_a_sudo_password_runs_the_suite_in_a_container(tmp_path: Path, runtime: str) -> None:
    runtimes = {"docker": runtime == "docker", "podman": True}  # a docker whose engine is down is passed over
    machine = Machine(tmp_path, sudo="password", runtimes=runtimes)
    result = machine.make("test", "PYTEST_ARGS=-x -k registry")
    assert result.returncode == 0, result.stderr
    assert not called(machine, "apt-get") and not called(machine, "python")
    assert called(machine, "sudo") == ["sudo -n true"]  # asked, never prompted
    assert called(machine, runtime) == [
        f"{runtime} info",
        f"{runtime} build --file .devcontainer/Dockerfile --tag image-sharing-test .",
        f"{runtime} run --rm --network none --security-opt label=disable --volume {ROOT}:/project:ro "
        "--workdir /project --env PYTHONDONTWRITEBYTECODE=1 image-sharing-test "
        "python -m pytest -p no:cacheprovider -x -k registry"]
    assert "Not installed here: " + " ".join(COMMANDS) in result.stderr


def test_macos_with_colima_or_docker_desktop_uses_the_container(tmp_path: Path) -> None:
    machine = Machine(tmp_path, os_name="Darwin", apt=False, tools=(), runtimes={"docker": True})
    result = machine.make("test")
    assert result.returncode == 0, result.stderr
    assert [c.split()[1] for c in called(machine, "docker")] == ["info", "build", "run"]
    assert "Not installed here: " + " ".join([*COMMANDS, "gcloud"]) in result.stderr


def test_debian_root_without_gcloud_uses_the_container_and_installs_nothing(tmp_path: Path) -> None:
    """Root could install the Debian peers, but gcloud is not one: the container has everything."""
    machine = Machine(tmp_path, uid=0, tools=("docker",), runtimes={"docker": True})
    result = machine.make("test")
    assert result.returncode == 0, result.stderr
    assert not called(machine, "apt-get") and not called(machine, "python")
    assert [c.split()[1] for c in called(machine, "docker")] == ["info", "build", "run"]


def test_ci_installs_the_debian_peers_and_fails_on_a_missing_tool(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=0, tools=("docker",), runtimes={"docker": True})
    result = machine.make("test", ci=True)
    assert result.returncode != 0
    assert len(called(machine, "apt-get")) == 2
    assert "CI=true and test peers are missing: gcloud" in result.stderr
    assert "gcloud: the Google Cloud CLI: https://cloud.google.com/sdk/docs/install" in result.stderr
    assert set(called(machine, "docker")) <= {"docker info"} and not called(machine, "python")


def test_ci_never_falls_back_to_a_container(tmp_path: Path) -> None:
    machine = Machine(tmp_path, sudo="password", runtimes={"docker": True, "podman": True})
    result = machine.make("test", ci=True)
    assert result.returncode != 0
    assert "CI=true and test peers are missing: " + " ".join(COMMANDS) in result.stderr
    assert not called(machine, "podman") and not called(machine, "python")
    assert set(called(machine, "docker")) <= {"docker info"}  # never built or run


def test_debian_without_root_or_runtime_names_each_peer_and_its_apt_command(tmp_path: Path) -> None:
    machine = Machine(tmp_path, peers=("skopeo",), tools=("docker",))
    result = machine.make("test")
    assert result.returncode != 0
    assert "  gcloud: the Google Cloud CLI: https://cloud.google.com/sdk/docs/install\n" in result.stderr
    assert "docker is installed but its engine does not answer" in result.stderr
    missing = [c for c in COMMANDS if c != "skopeo"]
    for command in missing:
        assert f"  {command}: sudo apt-get install --no-install-recommends {PACKAGE_OF[command]}\n" in result.stderr
    assert "skopeo" not in result.stderr.split("All at once")[0]
    assert ("All at once: sudo apt-get install --no-install-recommends "
            + " ".join(PACKAGE_OF[c] for c in missing) + "\n") in result.stderr
    assert not called(machine, "python")


def test_macos_without_a_runtime_says_how_to_get_one(tmp_path: Path) -> None:
    machine = Machine(tmp_path, os_name="Darwin", apt=False, tools=(), runtimes={"docker": False})
    result = machine.make("test")
    assert result.returncode != 0
    for command in COMMANDS:
        assert f"  {command} (Debian package {PACKAGE_OF[command]}): runs in the test container" in result.stderr
    assert "  gcloud: runs in the test container" in result.stderr
    assert "brew install colima docker && colima start" in result.stderr
    assert "Docker Desktop: https://docs.docker.com/desktop/" in result.stderr
    assert "docker is installed but its engine does not answer" in result.stderr
    assert set(called(machine, "docker")) == {"docker info"}  # asked, nothing built


def test_make_peers_installs_as_root_and_explains_otherwise(tmp_path: Path) -> None:
    root = Machine(tmp_path / "root", uid=0)
    assert root.make("peers").returncode == 0
    assert len(called(root, "apt-get")) == 2 and not called(root, "python")
    laptop = Machine(tmp_path / "laptop", os_name="Darwin", apt=False, tools=(), runtimes={"docker": True})
    result = laptop.make("peers")
    assert result.returncode != 0 and "colima start" in result.stderr
    assert "docker works here: make test runs the suite in a container" in result.stderr
    assert called(laptop, "docker") == ["docker info"]  # make peers never runs the suite


def test_make_unit_needs_no_peers_at_all(tmp_path: Path) -> None:
    machine = Machine(tmp_path, os_name="Darwin", apt=False, tools=())
    result = machine.make("unit", ci=True)
    assert result.returncode == 0, result.stderr
    assert machine.calls() == ['python -m pytest -m not integration']


def test_a_peer_in_the_systems_sbin_is_found_before_any_install_advice(tmp_path: Path) -> None:
    """Debian's nginx-light puts nginx in /usr/sbin, off a normal user's PATH: no root, no sudo
    password, and the suite still runs here, with no advice to install what is installed."""
    on_path = tuple(c for c in COMMANDS if c != "nginx")
    machine = Machine(tmp_path, peers=on_path, system_peers=("nginx",), sudo="password", runtimes={"docker": True})
    result = machine.make("test")
    assert result.returncode == 0, result.stderr
    assert "apt-get install" not in result.stderr and "Not installed here" not in result.stderr
    assert called(machine, "python") == [PYTEST_HERE]
    assert not called(machine, "apt-get") and set(called(machine, "docker")) <= {"docker info"}


def _path_without_sbin() -> str:
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not d.rstrip("/").endswith("sbin"))


@pytest.mark.integration
def test_a_user_without_root_finds_debians_nginx(tmp_path: Path) -> None:
    """The real `make peers` as user nobody (no root, no sudo), with a PATH that lacks /usr/sbin, on
    this machine where nginx-light is installed: nginx is found, nothing is advised."""
    nginx = shutil.which("nginx", path="/usr/sbin")
    assert nginx, "nginx-light is a peer: /usr/sbin/nginx"
    path = _path_without_sbin()
    assert shutil.which("nginx", path=path) is None
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.getuid() == 0 else []
    result = subprocess.run([*as_nobody, "env", f"PATH={path}", f"HOME={tmp_path}", "CI=", MAKE,
                             "--no-print-directory", "-C", str(ROOT), "peers"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "nginx" not in result.stderr and "apt-get" not in result.stderr
    # The suite's own lookup, with the same PATH.
    os.environ["PATH"], saved = path, os.environ["PATH"]
    try:
        assert binary("nginx") == nginx
    finally:
        os.environ["PATH"] = saved


def test_a_peer_started_outside_an_integration_test_fails() -> None:
    """What keeps `make unit` free of peers: this test is not marked integration."""
    with pytest.raises(AssertionError, match=re.escape("mark the test @pytest.mark.integration")):
        binary("skopeo")


@pytest.mark.integration
def test_shellcheck_finds_nothing_in_the_script() -> None:
    result = subprocess.run([binary("shellcheck"), "--severity", "style", "--format", "gcc", str(PEERS_SCRIPT)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------
# The container: its Dockerfile, linted, and the build context Docker would send


INSTRUCTIONS = [line for line in DOCKERFILE.read_text().splitlines() if line and not line.startswith("#")]


def test_images_are_pinned_and_the_base_is_debian_bookworm() -> None:
    bases = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert len(bases) == 2 and bases[-1] == "debian:bookworm-slim"
    assert re.fullmatch(r"docker:\d+\.\d+\.\d+-cli", bases[0])
    assert "COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker" in INSTRUCTIONS


@pytest.mark.integration
def test_the_container_has_the_docker_cli_and_gcloud_versions_of_ci_machines(tmp_path: Path) -> None:
    """The docs' commands are checked with these parsers: the container must parse them the same way."""
    text = DOCKERFILE.read_text()
    docker_pin = re.search(r"^FROM docker:(\d+\.\d+\.\d+)-cli", text, re.M)
    gcloud_pin = re.search(r"google-cloud-cli=(\d+\.\d+\.\d+)-0\b", text)
    assert docker_pin and gcloud_pin
    docker = subprocess.run([binary("docker"), "--version"], capture_output=True, text=True, check=True).stdout
    assert docker.startswith(f"Docker version {docker_pin.group(1)},"), docker
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
           "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1"}
    gcloud = subprocess.run([binary("gcloud"), "version"], capture_output=True, text=True, check=True, env=env,
                            timeout=120).stdout
    assert f"Google Cloud SDK {gcloud_pin.group(1)}\n" in gcloud, gcloud


def test_the_image_has_every_makefile_peer_and_python() -> None:
    text = DOCKERFILE.read_text()
    install = re.search(r"apt-get install -y --no-install-recommends\s*\\\n((?:.*\\\n)+)", text)
    assert install
    packages = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", re.sub(r"&&.*", "", install.group(1))))
    assert set(PACKAGES) <= packages, set(PACKAGES) - packages
    # test_workflows runs `git init`; test_registry_vm_files runs fetch-secrets.sh, which uses curl
    assert {"python3", "python3-venv", "git", "curl", "make"} <= packages


def test_requirements_installed_outside_the_mounted_project() -> None:
    assert "COPY requirements.txt requirements-dev.txt /tmp/requirements/" in INSTRUCTIONS
    assert any("/opt/venv/bin/pip install" in line for line in INSTRUCTIONS)
    assert "ENV PATH=/opt/venv/bin:$PATH" in INSTRUCTIONS


def test_devcontainer_builds_the_same_dockerfile_from_the_repository_root() -> None:
    config = json.loads(DEVCONTAINER.read_text())
    assert (DEVCONTAINER.parent / config["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert (DEVCONTAINER.parent / config["build"]["context"]).resolve() == ROOT


def build_context(root: Path) -> dict[str, int]:
    """What `docker build -f .devcontainer/Dockerfile .` sends: docker-py's own context code (the
    .dockerignore matcher ported from Docker's), as its `APIClient.build` calls it. Name -> size."""
    patterns = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    dockerfile = process_dockerfile(".devcontainer/Dockerfile", str(root))
    archive = tar(str(root), exclude=patterns, dockerfile=dockerfile)
    data = archive.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = {m.name: m.size for m in tf.getmembers() if m.isfile()}
    members["(tar bytes)"] = len(data)
    return members


# Docker always sends the Dockerfile and .dockerignore, whatever .dockerignore says.
SENT = {"requirements.txt", "requirements-dev.txt", ".devcontainer/Dockerfile", ".dockerignore", "(tar bytes)"}


def test_build_context_of_this_checkout_is_small() -> None:
    context = build_context(ROOT)
    assert set(context) == SENT
    assert context["(tar bytes)"] < 64 * 1024


def test_build_context_leaves_out_venvs_state_and_git(tmp_path: Path) -> None:
    """A checkout as it looks after `make test`, `make up` and a clone, with bulky folders present."""
    for name in (".dockerignore", "requirements.txt", "requirements-dev.txt", ".devcontainer/Dockerfile",
                 ".devcontainer/devcontainer.json", "__main__.py", "app/Dockerfile"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    bulky = [".venv/lib/big.so", ".git/objects/pack/p.pack", ".pulumi-state/.pulumi/stacks/local.json",
             "policy/venv/lib/x.so", ".mypy_cache/x.json", "tests/__pycache__/x.pyc", "app/site/index.html"]
    for name in bulky:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"\0" * 1_000_000)
    context = build_context(tmp_path)
    assert set(context) == SENT
    assert context["(tar bytes)"] < 64 * 1024


@pytest.mark.integration
def test_hadolint_finds_nothing_in_the_test_container() -> None:
    """The real linter at its strictest threshold; the one ignore (DL3008) is justified in the file."""
    result = subprocess.run([binary("hadolint"), "--format", "json", "--failure-threshold", "style",
                             str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr
    ignores = re.findall(r"hadolint ignore=(\S+)", DOCKERFILE.read_text())
    assert ignores == ["DL3008"]
