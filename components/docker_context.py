"""pulumi-docker's build-context digest, ported so the program knows before a deploy when
`docker.Image` will rebuild.

pulumi-docker (provider/provider.go, `hashContext`) adds `build.contextDigest` to the inputs in Check
and rebuilds on any input change. The digest covers the Dockerfile's bytes (under the name
"Dockerfile"), then, for every file of the context not excluded by the ignore file, its slash path,
its Go `FileMode.String()` (type and permission bits) and its bytes. The ignore file is
`<dockerfile>.dockerignore` if present, else `<context>/.dockerignore`, read as moby/patternmatcher's
ignorefile.ReadAll does and applied as fsutil's filtered Walk does (fsutil 586307ad452f, as
pulumi-docker's provider/go.mod pins it): each path matched with MatchesUsingParentResults given its
directory's results, and an excluded directory not entered when no wildcard-free exception could
re-include anything inside it.

Symbolic links are refused: Go hashes `filepath.EvalSymlinks` of the relative path (a relative result,
an error when dangling), so a port would depend on the checkout's location; no file of app/ needs one.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DOCKERFILE = "Dockerfile"
_ESCAPED = set(".+()|{}$")


def read_ignore_file(text: str) -> list[str]:
    """moby/patternmatcher ignorefile.ReadAll: comments, blanks, cleaning, leading '/' and '!'."""
    patterns = []
    for number, line in enumerate(text.splitlines()):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def _clean(path: str) -> str:
    """Go's filepath.Clean (posixpath.normpath keeps a leading '//', Go does not)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    match: Callable[[str], bool]


def _compile(pattern: str) -> Callable[[str], bool]:
    """moby/patternmatcher Pattern.compile and match: `**` spans directories, `*` and `?` do not;
    a pattern without wildcards matches exactly, `x/**` by prefix, `**x` by suffix."""
    out, kind, i, step = "^", "exact", 0, 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            if pattern[i:i + 1] == "*":
                i += 1
                if pattern[i:i + 1] == "/":
                    i += 1
                if i >= len(pattern):
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out, kind = out + ".*", "regexp"
                else:
                    out, kind = out + "(.*/)?", "regexp"
                if step == 0:
                    kind = "suffix"
            else:
                out, kind = out + "[^/]*", "regexp"
        elif ch == "?":
            out, kind = out + "[^/]", "regexp"
        elif ch in _ESCAPED:
            out += "\\" + ch
        elif ch == "\\":
            if i < len(pattern):
                out, kind = out + re.escape(pattern[i]), "regexp"
                i += 1
            else:
                out += "\\\\"
        elif ch in "[]":
            out, kind = out + ch, "regexp"
        else:
            out += ch
        step += 1
    if kind == "exact":
        return lambda path: path == pattern
    if kind == "prefix":
        return lambda path: path.startswith(pattern[:-2])
    if kind == "suffix":
        suffix = pattern[2:]
        return lambda path: path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
    regex = re.compile(out + "$", re.S)
    return lambda path: regex.match(path) is not None


