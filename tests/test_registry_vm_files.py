"""What the VM reads, fed to the real programs: cloud-init's schema check, systemd-analyze, shellcheck,
bash running the secret fetcher against a fake metadata server and Secret Manager on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from components.registry_config import (
    FETCH_SECRETS_SCRIPT,
    MOUNT_DATA_DISK_SCRIPT,
    FilesystemStorage,
    GcsStorage,
    VmSecret,
    cloud_init,
    gc_units,
    mount_data_disk_command,
    registry_config,
    render_yaml,
    vm_unit,
)
from components.settings import RegistrySettings, RegistryVmSettings
from tests.peers import binary, serving

pytestmark = pytest.mark.integration
SETTINGS = RegistrySettings()
SECRETS = [VmSecret("registry-htpasswd", "htpasswd"), VmSecret("registry-http-secret", "http-secret.env")]
# Executables Container-Optimized OS ships that the unit may call; anything else fails verification.
COS_BINARIES = ("/bin/bash", "/bin/mkdir", "/bin/sleep", "/usr/bin/docker", "/usr/bin/docker-credential-gcr",
                "/usr/bin/systemctl")
CLOUD_CONFIG_SCHEMA = Path("/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json")


def user_data(disk: bool, proxy: bool = False) -> str:
    storage = FilesystemStorage() if disk else GcsStorage(bucket="b")
    config = render_yaml(registry_config(SETTINGS, storage, http_secret=None))
    image = "H/p/cache/library/registry:2.8.3" if proxy else SETTINGS.image
    return cloud_init(config, vm_unit(SETTINGS, image, "proj", SECRETS, disk, "H" if proxy else None), disk,
                      gc_units(SETTINGS, image, disk, RegistryVmSettings().gc_schedule or "", "H" if proxy else None))


def cloud_init_top_level_keys() -> set[str]:
    """The keys cloud-init itself documents (its schema's top-level properties)."""
    schema = json.loads(CLOUD_CONFIG_SCHEMA.read_text())
    keys: set[str] = set()
    for ref in schema["allOf"]:
        keys |= set(schema["$defs"][ref["$ref"].rsplit("/", 1)[1]].get("properties", {}))
    return keys


@pytest.mark.parametrize(("disk", "proxy"), [(True, False), (False, False), (True, True)])
def test_user_data_passes_cloud_init_schema(tmp_path: Path, disk: bool, proxy: bool) -> None:
    path = tmp_path / "user-data"
    path.write_text(user_data(disk, proxy))
    result = subprocess.run([binary("cloud-init"), "schema", "--config-file", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_schema_check_can_fail(tmp_path: Path) -> None:
    path = tmp_path / "user-data"
    path.write_text("#cloud-config\nwrite_files: {path: not-a-list}\n")
    result = subprocess.run([binary("cloud-init"), "schema", "--config-file", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0


def test_every_top_level_key_is_one_cloud_init_knows() -> None:
    known = cloud_init_top_level_keys()
    assert {"bootcmd", "write_files", "runcmd"} <= known and "registry" not in known
    for disk in (True, False):
        data = yaml.safe_load(user_data(disk))
        assert set(data) <= known


def verify_unit(tmp_path: Path, unit: str, others: dict[str, str] | None = None,
                name: str = "registry.service") -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify in a root that has what COS has: /usr/bin/docker, docker.service."""
    root = tmp_path / "root"
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for tool in COS_BINARIES:
        (root / tool[1:]).parent.mkdir(parents=True, exist_ok=True)
        (root / tool[1:]).write_text("#!/bin/sh\n")
        (root / tool[1:]).chmod(0o755)
    (units / "docker.service").write_text(
        "[Unit]\nDescription=Docker as on COS\n[Service]\nExecStart=/usr/bin/docker\n")
    (units / "registry.service").write_text(unit)
    for other, content in (others or {}).items():
        (units / other).write_text(content)
    return subprocess.run(
        [binary("systemd-analyze"), "verify", f"--root={root}", f"/etc/systemd/system/{name}"],
        capture_output=True, text=True, check=False)


@pytest.mark.parametrize("proxy", [False, True])
def test_unit_passes_systemd_analyze(tmp_path: Path, proxy: bool) -> None:
    unit = vm_unit(SETTINGS, "registry:2.8.3", "proj", SECRETS, True, "H" if proxy else None)
    result = verify_unit(tmp_path, unit)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize(("disk", "proxy"), [(True, False), (False, True)])
@pytest.mark.parametrize("name", ["registry-gc.service", "registry-gc.timer"])
def test_garbage_collection_units_pass_systemd_analyze(tmp_path: Path, disk: bool, proxy: bool, name: str) -> None:
    unit = vm_unit(SETTINGS, "registry:2.8.3", "proj", SECRETS, disk, "H" if proxy else None)
    units = gc_units(RegistrySettings(delete_enabled=True), "registry:2.8.3", disk,
                     RegistryVmSettings().gc_schedule or "", "H" if proxy else None)
    result = verify_unit(tmp_path, unit, units, name)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize(("schedule", "valid"), [(RegistryVmSettings().gc_schedule, True), ("*-*-* 02:30:00", True),
                                                 ("Sun 25:00", False)])
def test_schedule_is_a_calendar_systemd_accepts(schedule: str, valid: bool) -> None:
    result = subprocess.run([binary("systemd-analyze"), "calendar", schedule], capture_output=True, text=True,
                            check=False)
    assert (result.returncode == 0) is valid, result.stderr


def test_systemd_analyze_flags_a_bad_unit(tmp_path: Path) -> None:
    unit = vm_unit(SETTINGS, "registry:2.8.3", "proj", SECRETS, True).replace("Restart=always", "Restart=sometimes")
    assert "Failed to parse service restart specifier" in verify_unit(tmp_path, unit).stderr


def test_shell_scripts_pass_shellcheck() -> None:
    assert mount_data_disk_command()[2] == MOUNT_DATA_DISK_SCRIPT.read_text()
    for script in (FETCH_SECRETS_SCRIPT, MOUNT_DATA_DISK_SCRIPT):
        result = subprocess.run([binary("shellcheck"), "--severity=style", str(script)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout


class _FakeGoogle(BaseHTTPRequestHandler):
    """The metadata server's token endpoint and Secret Manager's access endpoint, as JSON like Google's."""
    secrets: ClassVar[dict[str, bytes]] = {}
    seen_auth: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        if self.path == "/metadata/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self._send(403, {})
            return self._send(200, {"access_token": "ya29.fake", "expires_in": 3599, "token_type": "Bearer"},
                              indent=None)
        self.seen_auth.append(self.headers.get("Authorization", ""))
        prefix, suffix = "/sm/projects/proj/secrets/", "/versions/latest:access"
        name = self.path.removeprefix(prefix).removesuffix(suffix)
        if self.path.startswith(prefix) and name in self.secrets:
            data = base64.b64encode(self.secrets[name]).decode()
            return self._send(200, {"name": f"projects/1/secrets/{name}/versions/3",
                                    "payload": {"data": data, "dataCrc32c": "123"}}, indent=2)
        return self._send(404, {"error": {"code": 404}})

    def _send(self, status: int, body: dict[str, object], indent: int | None = 2) -> None:
        raw = json.dumps(body, indent=indent).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_google() -> Iterator[str]:
    with serving(_FakeGoogle) as url:
        yield url


def fetch(url: str, *pairs: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "METADATA_URL": f"{url}/metadata", "SECRET_MANAGER_URL": f"{url}/sm"}
    return subprocess.run([binary("bash"), str(FETCH_SECRETS_SCRIPT), "proj", *pairs],
                          capture_output=True, text=True, check=False, env=env, timeout=60)


def test_fetch_secrets_writes_each_secret_privately(fake_google: str, tmp_path: Path) -> None:
    _FakeGoogle.secrets = {"registry-htpasswd": b"registry:$2a$10$abc/def+ghi\n",
                           "registry-http-secret": b"REGISTRY_HTTP_SECRET=x" * 40}
    _FakeGoogle.seen_auth = []
    result = fetch(fake_google, f"registry-htpasswd={tmp_path}/run/htpasswd",
                   f"registry-http-secret={tmp_path}/run/http-secret.env")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run/htpasswd").read_bytes() == _FakeGoogle.secrets["registry-htpasswd"]
    assert (tmp_path / "run/http-secret.env").read_bytes() == _FakeGoogle.secrets["registry-http-secret"]
    assert (tmp_path / "run/htpasswd").stat().st_mode & 0o777 == 0o600
    assert _FakeGoogle.seen_auth == ["Bearer ya29.fake"] * 2


def test_fetch_secrets_fails_loudly_on_a_missing_secret(fake_google: str, tmp_path: Path) -> None:
    _FakeGoogle.secrets = {}
    result = fetch(fake_google, f"registry-htpasswd={tmp_path}/htpasswd")
    assert result.returncode != 0
    assert not (tmp_path / "htpasswd").exists()


def run_mount_script(tmp_path: Path, device: Path, wait: int = 2) -> subprocess.CompletedProcess[str]:
    """The bootcmd script with the real e2fsprogs (blkid, mkfs.ext4, fsck.ext4, resize2fs) on a disk
    image file; only `mount`/`mountpoint`/`udevadm` are stand-ins (they need a kernel), logged to files."""
    fakes = tmp_path / "fakes"
    fakes.mkdir(exist_ok=True)
    for name, body in (("mount", f'echo "mount $*" >>{tmp_path}/calls.log'), ("mountpoint", "exit 1"),
                       ("udevadm", f'echo "udevadm $*" >>{tmp_path}/udev.log')):
        (fakes / name).write_text(f"#!/bin/sh\n{body}\n")
        (fakes / name).chmod(0o755)
    env = {"PATH": f"{fakes}:/usr/sbin:/sbin:/usr/bin:/bin", "MOUNT_DATA_DISK_WAIT_SECONDS": str(wait)}
    return subprocess.run([*mount_data_disk_command()[:3], "mount-data-disk", str(device), str(tmp_path / "mnt")],
                          capture_output=True, text=True, check=False, env=env, timeout=60)


def filesystem(device: Path) -> dict[str, str]:
    out = subprocess.run(["/usr/sbin/dumpe2fs", "-h", str(device)], capture_output=True, text=True, check=True)
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.stdout.splitlines())}


def test_mount_script_formats_once_checks_and_grows(tmp_path: Path) -> None:
    device = tmp_path / "disk.img"
    with device.open("wb") as disk:
        disk.truncate(64 * 2**20)
    first = run_mount_script(tmp_path, device)
    assert first.returncode == 0, first.stderr
    uuid, blocks = filesystem(device)["Filesystem UUID"], int(filesystem(device)["Block count"])
    assert (tmp_path / "calls.log").read_text().startswith(f"mount -o discard,defaults {device} {tmp_path}/mnt")
    # A larger diskSizeGb: the same filesystem (not reformatted), grown to the new size.
    with device.open("r+b") as disk:
        disk.truncate(128 * 2**20)
    second = run_mount_script(tmp_path, device)
    assert second.returncode == 0, second.stderr
    assert filesystem(device)["Filesystem UUID"] == uuid
    assert int(filesystem(device)["Block count"]) == 2 * blocks
    assert "fsck" not in second.stderr


def test_mount_script_refuses_a_missing_or_damaged_disk(tmp_path: Path) -> None:
    missing = run_mount_script(tmp_path, tmp_path / "absent.img")
    assert missing.returncode != 0 and "is the data disk attached" in missing.stderr
    device = tmp_path / "disk.img"
    with device.open("wb") as disk:
        disk.truncate(64 * 2**20)
    assert run_mount_script(tmp_path, device).returncode == 0
    (tmp_path / "calls.log").unlink()
    # Wipe the primary superblock: not blank, yet no filesystem found: neither formatted nor mounted.
    with device.open("r+b") as disk:
        disk.seek(1024)
        disk.write(b"\0" * 1024)
    damaged = run_mount_script(tmp_path, device)
    assert damaged.returncode != 0 and "not formatting" in damaged.stderr
    assert not (tmp_path / "calls.log").exists()
    assert subprocess.run(["/usr/sbin/e2fsck", "-n", "-b", "8193", str(device)], capture_output=True,
                          check=False).returncode in (1, 4), "the backup superblock must still be there"


def test_mount_script_waits_for_a_late_device_link(tmp_path: Path) -> None:
    """At bootcmd time udev may not have made /dev/disk/by-id/google-registry-data yet."""
    image = tmp_path / "disk.img"
    with image.open("wb") as disk:
        disk.truncate(64 * 2**20)
    link = tmp_path / "google-registry-data"
    timer = threading.Timer(2.0, lambda: link.symlink_to(image))
    timer.start()
    try:
        late = run_mount_script(tmp_path, link, wait=15)
    finally:
        timer.cancel()
    assert late.returncode == 0, late.stderr
    assert (tmp_path / "udev.log").read_text() == "udevadm settle --timeout=15\n"
    assert (tmp_path / "calls.log").read_text().startswith(f"mount -o discard,defaults {link} ")


def test_mount_script_gives_up_on_a_device_that_never_comes(tmp_path: Path) -> None:
    import time

    started = time.monotonic()
    never = run_mount_script(tmp_path, tmp_path / "google-registry-data", wait=3)
    elapsed = time.monotonic() - started
    assert never.returncode != 0 and "does not exist after 3 s" in never.stderr
    assert 3 <= elapsed < 10
    assert not (tmp_path / "calls.log").exists()


def test_fetch_secrets_retries_until_the_network_is_up(tmp_path: Path) -> None:
    """At boot the metadata server may refuse connections for a moment: curl retries those too."""
    from tests.peers import free_port

    port = free_port()
    _FakeGoogle.secrets = {"registry-htpasswd": b"registry:$2a$10$abc\n"}
    server: list[ThreadingHTTPServer] = []
    timer = threading.Timer(1.5, lambda: (server.append(ThreadingHTTPServer(("127.0.0.1", port), _FakeGoogle)),
                                          threading.Thread(target=server[0].serve_forever, daemon=True).start()))
    timer.start()
    try:
        result = fetch(f"http://127.0.0.1:{port}", f"registry-htpasswd={tmp_path}/htpasswd")
    finally:
        timer.join()
        server[0].shutdown()
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "htpasswd").read_bytes() == _FakeGoogle.secrets["registry-htpasswd"]


def test_fetch_secrets_gives_up_on_a_hung_server(tmp_path: Path) -> None:
    """A server that accepts and never answers: each attempt is cut at the time limit, then it fails."""
    import socket
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        env = {"PATH": "/usr/bin:/bin", "FETCH_MAX_TIME": "1",
               "METADATA_URL": f"http://127.0.0.1:{listener.getsockname()[1]}/metadata"}
        started = time.monotonic()
        result = subprocess.run([binary("bash"), str(FETCH_SECRETS_SCRIPT), "proj", f"x={tmp_path}/x"],
                                capture_output=True, text=True, check=False, env=env, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert result.returncode != 0 and "timed out" in result.stderr.lower()
    assert elapsed < 20


def test_restore_commands_parse_with_gcloud() -> None:
    """(tests/test_docs.py parses every printed command too; this names the restore ones.)"""
    from tests.conftest import stack_run
    from tests.gcloud_cli import refusal

    out = stack_run("dev").outputs["registryDataDisk"]
    for command in (out["snapshotNow"], out["listSnapshots"], *(s for s in out["restore"] if s.startswith("gcloud"))):
        assert refusal(command) is None, command
    assert refusal(out["snapshotNow"] + " --no-such-flag") is not None


@pytest.mark.parametrize("disk", [True, False])
def test_docker_run_lines_parse_with_the_docker_cli(disk: bool) -> None:
    """Every `docker run` the units start (registry, garbage collection), through Docker's own parser:
    `--mount` values are checked client-side."""
    from tests.docker_cli import refusal

    units = [vm_unit(SETTINGS, "registry:2.8.3", "proj", SECRETS, disk, "H"),
             *gc_units(RegistrySettings(delete_enabled=True), "registry:2.8.3", disk, "daily").values()]
    runs = [line.split("=", 1)[1].removeprefix("/usr/bin/") for unit in units for line in unit.splitlines()
            if line.startswith("ExecStart=") and "docker run" in line]
    assert len(runs) == 2
    for command in runs:
        assert refusal(command) is None, command
    assert refusal(runs[0].replace("source=", "sourcex=")) is not None


def recording_curl(bin_dir: Path) -> Path:
    """A curl that appends its argv to a log, then runs the real one: what /proc/*/cmdline shows."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = bin_dir / "curl-argv.log"
    real = shutil.which("curl")
    assert real
    (bin_dir / "curl").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >>{log}\nexec {real} "$@"\n')
    (bin_dir / "curl").chmod(0o755)
    return log


def test_fetch_secrets_keeps_the_token_off_the_command_line(fake_google: str, tmp_path: Path) -> None:
    _FakeGoogle.secrets = {"registry-htpasswd": b"registry:$2a$10$abc\n"}
    _FakeGoogle.seen_auth = []
    log = recording_curl(tmp_path / "bin")
    env = {"PATH": f"{tmp_path}/bin:/usr/bin:/bin", "METADATA_URL": f"{fake_google}/metadata",
           "SECRET_MANAGER_URL": f"{fake_google}/sm"}
    result = subprocess.run([binary("bash"), str(FETCH_SECRETS_SCRIPT), "proj", f"registry-htpasswd={tmp_path}/h"],
                            capture_output=True, text=True, check=False, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert _FakeGoogle.seen_auth == ["Bearer ya29.fake"], "the token still reached Secret Manager"
    argv = log.read_text()
    assert argv.count("/token") == 1 and "latest:access" in argv, "every curl call was recorded"
    assert "ya29.fake" not in argv
