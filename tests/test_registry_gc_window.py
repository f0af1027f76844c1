"""Collection with several registries on one store (several VMs or the group on a bucket): a window in
which every registry is read-only and one VM collects.

- gc-window.sh (bash, curl) against a local fake of the metadata server and of the GCS JSON API's
  object calls with generation preconditions: one VM opens the window, the others skip; every VM's
  mode follows it (read-only when the window cannot be read); the collector collects only once every
  registry that beats has acknowledged the window; a window lasts from its server-side creation time,
  whatever its body says, and is then taken over; a create whose answer came late is still ours; only
  the opener closes it, and not while its collector runs.
- The rendered units through systemd-analyze, the user-data through cloud-init's schema.
- Two real registry processes (Debian's 2.8.2) on one filesystem store and one http secret, switched
  to the rendered read-only config as gc-window.sh has registry.service do: pushes get a clear error
  and pulls work during the window; after the unit's collection and the switch back, every tagged
  image pulls with its digests and pushes work again."""

from __future__ import annotations

import contextlib
import email
import json
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import bcrypt
import pytest
import yaml

from components.registry_config import (
    CONFIG_PATH,
    GC_MAX_SEC,
    GC_SERVICE,
    GC_SETTLE_SEC,
    GC_TIMER,
    GC_WINDOW_SCRIPT,
    GC_WINDOW_SEC,
    MODE_JITTER_SEC,
    MODE_POLL_SEC,
    MODE_SERVICE,
    MODE_TIMER,
    READONLY_CONFIG,
    GcsStorage,
    VmSecret,
    cloud_init,
    gc_units,
    htpasswd,
    registry_config,
    render_yaml,
    vm_unit,
)
from components.settings import RegistrySettings
from tests.oci import write_index_layout, write_layout
from tests.peers import binary, free_port, serving
from tests.test_registry_real import PASSWORD, USER, Registry, request, skopeo
from tests.test_registry_vm_files import recording_curl, verify_unit

BUCKET = "acme-registry-dev"
OBJECT = "registry-maintenance/gc-window"
IMAGE = "registry:2.8.3"
SECRETS = [VmSecret("registry-htpasswd", "htpasswd"), VmSecret("registry-http-secret", "http-secret.env")]


def shared_units(settings: RegistrySettings | None = None) -> dict[str, str]:
    return gc_units(settings or RegistrySettings(), IMAGE, False, "Sat *-*-* 19:00:00 UTC", shared_bucket=BUCKET)


def shared_user_data(settings: RegistrySettings | None = None) -> dict[str, Any]:
    settings = settings or RegistrySettings()
    storage = GcsStorage(bucket=BUCKET)
    text = cloud_init(render_yaml(registry_config(settings, storage, http_secret=None)),
                      vm_unit(settings, IMAGE, "proj", SECRETS, False, None, BUCKET), False, shared_units(settings),
                      render_yaml(registry_config(settings, storage, http_secret=None, read_only=True)))
    data: dict[str, Any] = yaml.safe_load(text.split("\n", 1)[1])
    return data


def written(data: dict[str, Any], path: str) -> str:
    content: str = next(f["content"] for f in data["write_files"] if f["path"] == path)
    return content


# --- gc-window.sh against a fake metadata server and GCS ------------------------------------------


@dataclass
class Obj:
    """A stored object: its generation, body, creation time (the server's clock) and custom metadata."""
    generation: int
    body: bytes
    created: float = field(default_factory=time.time)
    metadata: dict[str, str] = field(default_factory=dict)

    def resource(self, name: str) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"kind": "storage#object", "name": name, "bucket": BUCKET, "generation": str(self.generation),
                "metageneration": "1", "contentType": "text/plain", "timeCreated": stamp, "updated": stamp,
                "size": str(len(self.body)), **({"metadata": self.metadata} if self.metadata else {})}


