"""Writes a tiny but real OCI image layout (one layer with one file) for skopeo to push."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import cast


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _manifest(layout: Path, config: bytes, layer: dict[str, object]) -> dict[str, object]:
    """An image manifest of `config` and one layer, stored in the layout's blobs; returns its descriptor."""
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": [layer],
    }).encode()
    return {"mediaType": MANIFEST_MEDIA_TYPE, "digest": _blob(layout, manifest), "size": len(manifest)}


def _image(layout: Path, content: bytes, architecture: str) -> dict[str, object]:
    """One platform's image manifest in the layout's blobs; returns its descriptor."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(content), 0
        tar.addfile(info, io.BytesIO(content))
    layer = tar_bytes.getvalue()
    layer_gz = gzip.compress(layer, mtime=0)
    config = json.dumps({"architecture": architecture, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
                         }).encode()
    layer_descriptor = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": _blob(layout, layer_gz), "size": len(layer_gz)}
    return {**_manifest(layout, config, layer_descriptor), "platform": {"architecture": architecture, "os": "linux"}}


def _attestation(layout: Path, subject: str) -> dict[str, object]:
    """A provenance attestation manifest as `docker buildx` pushes it beside each image: platform
    unknown/unknown, an in-toto layer, and the annotations that point at the image it describes."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                            "predicateType": "https://slsa.dev/provenance/v0.2",
                            "subject": [{"name": "hello", "digest": {"sha256": subject.split(":")[1]}}],
                            "predicate": {"builder": {"id": "test"}}}).encode()
    config = json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(statement).hexdigest()}"]},
                         }).encode()
    layer_descriptor = {"mediaType": "application/vnd.in-toto+json", "digest": _blob(layout, statement),
                        "size": len(statement),
                        "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}
    return {**_manifest(layout, config, layer_descriptor),
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {"vnd.docker.reference.digest": subject,
                            "vnd.docker.reference.type": "attestation-manifest"}}


def _start(layout: Path) -> None:
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


def _tag(layout: Path, tag: str, media_type: str, digest: str, size: int) -> None:
    """index.json naming one manifest (or index) `tag`, as skopeo's oci: transport reads it."""
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": media_type, "digest": digest, "size": size,
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }))


def write_layout(layout: Path, tag: str, content: bytes = b"hello from the test\n") -> str:
    """One amd64 image under `tag`; returns the manifest digest, which the registry must hand back unchanged."""
    _start(layout)
    image = _image(layout, content, "amd64")
    _tag(layout, tag, MANIFEST_MEDIA_TYPE, str(image["digest"]), cast(int, image["size"]))
    return str(image["digest"])


def write_index_layout(layout: Path, tag: str, architectures: tuple[str, ...] = ("amd64", "arm64"),
                       attestation: bool = False, content: bytes = b"hello from the index test\n") -> list[str]:
    """An image index under `tag` (one image per architecture, plus a buildx-style attestation when
    asked); returns the digests of the index and of every manifest it references, index first."""
    _start(layout)
    manifests = [_image(layout, content + arch.encode(), arch) for arch in architectures]
    if attestation:
        manifests += [_attestation(layout, str(m["digest"])) for m in list(manifests)]
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}).encode()
    index_digest = _blob(layout, index)
    _tag(layout, tag, INDEX_MEDIA_TYPE, index_digest, len(index))
    return [index_digest, *(str(m["digest"]) for m in manifests)]
