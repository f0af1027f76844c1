"""Garbage collection with the real registry (Debian's docker-registry, the code of registry:2) and the
command the VM's registry-gc.service runs, read from the rendered unit: every tagged image, image
indexes included (multi-platform, and buildx's image + attestation), pulls back with the same digests
after a collection; an overwritten tag's old image goes once it is deleted by digest."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from components.registry_config import CONFIG_PATH, GC_SERVICE, gc_units
from components.settings import RegistrySettings
from tests.oci import write_index_layout, write_layout
from tests.peers import binary
from tests.test_registry_real import IMAGE, PASSWORD, USER, Registry, request, skopeo, start_registry

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


GC_IMAGE = "registry:2.8.3"


def unit_gc_arguments(settings: RegistrySettings) -> list[str]:
    """What registry-gc.service passes to the registry image, read from its rendered ExecStart."""
    unit = gc_units(settings, GC_IMAGE, disk_storage=True, schedule="Sat *-*-* 19:00:00 UTC")[GC_SERVICE]
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    words = shlex.split(start.removeprefix("ExecStart="))
    return words[words.index(GC_IMAGE) + 1:]


def collect(registry: Registry, settings: RegistrySettings) -> str:
    arguments = [str(registry.config) if word == CONFIG_PATH else word for word in unit_gc_arguments(settings)]
    assert str(registry.config) in arguments, "the unit passes the config file"
    result = subprocess.run([binary("docker-registry"), *arguments],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def test_an_overwritten_image_not_deleted_by_digest_keeps_its_blobs(tmp_path: Path) -> None:
    """Collection alone deletes no manifest: the old image stays until someone deletes it by digest."""
    settings = RegistrySettings(delete_enabled=True)
    registry, old, new = two_versions_under_one_tag(tmp_path, settings)
    collect(registry, settings)
    assert all(stored(tmp_path, d) for d in old | new)


def test_without_deletes_the_old_manifest_keeps_its_blobs(tmp_path: Path) -> None:
    """The control case: with deletes off, collection leaves manifests alone (and so their blobs)."""
    settings = RegistrySettings()
    registry, old, new = two_versions_under_one_tag(tmp_path, settings)
    collect(registry, settings)
    assert all(stored(tmp_path, d) for d in old | new)


TAG_REF = f":{TAG}"


def pull_by_digest(registry: Registry, reference: str, dest: Path) -> str:
    """Pulls one manifest by digest (or `:tag`) and everything it references; returns the digest pulled."""
    source = f"{IMAGE}{reference}" if reference.startswith(":") else f"{IMAGE}@{reference}"
    result = skopeo("copy", "--all", "--src-tls-verify=false", "--src-creds", f"{USER}:{PASSWORD}",
                    f"docker://{registry.host}/{source}", f"oci:{dest}:pulled")
    assert result.returncode == 0, f"{reference}: {result.stderr}"
    return str(json.loads((dest / "index.json").read_text())["manifests"][0]["digest"])


@pytest.mark.parametrize("delete_enabled", [True, False])
def test_collection_keeps_every_platform_of_tagged_indexes(tmp_path: Path, delete_enabled: bool) -> None:
    """Distribution 2.8's `--delete-untagged` deletes an index's platform manifests (no tag of their
    own; distribution#3004): the unit must never pass it."""
    settings = RegistrySettings(delete_enabled=delete_enabled)
    registry = start_registry(tmp_path, settings)
    pushed: dict[str, list[str]] = {}
    for tag, attestation in (("multi-platform", False), ("with-attestation", True)):
        layout = tmp_path / tag
        architectures = ("amd64", "arm64") if not attestation else ("amd64",)
        pushed[tag] = write_index_layout(layout, tag, architectures, attestation=attestation,
                                         content=tag.encode())
        result = skopeo("copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASSWORD}",
                        f"oci:{layout}:{tag}", f"docker://{registry.host}/{IMAGE}:{tag}")
        assert result.returncode == 0, result.stderr
    assert len(pushed["with-attestation"]) == 3  # index, image, attestation
    registry.stop()  # as registry-gc.service does before collecting
    collect(registry, settings)
    registry.start()  # as ExecStopPost does
    try:
        for tag, digests in pushed.items():
            for number, digest in enumerate(digests):
                status, _, _ = request(f"{registry.url}/v2/{IMAGE}/manifests/{digest}", method="HEAD",
                                       auth=(USER, PASSWORD), accept="application/vnd.oci.image.index.v1+json, "
                                       "application/vnd.oci.image.manifest.v1+json")
                assert status == 200, f"{tag}: manifest {digest} answers {status} after collection"
                assert pull_by_digest(registry, digest, tmp_path / f"pulled-{tag}-{number}") == digest
    finally:
        registry.stop()


def documented_delete_command() -> str:
    """The page's command for removing an old image by digest (docs/self-hosted-registry.md)."""
    page = (Path(__file__).resolve().parent.parent / "docs/self-hosted-registry.md").read_text()
    (line,) = [ln.strip() for ln in page.splitlines() if ln.strip().startswith("curl") and "-X DELETE" in ln]
    return line


def test_the_documented_delete_by_digest_then_collection_removes_the_old_image(tmp_path: Path) -> None:
    """The docs' curl command, placeholders filled in, run against the real registry, then the unit's
    collection: the old image's blobs go, the tag still pulls the new image."""
    settings = RegistrySettings(delete_enabled=True)
    registry, old, new = two_versions_under_one_tag(tmp_path, settings)
    old_manifest = json.loads((tmp_path / "v1/index.json").read_text())["manifests"][0]["digest"]
    registry.start()
    command = (documented_delete_command().replace("USER:PASSWORD", f"{USER}:{PASSWORD}")
               .replace("https://REGISTRY", registry.url).replace("NAME", IMAGE).replace("DIGEST", old_manifest))
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    status, _, _ = request(f"{registry.url}/v2/{IMAGE}/manifests/{old_manifest}", method="HEAD", auth=(USER, PASSWORD))
    assert status == 404
    registry.stop()
    log = collect(registry, settings)
    assert "blob eligible for deletion" in log or "Deleting blob" in log
    assert not [d for d in old - new if stored(tmp_path, d)], "the old image's blobs must be gone"
    assert all(stored(tmp_path, d) for d in new)
    registry.start()  # as ExecStopPost does
    try:
        new_manifest = json.loads((tmp_path / "v2/index.json").read_text())["manifests"][0]["digest"]
        assert pull_by_digest(registry, TAG_REF, tmp_path / "pulled") == new_manifest
    finally:
        registry.stop()