class _FakeGcs(BaseHTTPRequestHandler):
    """The metadata server's token and instance name (per VM: /metadata/VM/...), and the GCS JSON API's
    object calls: metadata GET (pretty-printed, as GCS answers), media GET, list by prefix, media and
    multipart upload, DELETE; ifGenerationMatch on uploads and deletes. Every answer has a Date header
    (BaseHTTPRequestHandler sends it), as Cloud Storage's do."""
    objects: ClassVar[dict[str, Obj]] = {}
    generation: ClassVar[int] = 1000
    auth: ClassVar[set[str]] = set()
    failing: ClassVar[bool] = False  # every bucket call answers 503
    late: ClassVar[float] = 0.0  # the next window create commits, then answers this many seconds late

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/metadata/"):
            vm, _, rest = url.path.removeprefix("/metadata/").partition("/")
            if rest == "instance/service-accounts/default/token":
                return self._send(200, json.dumps({"access_token": "ya29.fake", "expires_in": 3599}).encode())
            if rest == "instance/name":
                return self._send(200, vm.encode())
            return self._send(404, b"")
        self.auth.add(self.headers.get("Authorization", ""))
        if self.failing:
            return self._send(503, b'{"error": {"code": 503}}')
        query = parse_qs(url.query)
        if url.path == f"/storage/v1/b/{BUCKET}/o":
            prefix = query.get("prefix", [""])[0]
            items = [{k: v for k, v in obj.resource(name).items() if k in ("name", "updated")}
                     for name, obj in sorted(self.objects.items()) if name.startswith(prefix)]
            return self._send(200, json.dumps({"items": items} if items else {}, indent=1).encode())
        name = unquote(url.path.removeprefix(f"/storage/v1/b/{BUCKET}/o/"))
        if name not in self.objects:
            return self._send(404, b'{"error": {"code": 404}}')
        obj = self.objects[name]
        if query.get("alt") == ["media"]:
            return self._send(200, obj.body)
        return self._send(200, json.dumps(obj.resource(name), indent=1).encode())

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.auth.add(self.headers.get("Authorization", ""))
        if self.failing:
            return self._send(503, b'{"error": {"code": 503}}')
        query = parse_qs(url.query)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        metadata: dict[str, str] = {}
        if query["uploadType"] == ["multipart"]:
            message = email.message_from_bytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
            resource, media = (part.get_payload(decode=True) for part in message.get_payload())
            meta = json.loads(resource)
            name, metadata, body = meta["name"], meta.get("metadata", {}), media.removesuffix(b"\r\n")
        else:
            name = query["name"][0]
        if query.get("ifGenerationMatch") == ["0"] and name in self.objects:
            return self._send(412, b'{"error": {"code": 412}}')
        type(self).generation += 1
        self.objects[name] = Obj(self.generation, body, metadata=metadata)
        if name == OBJECT and self.late:
            late, type(self).late = self.late, 0.0
            time.sleep(late)  # committed; the answer comes after the client gave up
        return self._send(200, json.dumps(self.objects[name].resource(name), indent=1).encode())

    def do_DELETE(self) -> None:
        url = urlsplit(self.path)
        self.auth.add(self.headers.get("Authorization", ""))
        name = unquote(url.path.removeprefix(f"/storage/v1/b/{BUCKET}/o/"))
        wanted = parse_qs(url.query).get("ifGenerationMatch", [None])[0]
        if name not in self.objects:
            return self._send(404, b"{}")
        if wanted is not None and str(self.objects[name].generation) != wanted:
            return self._send(412, b"{}")
        del self.objects[name]
        return self._send(204, b"")

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a late answer)
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gcs() -> Iterator[str]:
    _FakeGcs.objects, _FakeGcs.auth, _FakeGcs.failing, _FakeGcs.late = {}, set(), False, 0.0
    with serving(_FakeGcs) as url:
        yield url


