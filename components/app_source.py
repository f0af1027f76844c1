"""The sample site's source folder and the tag derived from its content: the same files always give
the same tag, so a tag never changes meaning (safe with immutable tags) and an unchanged app/
pushes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent / "app"
TAG_PREFIX = "src-"


def source_files(app_dir: Path) -> list[Path]:
    return sorted(p for p in app_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def content_tag(app_dir: Path = APP_DIR) -> str:
    """`src-` + 12 hex digits of a hash over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in source_files(app_dir):
        digest.update(path.relative_to(app_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return TAG_PREFIX + digest.hexdigest()[:12]