class PatternMatcher:
    """moby/patternmatcher: the last pattern that matches a path or one of its parents decides."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = _clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise ValueError('illegal exclusion pattern: "!"')
                text = text[1:]
            self.patterns.append(_Pattern(text, exclusion, _compile(text)))

    def matches_or_parent_matches(self, path: str) -> bool:
        matched = False
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            match = pattern.match(path)
            if not match and parent != ".":
                match = any(pattern.match("/".join(parent_dirs[:i + 1])) for i in range(len(parent_dirs)))
            if match:
                matched = not pattern.exclusion
        return matched


    def matches_using_parent_results(self, path: str, parent: tuple[bool, ...] | None) -> tuple[bool, tuple[bool, ...]]:
        """MatchesUsingParentResults: a pattern the parent directory matched counts as matched (without
        re-checking whether it still applies), so `a`, `!a/keep`, `a` re-includes a/keep/ where
        MatchesOrParentMatches does not. `parent` None: no information, parents checked as above."""
        matched = False
        results: list[bool] = []
        for pattern in self.patterns:
            match = parent[len(results)] if parent else False
            if not match:
                if pattern.exclusion != matched:
                    results.append(False)
                    continue
                match = pattern.match(path)
                if not match and not parent and "/" in path:
                    dirs = posixpath.dirname(path).split("/")
                    match = any(pattern.match("/".join(dirs[:i + 1])) for i in range(len(dirs)))
            results.append(match)
            if match:
                matched = not pattern.exclusion
        return matched, tuple(results)

    def may_reinclude_inside(self, directory: str) -> bool:
        """fsutil's shortcut for an excluded directory: entered only if an exception could match inside
        (always, when some exception has a wildcard)."""
        exceptions = [_without_trailing_glob(p.text) for p in self.patterns if p.exclusion]
        if any(char in text for text in exceptions for char in _WILDCARDS):
            return True
        return any(f"{text}/".startswith(f"{directory}/") for text in exceptions)


_WILDCARDS = "*[]?^\\"


def _without_trailing_glob(pattern: str) -> str:
    return pattern.removesuffix("/**").removesuffix("/*")


def ignore_patterns(context: Path, dockerfile: Path) -> list[str]:
    for candidate in (Path(f"{dockerfile}.dockerignore"), context / ".dockerignore"):
        if candidate.is_file():
            return read_ignore_file(candidate.read_text(encoding="utf-8"))
    return []


def go_file_mode(mode: int) -> str:
    """Go's fs.FileMode.String() for an lstat st_mode, e.g. '-rw-r--r--', '-rwxr-xr-x', 'Lrwxrwxrwx'."""
    kinds = [
        ("d", stat.S_ISDIR(mode)), ("a", False), ("l", False), ("T", False), ("L", stat.S_ISLNK(mode)),
        ("D", stat.S_ISBLK(mode) or stat.S_ISCHR(mode)), ("p", stat.S_ISFIFO(mode)), ("S", stat.S_ISSOCK(mode)),
        ("u", bool(mode & stat.S_ISUID)), ("g", bool(mode & stat.S_ISGID)), ("c", stat.S_ISCHR(mode)),
        ("t", bool(mode & stat.S_ISVTX)), ("?", False),
    ]
    prefix = "".join(letter for letter, present in kinds if present) or "-"
    return prefix + "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))


def _entry(relative: str, mode_text: str, content: bytes) -> bytes:
    return posixpath.normpath(relative).encode() + mode_text.encode() + hashlib.sha256(content).digest() + b"\0"


def _walk(root: Path, matcher: PatternMatcher, relative: str = "",
          parent: tuple[bool, ...] | None = None) -> list[tuple[str, os.stat_result]]:
    """The files fsutil.Walk hands pulumi-docker, in its order: each directory's entries sorted by
    name, excluded ones left out, an excluded directory still entered when an exception may apply."""
    found = []
    for name in sorted(os.listdir(root / relative) if relative else os.listdir(root)):
        path = f"{relative}/{name}" if relative else name
        info = os.lstat(root / path)
        excluded, results = matcher.matches_using_parent_results(path, parent) if matcher.patterns else (False, ())
        if stat.S_ISDIR(info.st_mode):
            if not excluded or matcher.may_reinclude_inside(path):
                found += _walk(root, matcher, path, results)
        elif not excluded:
            found.append((path, info))
    return found


class SymlinkInContextError(ValueError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} is a symbolic link in the Docker build context: the image tag cannot follow what "
            "pulumi-docker hashes for it. Replace it with the file it points to, or list it in .dockerignore.")


def context_digest(context: Path, dockerfile: Path) -> str:
    """The hex digest pulumi-docker stores as build.contextDigest for this context and Dockerfile."""
    matcher = PatternMatcher(ignore_patterns(context, dockerfile))
    data = _entry(DEFAULT_DOCKERFILE, go_file_mode(0), dockerfile.read_bytes())
    for relative, info in _walk(context, matcher):
        path = context / relative
        if stat.S_ISLNK(info.st_mode):
            raise SymlinkInContextError(path)
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
        data += _entry(relative, go_file_mode(info.st_mode), content)
    return hashlib.sha256(data).hexdigest()
