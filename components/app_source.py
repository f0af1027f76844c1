"""The sample site's build inputs and the tag derived from them.

pulumi-docker rebuilds `docker.Image` whenever one of its build inputs changes (the context digest it
computes, see components/docker_context.py, and every other `build` field), and a rebuild gives new
bytes. So the tag hashes exactly those inputs: whatever makes pulumi-docker rebuild gives a new tag
(safe with immutable tags, never a moved tag), and nothing else does. The tag is computed from the
very dict handed to `docker.Image(build=...)`, so a build argument cannot be added without feeding it.

pulumi-docker's digest and Docker's COPY both take each file's mode from the disk, and a checkout's
modes follow the umask (0664 on a laptop with umask 002, 0644 in CI with 022). So the image is built
from a copy of app/ whose modes are what git records: 0755 for a file with its owner-executable bit,
0644 for any other, 0755 for directories. COPY also keeps each file's mtime in the layer, and a fresh
copy gets the time of the copy: every staged entry gets STAGED_MTIME instead. The same commit then
gives the same tag, the same pulumi-docker digest and the same image layers on any machine."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import pulumi_docker as docker

from components.docker_context import SymlinkInContextError, context_digest

PROJECT_DIR = Path(__file__).resolve().parent.parent  # where Pulumi runs the program and docker builds
APP_DIR = PROJECT_DIR / "app"
# The normalized copy docker.Image builds from (git-ignored; rewritten only when app/ changed). A
# path relative to the project, like every build input, so it is the same on every machine.
STAGED_APP = Path(".build-context") / "app"
TAG_PREFIX = "src-"
PLATFORM = "linux/amd64"
REVISION_ARG = "REVISION"  # the tag itself, so a pure function of the other inputs
# Every staged file's and directory's mtime (the Unix epoch): layers carry mtimes, git records none.
STAGED_MTIME = 0


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


def git_mode(mode: int) -> int:
    """The mode a checkout of this file gets without a umask: git stores 100755 when the owner may
    execute it, else 100644; directories are not stored, 0755."""
    if stat.S_ISDIR(mode):
        return 0o755
    return 0o755 if mode & stat.S_IXUSR else 0o644


def _listing(root: Path) -> list[tuple[str, int, bytes]]:
    """Every entry under ROOT: relative path, normalized mode, bytes (b"" for a directory)."""
    entries = []
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise SymlinkInContextError(path)
        content = b"" if stat.S_ISDIR(info.st_mode) else path.read_bytes()
        entries.append((path.relative_to(root).as_posix(), git_mode(info.st_mode), content))
    return entries


def _as_is(root: Path) -> list[tuple[str, int, bytes]] | None:
    """ROOT's listing with the modes on disk (to tell whether a staged copy is still right); None if
    an entry's mtime is not STAGED_MTIME."""
    paths = sorted(root.rglob("*"))
    if any(p.lstat().st_mtime != STAGED_MTIME for p in [root, *paths]):
        return None
    return [(p.relative_to(root).as_posix(), stat.S_IMODE(p.lstat().st_mode),
             b"" if p.is_dir() else p.read_bytes()) for p in paths]


def stage_context(source: Path, target: Path) -> None:
    """Makes TARGET an exact copy of SOURCE with git's modes (git_mode), whatever the umask, and every
    entry's mtime STAGED_MTIME. An up-to-date copy is left alone; otherwise a new one is written beside
    it and renamed into place. Not atomic: between moving the old copy aside and renaming the new one
    in, TARGET is missing for a moment, so a concurrent reader may find no copy (never half of one).
    Pulumi runs one program per stack at a time; two stacks' `pulumi up` in one checkout could meet it."""
    wanted = _listing(source)
    if target.is_dir() and stat.S_IMODE(target.stat().st_mode) == 0o755 and _as_is(target) == wanted:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.parent / f".{target.name}.{uuid.uuid4().hex}"
    fresh.mkdir()
    for relative, mode, content in wanted:
        path = fresh / relative
        if stat.S_ISDIR(source.joinpath(relative).lstat().st_mode):
            path.mkdir()
        else:
            path.write_bytes(content)
        os.chmod(path, mode)  # explicit: mkdir and open are subject to the umask
    os.chmod(fresh, 0o755)
    # Deepest first: writing an entry changes its directory's mtime.
    for path in [*sorted(fresh.rglob("*"), key=lambda p: len(p.parts), reverse=True), fresh]:
        os.utime(path, (STAGED_MTIME, STAGED_MTIME), follow_symlinks=False)
    old = target.parent / f".{target.name}.old.{uuid.uuid4().hex}"
    if target.exists():
        os.rename(target, old)
    os.rename(fresh, target)
    shutil.rmtree(old, ignore_errors=True)


def sample_site_build(source_url: str, root: Path = PROJECT_DIR) -> ImageBuild:
    """app/ for linux/amd64. SOURCE (the OCI source label) is a build input like any other: setting
    buildTrigger.githubRepository changes the image's config, so it gets a new tag."""
    stage_context(root / "app", root / STAGED_APP)
    context = STAGED_APP.as_posix()
    build: docker.DockerBuildArgsDict = {"context": context, "dockerfile": f"{context}/Dockerfile",
                                         "platform": PLATFORM, "args": {"SOURCE": source_url}}
    return image_build(build, root)


def sample_tag(source_url: str, enabled: bool, root: Path = PROJECT_DIR) -> tuple[ImageBuild | None, str]:
    """The sample image's build (staged, see stage_context) when the stack pushes it; else no build and
    no staging (production and promotion push nothing from app/), only a tag for the printed
    walkthrough commands: a hash of app/ as git records it (paths, modes, bytes)."""
    if enabled:
        build = sample_site_build(source_url, root)
        return build, build.tag
    listing = [(path, mode, hashlib.sha256(content).hexdigest()) for path, mode, content in _listing(root / "app")]
    return None, TAG_PREFIX + hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:12]