class Vm:
    """One VM's view: its own /run (window state, mode file), its instance name (the directory's), a
    systemctl that records calls and a docker that lists no running collector (or one)."""

    def __init__(self, root: Path, url: str, **env: str) -> None:
        self.root, self.url, self.name, self.env = root, url, root.name, env
        (root / "bin").mkdir(parents=True)
        (root / "bin/systemctl").write_text(f'#!/bin/sh\necho "$@" >>{root}/systemctl.log\n')
        self.collector_running(False)
        for tool in ("systemctl", "docker"):
            (root / "bin" / tool).chmod(0o755)

    def collector_running(self, running: bool) -> None:
        """`docker ps --quiet --filter name=^registry-gc$ --filter status=running`: the container's id
        while it runs, nothing otherwise."""
        expected = "ps --quiet --filter name=^registry-gc$ --filter status=running"
        answer = "echo 0123456789ab" if running else ":"
        (self.root / "bin/docker").write_text(
            f'#!/bin/sh\n[ "$*" = "{expected}" ] || {{ echo "unexpected: $*" >&2; exit 2; }}\n{answer}\n')

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.root}/bin:/usr/bin:/bin", "METADATA_URL": f"{self.url}/metadata/{self.name}",
               "STORAGE_URL": self.url, "GC_WINDOW_STATE": str(self.root / "gc-window"),
               "REGISTRY_MODE_ENV": str(self.root / "registry-mode.env"), **self.env}
        return subprocess.run([binary("bash"), str(GC_WINDOW_SCRIPT), *args],
                              capture_output=True, text=True, check=False, env=env, timeout=60)

    @property
    def mode(self) -> str:
        return (self.root / "registry-mode.env").read_text().strip()

    @property
    def restarts(self) -> list[str]:
        log = self.root / "systemctl.log"
        return log.read_text().splitlines() if log.exists() else []


MEMBERS = "registry-maintenance/members/"


def acks(generation: int) -> set[str]:
    prefix = f"registry-maintenance/acks/{generation}/"
    return {name.removeprefix(prefix) for name in _FakeGcs.objects if name.startswith(prefix)}


@pytest.mark.integration
def test_one_vm_opens_the_window_and_every_registry_follows_it(gcs: str, tmp_path: Path) -> None:
    a, b = Vm(tmp_path / "a", gcs), Vm(tmp_path / "b", gcs)
    for vm in (a, b):
        assert vm.run("mode", BUCKET, "--at-start").returncode == 0
        assert vm.mode == "REGISTRY_CONFIG=config.yml" and vm.restarts == []
    opened = a.run("begin", BUCKET)
    assert opened.returncode == 0, opened.stderr
    window = _FakeGcs.objects[OBJECT]
    assert window.metadata["owner"].startswith("a-") and (tmp_path / "a/gc-window").read_text().strip() == str(
        window.generation)
    skipped = b.run("begin", BUCKET)  # the same timer fired on the other VM
    assert skipped.returncode == 1 and "window" in skipped.stdout and "is open" in skipped.stdout, skipped.stderr
    for vm in (a, b):
        assert vm.run("mode", BUCKET).returncode == 0
        assert vm.mode == f"REGISTRY_CONFIG={READONLY_CONFIG}"
        assert vm.restarts == ["restart registry.service"]
        vm.run("mode", BUCKET)
        assert vm.restarts == ["restart registry.service"], "no restart when the mode is unchanged"
    assert {f"{MEMBERS}a", f"{MEMBERS}b"} <= set(_FakeGcs.objects) and acks(window.generation) == {"a", "b"}
    checked = a.run("check", BUCKET)
    assert checked.returncode == 0 and "collecting" in checked.stdout, checked.stderr
    assert b.run("end", BUCKET).returncode == 0
    assert OBJECT in _FakeGcs.objects, "only the VM that opened the window closes it"
    assert a.run("end", BUCKET).returncode == 0
    assert OBJECT not in _FakeGcs.objects
    for vm in (a, b):
        vm.run("mode", BUCKET)
        assert vm.mode == "REGISTRY_CONFIG=config.yml"
        assert vm.restarts == ["restart registry.service"] * 2
    assert _FakeGcs.auth == {"Bearer ya29.fake"}


