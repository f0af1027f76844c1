"""The sample site's build inputs and the tag derived from them.

pulumi-docker rebuilds `docker.Image` whenever one of its build inputs changes (the context digest it
computes, see components/docker_context.py, and every other `build` field), and a rebuild gives new
bytes. So the tag hashes exactly those inputs: whatever makes pulumi-docker rebuild gives a new tag
(safe with immutable tags, never a moved tag), and nothing else does. The tag is computed from the
very dict handed to `docker.Image(build=...)`, so a build argument cannot be added without feeding it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import pulumi_docker as docker

from components.docker_context import context_digest

PROJECT_DIR = Path(__file__).resolve().parent.parent  # where Pulumi runs the program and docker builds
APP_DIR = PROJECT_DIR / "app"
TAG_PREFIX = "src-"
PLATFORM = "linux/amd64"
REVISION_ARG = "REVISION"  # the tag itself, so a pure function of the other inputs


def pulumi_docker_version() -> str:
    """The installed provider SDK: pulumi-docker has changed its context digest (and fsutil's walk with
    it) across releases, so an upgrade may rebuild; it gets a new tag, always safe when tags are immutable."""
    return metadata.version("pulumi-docker")


def build_tag(build: Mapping[str, Any], root: Path = PROJECT_DIR) -> str:
    """`src-` + 12 hex digits of a hash over `build` (docker.Image's build inputs, plain values, paths
    relative to `root`), pulumi-docker's digest of the context and Dockerfile they name, and the
    pulumi-docker version that digest is ported from."""
    if REVISION_ARG in (build.get("args") or {}):
        raise ValueError(f"the {REVISION_ARG} build argument is the tag itself; it cannot feed the tag")
    digest = context_digest(root / build["context"], root / build["dockerfile"])
    # json refuses an Output or any other unknown value: the tag must be known before the deploy.
    document = json.dumps({"build": build, "contextDigest": digest, "pulumiDocker": pulumi_docker_version()},
                          sort_keys=True)
    return TAG_PREFIX + hashlib.sha256(document.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ImageBuild:
    tag: str
    build: docker.DockerBuildArgsDict  # exactly what docker.Image gets as `build`


def image_build(build: docker.DockerBuildArgsDict, root: Path = PROJECT_DIR) -> ImageBuild:
    tag = build_tag(build, root)
    args = {**cast(Mapping[str, str], build.get("args") or {}), REVISION_ARG: tag}
    return ImageBuild(tag, {**build, "args": args})


def sample_site_build(source_url: str) -> ImageBuild:
    """app/ for linux/amd64. SOURCE (the OCI source label) is a build input like any other: setting
    buildTrigger.githubRepository changes the image's config, so it gets a new tag."""
    build: docker.DockerBuildArgsDict = {"context": "app", "dockerfile": "app/Dockerfile", "platform": PLATFORM,
                                         "args": {"SOURCE": source_url}}
    return image_build(build)
