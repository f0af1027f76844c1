"""The group mode's claims, shown with the real registry: two registry processes rendered by the same
`registry_config`, sharing one storage and one http secret, behind a round-robin proxy (Debian's nginx,
a stand-in for the load balancer), take pushes and pulls spread over both with nothing lost; and the
health check's request (path and expected status) is what the registry answers.

Bounded: a handful of images, each skopeo call limited to 60 s, all on 127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from components.registry_config import FilesystemStorage, htpasswd, registry_config, render_yaml
from components.registry_group import HEALTH_CHECK_PATH, health_check_request
from components.settings import RegistrySettings
from tests.oci import write_layout
from tests.peers import binary, free_port, wait_for_port
from tests.test_registry_real import PASSWORD, USER, Registry, request, skopeo

pytestmark = pytest.mark.integration
IMAGES = 6


@dataclass
class Group:
    proxy: str            # host:port of the stand-in load balancer
    backends: list[Registry]
    access_log: Path


def _start_backend(work: Path, storage: Path, http_secret: str) -> Registry:
    work.mkdir()
    port, debug_port = free_port(), free_port()
    config: dict[str, Any] = registry_config(replace(RegistrySettings(), port=port),
                                             FilesystemStorage(rootdirectory=str(storage)),
                                             http_secret=http_secret, listen_host="127.0.0.1")
    config["http"]["debug"]["addr"] = f"127.0.0.1:{debug_port}"
    config["auth"]["htpasswd"]["path"] = str(work / "htpasswd")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (work / "htpasswd").write_text(htpasswd(USER, hashed))
    (work / "config.yml").write_text(render_yaml(config))
    registry = Registry(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", f"http://127.0.0.1:{debug_port}",
                        work / "config.yml", work)
    registry.start()
    return registry


def _proxy_config(work: Path, port: int, backends: list[Registry]) -> str:
    """Round robin per request, as an HTTP load balancer does; uploads streamed, not buffered."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    upstreams = "".join(f"    server {b.host};\n" for b in backends)
    return (
        f"{user}worker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\nevents {{}}\n"
        "http {\n"
        "  log_format lb '$request_method $uri $status $upstream_addr';\n"
        f"  access_log {work}/access.log lb;\n"
        f"  client_body_temp_path {work}/body;\n  proxy_temp_path {work}/proxy;\n"
        f"  upstream registry {{\n{upstreams}    keepalive 4;\n  }}\n"
        "  server {\n"
        f"    listen 127.0.0.1:{port};\n"
        "    client_max_body_size 0;\n    chunked_transfer_encoding on;\n"
        "    location / {\n"
        "      proxy_pass http://registry;\n      proxy_http_version 1.1;\n"
        "      proxy_set_header Connection \"\";\n      proxy_request_buffering off;\n"
        "      proxy_set_header Host $http_host;\n      proxy_set_header X-Forwarded-Proto $scheme;\n"
        "      proxy_read_timeout 60s;\n"
        "    }\n  }\n}\n")


def _start_group(work: Path, secrets: tuple[str, str]) -> Iterator[Group]:
    storage = work / "shared-storage"
    backends = [_start_backend(work / f"registry-{i}", storage, secret) for i, secret in enumerate(secrets)]
    port = free_port()
    proxy_dir = work / "proxy"
    proxy_dir.mkdir()
    (proxy_dir / "nginx.conf").write_text(_proxy_config(proxy_dir, port, backends))
    nginx = subprocess.Popen([binary("nginx"), "-p", str(proxy_dir), "-c", str(proxy_dir / "nginx.conf"),
                              "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield Group(f"127.0.0.1:{port}", backends, proxy_dir / "access.log")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for backend in backends:
            backend.stop()


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    yield from _start_group(tmp_path_factory.mktemp("group"), ("shared-http-secret", "shared-http-secret"))


def _push(group: Group, layouts: Path, index: int) -> tuple[str, subprocess.CompletedProcess[str]]:
    layout = layouts / f"image-{index}"
    digest = write_layout(layout, "1.0", content=f"image {index} of the group test\n".encode() * (index + 1))
    result = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                    f"oci:{layout}:1.0", f"docker://{group.proxy}/group-{index}:1.0")
    return digest, result


def _served_by(access_log: Path) -> Counter[str]:
    lines = access_log.read_text().splitlines()
    return Counter(line.rsplit(" ", 1)[-1] for line in lines if re.search(r" [23]\d\d ", line))


def test_pushes_and_pulls_spread_over_both_registries_with_nothing_lost(
        group: Group, tmp_path: Path) -> None:
    pushed = {}
    for index in range(IMAGES):
        digest, result = _push(group, tmp_path, index)
        assert result.returncode == 0, result.stderr
        pushed[index] = digest
    for index, digest in pushed.items():
        # Each backend answers for every image: the storage is shared, not partitioned.
        for backend in group.backends:
            status, headers, _ = request(f"{backend.url}/v2/group-{index}/manifests/1.0", method="HEAD",
                                         auth=(USER, PASSWORD),
                                         accept="application/vnd.oci.image.manifest.v1+json")
            assert (status, headers.get("Docker-Content-Digest")) == (200, digest)
        pulled = tmp_path / f"pulled-{index}"
        result = skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{USER}:{PASSWORD}",
                        f"docker://{group.proxy}/group-{index}:1.0", f"oci:{pulled}:1.0")
        assert result.returncode == 0, result.stderr
        inspect = skopeo("inspect", "--raw", f"oci:{pulled}:1.0")
        assert inspect.returncode == 0
        import hashlib
        assert "sha256:" + hashlib.sha256(inspect.stdout.encode()).hexdigest() == digest
    served = _served_by(group.access_log)
    assert set(served) == {b.host for b in group.backends}
    # Round robin: neither registry took everything (each took at least a quarter of the requests).
    assert min(served.values()) >= sum(served.values()) // 4


def test_uploads_across_instances_need_the_shared_http_secret(tmp_path: Path) -> None:
    """The control case: with a different http.secret per instance, an upload whose steps land on
    different instances is refused, which is why the group shares one secret."""
    failures = 0
    for group in _start_group(tmp_path, ("secret-a", "secret-b")):
        for index in range(3):
            _, result = _push(group, tmp_path / f"run-{index}", index)
            failures += result.returncode != 0
    assert failures > 0


def test_health_check_request_is_what_a_healthy_registry_answers(group: Group) -> None:
    path, expected = health_check_request()
    assert path == HEALTH_CHECK_PATH
    for backend in group.backends:
        status, _, body = request(backend.url + path)
        assert (status, body) == (expected, b"")
        # /v2/ needs credentials: as a health check it would mark every instance unhealthy.
        assert request(backend.url + "/v2/")[0] == 401