@pytest.mark.integration
def test_no_collection_until_every_member_has_gone_read_only(gcs: str, tmp_path: Path) -> None:
    """The handshake: a registry that beats but never acknowledges the window (its switch failed, or it
    runs units from an older user-data) stops the collection, and is named; a member whose last beat
    is older than GC_MEMBER_SECONDS (a deleted VM) is not waited for."""
    a, b = Vm(tmp_path / "a", gcs), Vm(tmp_path / "b", gcs)
    for vm in (a, b):
        vm.run("mode", BUCKET)  # both beat
    _FakeGcs.objects[f"{MEMBERS}gone"] = Obj(5, b"", created=time.time() - 301)
    assert a.run("begin", BUCKET).returncode == 0
    generation = _FakeGcs.objects[OBJECT].generation
    assert a.run("mode", BUCKET).returncode == 0  # a goes read-only and acknowledges; b has not run yet
    assert acks(generation) == {"a"}
    refused = a.run("check", BUCKET)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "from b " in refused.stderr and "gone" not in refused.stderr, refused.stderr
    assert b.run("mode", BUCKET).returncode == 0
    _FakeGcs.objects[f"{MEMBERS}slow"] = Obj(6, b"", created=time.time() - 200)  # still a member
    refused = a.run("check", BUCKET)
    assert refused.returncode == 1 and "from slow " in refused.stderr, refused.stderr
    _FakeGcs.objects[f"registry-maintenance/acks/{generation}/slow"] = Obj(9, b"read-only")
    checked = a.run("check", BUCKET)
    assert checked.returncode == 0 and "(a b slow)" in checked.stdout, checked.stderr


@pytest.mark.integration
def test_a_registry_whose_switch_fails_still_stops_the_collection(gcs: str, tmp_path: Path) -> None:
    """Its beat is written before the restart, its acknowledgement only after a restart that worked: a
    VM whose registry could not restart read-only is a member without an ack."""
    a, b = Vm(tmp_path / "a", gcs), Vm(tmp_path / "b", gcs)
    assert a.run("begin", BUCKET).returncode == 0
    a.run("mode", BUCKET)
    (tmp_path / "b/bin/systemctl").write_text("#!/bin/sh\nexit 1\n")  # the restart fails
    assert b.run("mode", BUCKET).returncode != 0
    assert f"{MEMBERS}b" in _FakeGcs.objects and acks(_FakeGcs.objects[OBJECT].generation) == {"a"}
    refused = a.run("check", BUCKET)
    assert refused.returncode == 1 and "from b " in refused.stderr, refused.stderr


@pytest.mark.integration
def test_a_failed_check_fails_the_unit_and_closes_the_window(gcs: str, tmp_path: Path) -> None:
    """As registry-gc.service runs it: check is an ExecStartPre after the settle, before the collector,
    and `end` (ExecStopPost) closes the window when the check failed."""
    service = shared_units()[GC_SERVICE]
    lines = service.splitlines()
    check = lines.index(f"ExecStartPre=/bin/bash /etc/registry/gc-window.sh check {BUCKET}")
    assert lines.index(f"ExecStartPre=/bin/sleep {GC_SETTLE_SEC}") < check < next(
        i for i, ln in enumerate(lines) if ln.startswith("ExecStart="))
    a, b = Vm(tmp_path / "a", gcs), Vm(tmp_path / "b", gcs)
    b.run("mode", BUCKET)  # b is a member that will never acknowledge
    assert a.run("begin", BUCKET).returncode == 0
    a.run("mode", BUCKET)
    assert a.run("check", BUCKET).returncode == 1
    assert a.run("end", BUCKET).returncode == 0
    assert OBJECT not in _FakeGcs.objects, "the window closed: registries write again"


