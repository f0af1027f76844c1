"""A stop does not cut a push: with the rendered `http.draintimeout`, a blob upload in flight when the
real registry gets SIGTERM (what `docker stop` sends; a reboot, a collection or a rolling replacement
stops the unit) completes, and the blob is stored with its digest. Without it, the upload is cut.

The upload is throttled chunk by chunk with http.client, and SIGTERM arrives mid-body."""

from __future__ import annotations

import base64
import hashlib
import http.client
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from components.registry_config import (
    DOCKER_STOP_SEC,
    DRAIN_TIMEOUT_SEC,
    SHUTDOWN_BUDGET_SEC,
    STOP_TIMEOUT_SEC,
    vm_unit,
)
from components.settings import RegistrySettings
from tests.test_registry_real import PASSWORD, USER, Registry, request, start_registry

CHUNK = 64 * 1024
CHUNKS = 16


def _auth() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _slow_upload_with_sigterm(registry: Registry, data: bytes) -> tuple[int | None, str]:
    """Start an upload, send half the body, SIGTERM the registry, wait, send the rest. Returns the
    final status (None when the connection broke) and the digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = request(f"{registry.url}/v2/drain/blobs/uploads/", method="POST", auth=(USER, PASSWORD))
    assert status == 202
    location = urlsplit(headers["Location"])
    host, port = registry.host.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("PUT", f"{location.path}?{location.query}&digest={digest}")
    connection.putheader("Authorization", _auth())
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(len(data)))
    connection.endheaders()
    assert registry.process is not None
    try:
        for index in range(CHUNKS):
            connection.send(data[index * CHUNK:(index + 1) * CHUNK])
            time.sleep(0.05)
            if index == CHUNKS // 2:
                registry.process.send_signal(signal.SIGTERM)  # what `docker stop` sends first
                time.sleep(1.0)
        return connection.getresponse().status, digest
    except (ConnectionError, http.client.HTTPException, OSError):
        return None, digest
    finally:
        connection.close()
        registry.process.wait(timeout=DRAIN_TIMEOUT_SEC + 5)
        registry.process = None


def _stored(registry: Registry, digest: str, size: int) -> bool:
    registry.start()
    try:
        status, headers, _ = request(f"{registry.url}/v2/drain/blobs/{digest}", method="HEAD", auth=(USER, PASSWORD))
        return status == 200 and headers.get("Content-Length") == str(size)
    finally:
        registry.stop()


@pytest.mark.integration
def test_a_push_in_flight_at_stop_completes(tmp_path: Path) -> None:
    registry = start_registry(tmp_path, RegistrySettings())
    config = yaml.safe_load(registry.config.read_text())
    assert config["http"]["draintimeout"] == f"{DRAIN_TIMEOUT_SEC}s"  # the rendered value, unchanged
    data = bytes(range(256)) * (CHUNK * CHUNKS // 256)
    status, digest = _slow_upload_with_sigterm(registry, data)
    assert status == 201
    assert _stored(registry, digest, len(data))


@pytest.mark.integration
def test_without_the_drain_timeout_the_push_is_cut(tmp_path: Path) -> None:
    """The control case: the same push, the same signal, the config without http.draintimeout."""
    registry = start_registry(tmp_path, RegistrySettings())
    config = yaml.safe_load(registry.config.read_text())
    del config["http"]["draintimeout"]
    registry.stop()
    registry.config.write_text(yaml.safe_dump(config))
    registry.start()
    data = bytes(range(256)) * (CHUNK * CHUNKS // 256)
    status, digest = _slow_upload_with_sigterm(registry, data)
    assert status is None
    assert not _stored(registry, digest, len(data))


def test_the_unit_waits_longer_than_the_registry_drains() -> None:
    """docker stop waits past the drain timeout before SIGKILL, systemd past docker; and the VM's shutdown
    budget (about 90 s on Compute Engine) keeps 25 s for everything else that stops after the registry
    (docker itself, the data disk's unmount, the agents)."""
    unit = vm_unit(RegistrySettings(), "registry:2.8.3", "proj", [], disk_storage=True)
    assert f"--stop-timeout {DOCKER_STOP_SEC} " in unit
    assert f"ExecStop=/usr/bin/docker stop -t {DOCKER_STOP_SEC} registry" in unit
    assert f"TimeoutStopSec={STOP_TIMEOUT_SEC}" in unit
    assert DRAIN_TIMEOUT_SEC < DOCKER_STOP_SEC < STOP_TIMEOUT_SEC
    assert STOP_TIMEOUT_SEC + 25 <= SHUTDOWN_BUDGET_SEC == 90
