"""Writes a tiny but real OCI image layout (one layer with one file) for skopeo to push."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def write_layout(layout: Path, tag: str, content: bytes = b"hello from the test\n") -> str:
    """Returns the manifest digest, which the registry must hand back unchanged."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime = len(content), 0
        tar.addfile(info, io.BytesIO(content))
    layer = tar_bytes.getvalue()
    layer_gz = gzip.compress(layer, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _blob(layout, layer_gz), "size": len(layer_gz)}],
    }).encode()
    manifest_digest = _blob(layout, manifest)
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                       "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }))
    return manifest_digest


INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


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
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _blob(layout, layer_gz), "size": len(layer_gz)}],
    }).encode()
    return {"mediaType": MANIFEST_MEDIA_TYPE, "digest": _blob(layout, manifest), "size": len(manifest),
            "platform": {"architecture": architecture, "os": "linux"}}


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
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(layout, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": _blob(layout, statement),
                    "size": len(statement),
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}],
    }).encode()
    return {"mediaType": MANIFEST_MEDIA_TYPE, "digest": _blob(layout, manifest), "size": len(manifest),
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {"vnd.docker.reference.digest": subject,
                            "vnd.docker.reference.type": "attestation-manifest"}}


def write_index_layout(layout: Path, tag: str, architectures: tuple[str, ...] = ("amd64", "arm64"),
                       attestation: bool = False, content: bytes = b"hello from the index test\n") -> list[str]:
    """An image index under `tag` (one image per architecture, plus a buildx-style attestation when
    asked); returns the digests of the index and of every manifest it references, index first."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    manifests = [_image(layout, content + arch.encode(), arch) for arch in architectures]
    if attestation:
        manifests += [_attestation(layout, str(m["digest"])) for m in list(manifests)]
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}).encode()
    index_digest = _blob(layout, index)
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": INDEX_MEDIA_TYPE, "digest": index_digest, "size": len(index),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }))
    return [index_digest, *(str(m["digest"]) for m in manifests)]