@pytest.mark.integration
def test_end_leaves_the_window_while_the_collector_container_runs(gcs: str, tmp_path: Path) -> None:
    """`docker rm -f registry-gc` (ExecStopPost) may fail; then `end` must not reopen the store under a
    collector that still runs: it leaves the window (its time ends it) and says so."""
    a = Vm(tmp_path / "a", gcs)
    assert a.run("begin", BUCKET).returncode == 0
    a.collector_running(True)
    kept = a.run("end", BUCKET)
    assert kept.returncode != 0 and "collector container still runs" in kept.stderr, kept.stderr
    assert OBJECT in _FakeGcs.objects
    a.collector_running(False)
    assert a.run("end", BUCKET).returncode == 0 and OBJECT not in _FakeGcs.objects


@pytest.mark.integration
def test_a_create_whose_answer_came_late_is_still_our_window(gcs: str, tmp_path: Path) -> None:
    """GCS committed the window but the answer came after curl's max-time: curl retries and gets 412.
    The window's owner (this VM's nonce) says it is ours: this VM collects, nobody waits an hour."""
    _FakeGcs.late = 3.0
    a = Vm(tmp_path / "a", gcs, CURL_MAX_TIME="1")
    opened = a.run("begin", BUCKET)
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert (tmp_path / "a/gc-window").read_text().strip() == str(_FakeGcs.objects[OBJECT].generation)
    other = Vm(tmp_path / "b", gcs).run("begin", BUCKET)
    assert other.returncode == 1, "another VM's window is still not ours"


@pytest.mark.integration
def test_a_vm_starting_during_a_window_starts_read_only(gcs: str, tmp_path: Path) -> None:
    Vm(tmp_path / "a", gcs).run("begin", BUCKET)
    late = Vm(tmp_path / "late", gcs)
    assert late.run("mode", BUCKET, "--at-start").returncode == 0
    assert late.mode == f"REGISTRY_CONFIG={READONLY_CONFIG}" and late.restarts == []


@pytest.mark.integration
def test_the_window_lasts_from_its_creation_whatever_its_body_says(gcs: str, tmp_path: Path) -> None:
    """A collector that died leaves its window: GC_WINDOW_SEC after Cloud Storage created it,
    registries write again and the next schedule replaces it (deleting that generation only). A body
    claiming a far deadline extends nothing, and no `x-goog-generation` header is needed."""
    _FakeGcs.objects[OBJECT] = Obj(7, b"9999999999", created=time.time() - GC_WINDOW_SEC - 10,
                                   metadata={"owner": "dead-0"})
    vm = Vm(tmp_path / "a", gcs)
    vm.run("mode", BUCKET, "--at-start")
    assert vm.mode == "REGISTRY_CONFIG=config.yml"
    opened = vm.run("begin", BUCKET)
    assert opened.returncode == 0, opened.stderr
    window = _FakeGcs.objects[OBJECT]
    assert window.generation != 7 and window.metadata["owner"].startswith("a-")
    assert abs(int(window.body) - (time.time() + GC_WINDOW_SEC)) < 30, "older scripts still read a deadline"
    _FakeGcs.objects[OBJECT] = Obj(8, b"9999999999", created=time.time() - GC_WINDOW_SEC + 30)
    vm.run("mode", BUCKET)
    assert vm.mode == f"REGISTRY_CONFIG={READONLY_CONFIG}", "within its time, a window is open"


@pytest.mark.integration
def test_errors_are_failures_not_skips(tmp_path: Path) -> None:
    """With no metadata server, begin exits 255 (ExecCondition: failure, not a quiet skip)."""
    vm = Vm(tmp_path / "a", f"http://127.0.0.1:{free_port()}")
    assert vm.run("begin", BUCKET).returncode == 255


