"""The rendered config.yml and htpasswd, served by the real Docker Distribution registry (Debian's
`docker-registry`, the code of registry:2) on 127.0.0.1, used by a real client (skopeo).

Only what depends on this machine is moved: the listen ports, the storage folder (Debian's build has
no gcs driver) and the htpasswd path. Everything else is exactly what the VM and the container get."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from components.registry_config import FilesystemStorage, htpasswd, registry_config, render_yaml
from components.settings import RegistrySettings
from tests.oci import write_layout
from tests.peers import binary, free_port, wait_for_port

pytestmark = pytest.mark.integration
USER, PASSWORD = "registry", "correct-horse-battery"
IMAGE, TAG = "hello-nginx", "1.1"


@dataclass
class Registry:
    url: str
    host: str
    debug_url: str
    config: Path
    work: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([binary("docker-registry"), "serve", str(self.config)], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=(self.work / "registry.log").open("ab"))
        wait_for_port(int(self.host.rsplit(":", 1)[1]))

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def start_registry(work: Path, settings: RegistrySettings, http_secret: str | None = "test-http-secret",
                   env: dict[str, str] | None = None) -> Registry:
    port, debug_port = free_port(), free_port()
    config: dict[str, Any] = registry_config(replace(settings, port=port),
                                             FilesystemStorage(rootdirectory=str(work / "data")),
                                             http_secret=http_secret, listen_host="127.0.0.1")
    assert config["http"]["debug"]["addr"].startswith("127.0.0.1:")
    config["http"]["debug"]["addr"] = f"127.0.0.1:{debug_port}"
    config["auth"]["htpasswd"]["path"] = str(work / "htpasswd")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    (work / "htpasswd").write_text(htpasswd(USER, hashed.replace("$2b$", "$2a$", 1)))  # as RandomPassword
    (work / "config.yml").write_text(render_yaml(config))
    registry = Registry(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", f"http://127.0.0.1:{debug_port}",
                        work / "config.yml", work, env)
    registry.start()
    return registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = start_registry(tmp_path_factory.mktemp("registry"), RegistrySettings())
    try:
        yield server
    finally:
        server.stop()


def request(url: str, method: str = "GET", auth: tuple[str, str] | None = None,
            accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("skopeo"), "--insecure-policy", *args], capture_output=True, text=True,
                          check=False, timeout=60)


@pytest.fixture(scope="module")
def pushed(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    layout = tmp_path_factory.mktemp("oci") / "image"
    digest = write_layout(layout, TAG)
    result = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                    f"oci:{layout}:{TAG}", f"docker://{registry.host}/{IMAGE}:{TAG}")
    assert result.returncode == 0, result.stderr
    return digest


def test_anonymous_access_is_refused(registry: Registry) -> None:
    status, headers, _ = request(registry.url + "/v2/")
    assert status == 401
    assert headers["Www-Authenticate"].startswith('Basic realm="registry"')
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_wrong_password_is_refused(registry: Registry) -> None:
    assert request(registry.url + "/v2/", auth=(USER, "wrong"))[0] == 401
    assert request(registry.url + "/v2/", auth=("someone", PASSWORD))[0] == 401


def test_generated_credentials_are_accepted(registry: Registry) -> None:
    assert request(registry.url + "/v2/", auth=(USER, PASSWORD))[0] == 200


def test_anonymous_push_is_refused(registry: Registry, tmp_path: Path) -> None:
    write_layout(tmp_path / "image", "anon")
    result = skopeo("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'image'}:anon",
                    f"docker://{registry.host}/{IMAGE}:anon")
    assert result.returncode != 0
    assert "unauthorized" in result.stderr.lower() or "authentication required" in result.stderr.lower()


def test_push_then_pull_back_the_same_digest(registry: Registry, pushed: str, tmp_path: Path) -> None:
    result = skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{USER}:{PASSWORD}",
                    f"docker://{registry.host}/{IMAGE}:{TAG}", f"oci:{tmp_path / 'pulled'}:{TAG}")
    assert result.returncode == 0, result.stderr
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [pushed]


def test_catalog_and_tags_list_the_image(registry: Registry, pushed: str) -> None:
    auth = (USER, PASSWORD)
    assert json.loads(request(registry.url + "/v2/_catalog", auth=auth)[2])["repositories"] == [IMAGE]
    tags = json.loads(request(registry.url + f"/v2/{IMAGE}/tags/list", auth=auth)[2])
    assert tags == {"name": IMAGE, "tags": [TAG]}
    status, headers, _ = request(registry.url + f"/v2/{IMAGE}/manifests/{TAG}", method="HEAD", auth=auth,
                                 accept="application/vnd.oci.image.manifest.v1+json")
    assert status == 200 and headers["Docker-Content-Digest"] == pushed


def test_manifest_delete_is_refused_when_delete_is_disabled(registry: Registry, pushed: str) -> None:
    status, _, body = request(registry.url + f"/v2/{IMAGE}/manifests/{pushed}", method="DELETE",
                              auth=(USER, PASSWORD))
    assert status == 405, body
    assert b"UNSUPPORTED" in body


def test_debug_listener_reports_health_and_metrics_on_loopback(registry: Registry) -> None:
    assert request(registry.debug_url + "/debug/health")[0] == 200
    status, _, metrics = request(registry.debug_url + "/metrics")
    assert status == 200 and b"registry_" in metrics


def test_image_survives_a_restart(registry: Registry, pushed: str) -> None:
    registry.stop()
    registry.start()
    status, headers, _ = request(registry.url + f"/v2/{IMAGE}/manifests/{TAG}", method="HEAD",
                                 auth=(USER, PASSWORD), accept="application/vnd.oci.image.manifest.v1+json")
    assert status == 200 and headers["Docker-Content-Digest"] == pushed


def test_delete_enabled_allows_manifest_delete(tmp_path: Path) -> None:
    server = start_registry(tmp_path, RegistrySettings(delete_enabled=True))
    try:
        digest = write_layout(tmp_path / "image", TAG)
        result = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                        f"oci:{tmp_path / 'image'}:{TAG}", f"docker://{server.host}/{IMAGE}:{TAG}")
        assert result.returncode == 0, result.stderr
        status, _, _ = request(server.url + f"/v2/{IMAGE}/manifests/{digest}", method="DELETE",
                               auth=(USER, PASSWORD))
        assert status == 202
    finally:
        server.stop()


@pytest.mark.parametrize("from_env", [True, False])
def test_vm_config_takes_the_http_secret_from_the_environment(tmp_path: Path, from_env: bool) -> None:
    """The VM's config.yml has no http.secret: the unit passes REGISTRY_HTTP_SECRET from Secret Manager.
    Without it, the registry makes up a random one and says so (the control case)."""
    env = {"PATH": "/usr/bin:/bin", **({"REGISTRY_HTTP_SECRET": "from-secret-manager"} if from_env else {})}
    server = start_registry(tmp_path, RegistrySettings(), http_secret=None, env=env)
    try:
        assert request(server.url + "/v2/", auth=(USER, PASSWORD))[0] == 200
    finally:
        server.stop()
    warned = "No HTTP secret provided" in (tmp_path / "registry.log").read_text()
    assert warned is not from_env
