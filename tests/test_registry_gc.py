"""Garbage collection with the real registry (Debian's docker-registry, the code of registry:2) and the
arguments the VM's registry-gc.service passes: an overwritten tag's old image is collected, the current
one still pulls with the same digest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components.registry_config import gc_arguments
from components.settings import RegistrySettings
from tests.oci import write_layout
from tests.peers import binary
from tests.test_registry_real import IMAGE, PASSWORD, USER, Registry, skopeo, start_registry

pytestmark = pytest.mark.integration
TAG = "latest-build"


def blobs_of(layout: Path) -> set[str]:
    """The manifest, config and layer digests of the layout's only image."""
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs/sha256" / manifest_digest.split(":")[1]).read_bytes())
    return {manifest_digest, manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])}


def stored(work: Path, digest: str) -> bool:
    hex_digest = digest.split(":")[1]
    return (work / "data/docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data").exists()


def push(registry: Registry, layout: Path) -> None:
    result = skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                    f"oci:{layout}:{TAG}", f"docker://{registry.host}/{IMAGE}:{TAG}")
    assert result.returncode == 0, result.stderr


def two_versions_under_one_tag(tmp_path: Path, settings: RegistrySettings) -> tuple[Registry, set[str], set[str]]:
    registry = start_registry(tmp_path, settings)
    write_layout(tmp_path / "v1", TAG, content=b"version one\n")
    write_layout(tmp_path / "v2", TAG, content=b"version two\n")
    push(registry, tmp_path / "v1")
    push(registry, tmp_path / "v2")
    old, new = blobs_of(tmp_path / "v1"), blobs_of(tmp_path / "v2")
    assert all(stored(tmp_path, d) for d in old | new)
    registry.stop()  # as registry-gc.service does before collecting
    return registry, old, new


def collect(registry: Registry, settings: RegistrySettings) -> str:
    result = subprocess.run([binary("docker-registry"), *gc_arguments(settings, str(registry.config))],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_collection_removes_the_overwritten_image_and_keeps_the_current_one(tmp_path: Path) -> None:
    settings = RegistrySettings(delete_enabled=True)
    registry, old, new = two_versions_under_one_tag(tmp_path, settings)
    log = collect(registry, settings)
    assert "blob eligible for deletion" in log or "Deleting blob" in log
    shared = old & new  # nothing here, but a shared base layer must survive
    assert not [d for d in old - shared if stored(tmp_path, d)], "the old image's blobs must be gone"
    assert all(stored(tmp_path, d) for d in new)
    registry.start()  # as ExecStopPost does
    try:
        result = skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{USER}:{PASSWORD}",
                        f"docker://{registry.host}/{IMAGE}:{TAG}", f"oci:{tmp_path / 'pulled'}:{TAG}")
        assert result.returncode == 0, result.stderr
        pulled = json.loads((tmp_path / "pulled/index.json").read_text())["manifests"][0]["digest"]
        assert pulled == json.loads((tmp_path / "v2/index.json").read_text())["manifests"][0]["digest"]
    finally:
        registry.stop()


def test_without_deletes_the_old_manifest_keeps_its_blobs(tmp_path: Path) -> None:
    """The control case: with deletes off, collection leaves manifests alone (and so their blobs)."""
    settings = RegistrySettings()
    registry, old, new = two_versions_under_one_tag(tmp_path, settings)
    collect(registry, settings)
    assert all(stored(tmp_path, d) for d in old | new)