@pytest.mark.integration
def test_a_window_that_cannot_be_read_turns_the_registry_read_only(gcs: str, tmp_path: Path) -> None:
    """Fail closed: the registry reaches the bucket with its own credentials, so the script's failure
    (no token, GCS errors) says nothing about whether it writes. Read-only until the window reads again."""
    for case, url in (("no-token", f"http://127.0.0.1:{free_port()}"), ("gcs-503", gcs)):
        vm = Vm(tmp_path / case, url)
        (tmp_path / case / "registry-mode.env").write_text("REGISTRY_CONFIG=config.yml\n")
        _FakeGcs.failing = case == "gcs-503"
        result = vm.run("mode", BUCKET)
        assert "cannot read the window" in result.stderr, result.stderr
        assert vm.mode == f"REGISTRY_CONFIG={READONLY_CONFIG}" and vm.restarts == ["restart registry.service"]
        booting = Vm(tmp_path / f"{case}-boot", url)
        assert booting.run("mode", BUCKET, "--at-start").returncode == 0, "the registry still starts, read-only"
        assert booting.mode == f"REGISTRY_CONFIG={READONLY_CONFIG}" and booting.restarts == []
    _FakeGcs.failing = False
    vm.run("mode", BUCKET)
    assert vm.mode == "REGISTRY_CONFIG=config.yml", "writes again once the window reads as closed"


@pytest.mark.integration
def test_end_without_a_window_of_its_own_calls_nothing(tmp_path: Path) -> None:
    """Every VM that skipped the window runs ExecStopPost too: with no state file, `end` needs no token
    (here there is no metadata server at all) and succeeds."""
    vm = Vm(tmp_path / "a", f"http://127.0.0.1:{free_port()}")
    log = recording_curl(tmp_path / "a/bin")
    result = vm.run("end", BUCKET)
    assert result.returncode == 0, result.stderr
    assert not log.exists() or log.read_text() == ""


@pytest.mark.integration
def test_the_token_stays_off_the_command_line(gcs: str, tmp_path: Path) -> None:
    vm = Vm(tmp_path / "a", gcs)
    log = recording_curl(tmp_path / "a/bin")
    for action in ("mode", "begin", "mode", "check", "end"):
        assert vm.run(action, BUCKET).returncode == 0, action
    argv = log.read_text()
    assert "uploadType=multipart" in argv and "uploadType=media" in argv and "ifGenerationMatch" in argv
    assert "ya29.fake" not in argv and _FakeGcs.auth == {"Bearer ya29.fake"}


@pytest.mark.integration
def test_gc_window_script_passes_shellcheck() -> None:
    result = subprocess.run([binary("shellcheck"), "--severity=style", str(GC_WINDOW_SCRIPT)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# --- the rendered units and user-data -----------------------------------------------------------


def test_the_window_outlasts_the_collector_and_the_settle_outlasts_a_switch() -> None:
    """The collector starts only after every registry has read the window and restarted read-only,
    and is stopped before the window's deadline lets them write again."""
    from components.registry_config import DRAIN_TIMEOUT_SEC, STOP_TIMEOUT_SEC
    assert STOP_TIMEOUT_SEC > DRAIN_TIMEOUT_SEC
    assert GC_SETTLE_SEC > MODE_POLL_SEC + MODE_JITTER_SEC + STOP_TIMEOUT_SEC + 60
    assert f"RandomizedDelaySec={MODE_JITTER_SEC}" in shared_units()[MODE_TIMER]
    # A mode run (a few curl calls, a registry restart, a start that reads the window again) ends well
    # inside its start timeout, taken from the script's own curl options.
    from components.registry_config import CURL_CALL_SEC, MODE_TIMEOUT_SEC
    script = GC_WINDOW_SCRIPT.read_text()
    max_time = int(re.search(r'--max-time "\$\{CURL_MAX_TIME:-(\d+)\}"', script)[1])  # type: ignore[index]
    retry_window = int(re.search(r"--retry-max-time (\d+)", script)[1])  # type: ignore[index]
    assert max_time + retry_window <= CURL_CALL_SEC
    assert MODE_TIMEOUT_SEC > 7 * CURL_CALL_SEC + STOP_TIMEOUT_SEC
    assert f"TimeoutStartSec={MODE_TIMEOUT_SEC}" in shared_units()[MODE_SERVICE]
    service = shared_units()[GC_SERVICE]
    assert f"TimeoutStartSec={GC_SETTLE_SEC + GC_MAX_SEC}" in service
    # Past its start timeout the collector's client gets TimeoutStopSec, then `docker rm -f` as long:
    # the container is gone before the window's time is up.
    from components.registry_config import GC_STOP_TIMEOUT_SEC
    assert f"TimeoutStopSec={GC_STOP_TIMEOUT_SEC}" in service
    stop_posts = [ln for ln in service.splitlines() if ln.startswith("ExecStopPost=")]
    assert stop_posts[0] == "ExecStopPost=-/usr/bin/docker rm -f registry-gc" and len(stop_posts) == 2
    assert GC_SETTLE_SEC + GC_MAX_SEC + len(stop_posts) * GC_STOP_TIMEOUT_SEC + 30 < GC_WINDOW_SEC


def test_every_vm_on_a_bucket_gets_the_window_units_and_the_readonly_config() -> None:
    data = shared_user_data()
    units = {f["path"].rsplit("/", 1)[1] for f in data["write_files"] if f["path"].startswith("/etc/systemd/")}
    assert units == {"registry.service", GC_SERVICE, GC_TIMER, MODE_SERVICE, MODE_TIMER}
    assert data["runcmd"][-1] == ["systemctl", "start", "registry.service", GC_TIMER, MODE_TIMER]
    readonly = yaml.safe_load(written(data, f"/etc/registry/{READONLY_CONFIG}"))
    assert readonly["storage"]["maintenance"]["readonly"] == {"enabled": True}
    assert "readonly" not in yaml.safe_load(written(data, "/etc/registry/config.yml"))["storage"]["maintenance"]
    assert written(data, "/etc/registry/gc-window.sh") == GC_WINDOW_SCRIPT.read_text()
    unit = written(data, "/etc/systemd/system/registry.service")
    assert "source=/etc/registry/${REGISTRY_CONFIG},target=/etc/docker/registry/config.yml" in unit
    assert unit.index("gc-window.sh mode acme-registry-dev --at-start") < unit.index("ExecStart=")
    timer = shared_units()[GC_TIMER]
    assert "Persistent" not in timer and "OnCalendar=Sat *-*-* 19:00:00 UTC" in timer


@pytest.mark.integration
def test_shared_user_data_passes_cloud_init_schema(tmp_path: Path) -> None:
    path = tmp_path / "user-data"
    path.write_text("#cloud-config\n" + yaml.safe_dump(shared_user_data()))
    result = subprocess.run([binary("cloud-init"), "schema", "--config-file", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("name", [GC_SERVICE, GC_TIMER, MODE_SERVICE, MODE_TIMER, "registry.service"])
def test_window_units_pass_systemd_analyze(tmp_path: Path, name: str) -> None:
    unit = vm_unit(RegistrySettings(), IMAGE, "proj", SECRETS, False, "H", BUCKET)
    result = verify_unit(tmp_path, unit, shared_units(), name)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


# --- two real registries on one store ----------------------------------------------------------------


def _start(work: Path, storage: Path, config: dict[str, Any], port: int, debug_port: int) -> Registry:
    config["http"]["addr"] = f"127.0.0.1:{port}"
    config["http"]["debug"]["addr"] = f"127.0.0.1:{debug_port}"
    config["http"]["secret"] = "shared-http-secret"
    config["storage"]["filesystem"] = {"rootdirectory": str(storage)}
    config["auth"]["htpasswd"]["path"] = str(work / "htpasswd")
    (work / "config.yml").write_text(render_yaml(config))
    registry = Registry(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", f"http://127.0.0.1:{debug_port}",
                        work / "config.yml", work)
    registry.start()
    return registry


class Pair:
    """Two registries on one store, each restartable with either rendered config (as the unit does)."""

    def __init__(self, tmp_path: Path) -> None:
        data = shared_user_data(replace(RegistrySettings(), delete_enabled=True))
        self.configs = {name: yaml.safe_load(written(data, f"/etc/registry/{name}"))
                        for name in ("config.yml", READONLY_CONFIG)}
        # Only the storage driver is this machine's: Debian's build has no gcs driver.
        for config in self.configs.values():
            del config["storage"]["gcs"], config["storage"]["redirect"]
        self.storage = tmp_path / "store"
        self.works = [tmp_path / f"registry-{i}" for i in (0, 1)]
        self.ports = [(free_port(), free_port()) for _ in self.works]
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        for work in self.works:
            work.mkdir()
            (work / "htpasswd").write_text(htpasswd(USER, hashed))
        self.registries: list[Registry] = []

    def switch(self, name: str) -> None:
        self.stop()
        self.registries = [_start(work, self.storage, json.loads(json.dumps(self.configs[name])), *ports)
                           for work, ports in zip(self.works, self.ports, strict=True)]

    def stop(self) -> None:
        for registry in self.registries:
            registry.stop()


def _push(registry: Registry, layout: Path, tag: str) -> subprocess.CompletedProcess[str]:
    return skopeo("copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                  f"oci:{layout}:{tag}", f"docker://{registry.host}/shared:{tag}")


def _pull(registry: Registry, digest: str, dest: Path) -> str:
    result = skopeo("copy", "--all", "--src-tls-verify=false", "--src-creds", f"{USER}:{PASSWORD}",
                    f"docker://{registry.host}/shared@{digest}", f"oci:{dest}:pulled")
    assert result.returncode == 0, f"{digest}: {result.stderr}"
    return str(json.loads((dest / "index.json").read_text())["manifests"][0]["digest"])


def _unit_collect(config: Path) -> subprocess.CompletedProcess[str]:
    """The collector's arguments as registry-gc.service passes them to the image."""
    start = next(ln for ln in shared_units()[GC_SERVICE].splitlines() if ln.startswith("ExecStart="))
    words = shlex.split(start.removeprefix("ExecStart="))
    arguments = [str(config) if w == CONFIG_PATH else w for w in words[words.index(IMAGE) + 1:]]
    return subprocess.run([binary("docker-registry"), *arguments], capture_output=True, text=True, check=False,
                          timeout=60)


@pytest.mark.integration
def test_during_the_window_pushes_are_refused_pulls_work_and_nothing_tagged_is_lost(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    try:
        pair.switch("config.yml")
        first, second = pair.registries
        pushed = {"multi": write_index_layout(tmp_path / "multi", "multi", attestation=True, content=b"multi")}
        assert _push(first, tmp_path / "multi", "multi").returncode == 0
        pushed["plain"] = [write_layout(tmp_path / "plain", "plain", content=b"plain")]
        assert _push(second, tmp_path / "plain", "plain").returncode == 0
        write_layout(tmp_path / "late", "late", content=b"pushed during the window")

        pair.switch(READONLY_CONFIG)  # what gc-window.sh mode has registry.service do on every VM
        first, second = pair.registries
        refused = _push(first, tmp_path / "late", "late")
        assert refused.returncode != 0 and "StatusCode: 405, Method not allowed" in refused.stderr, refused.stderr
        status, _, body = request(f"{second.url}/v2/shared/blobs/uploads/", method="POST", auth=(USER, PASSWORD))
        assert (status, body) == (405, b"Method not allowed\n"), (status, body)
        for tag, digests in pushed.items():
            for number, digest in enumerate(digests):
                assert _pull(second if number % 2 else first, digest, tmp_path / f"ro-{tag}-{number}") == digest

        result = _unit_collect(first.config)  # the collector, while both serve read-only
        assert result.returncode == 0, result.stderr
        status, _, _ = request(f"{first.url}/v2/", auth=(USER, PASSWORD))
        assert status == 200, "the registries kept serving during the collection"

        pair.switch("config.yml")  # the window closed
        first, second = pair.registries
        for tag, digests in pushed.items():
            for number, digest in enumerate(digests):
                assert _pull(first if number % 2 else second, digest, tmp_path / f"after-{tag}-{number}") == digest
        assert _push(second, tmp_path / "late", "late").returncode == 0, "pushes work again"
    finally:
        pair.stop()
