"""The port of pulumi-docker's context digest: .dockerignore matching checked against moby/patternmatcher's
own test cases, Go's FileMode strings, and the behaviours pulumi-docker's provider tests pin down."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from components.docker_context import (
    PatternMatcher,
    SymlinkInContextError,
    context_digest,
    go_file_mode,
    read_ignore_file,
)

CASES = json.loads((Path(__file__).parent / "data" / "moby_patternmatcher_cases.json").read_text())


@pytest.mark.parametrize(("pattern", "path", "excluded"), CASES["single"])
def test_pattern_matches_like_moby(pattern: str, path: str, excluded: bool) -> None:
    assert PatternMatcher([pattern]).matches_or_parent_matches(path) is excluded
    # Without a parent's results (a top-level entry), MatchesUsingParentResults checks parents the same way.
    assert PatternMatcher([pattern]).matches_using_parent_results(path, None)[0] is excluded


@pytest.mark.parametrize(("patterns", "path", "excluded"), CASES["multi"])
def test_exclusions_match_like_moby(patterns: list[str], path: str, excluded: bool) -> None:
    assert PatternMatcher(patterns).matches_or_parent_matches(path) is excluded
    assert PatternMatcher(patterns).matches_using_parent_results(path, None)[0] is excluded


def test_the_cases_cover_each_kind_of_pattern() -> None:
    patterns = {case[0] for case in CASES["single"]}
    assert {"**", "dir/**", "**file", "a/*.txt", "abc?def", "a[b-d]e", "a.|)$(}+{bc"} <= patterns
    assert len(CASES["single"]) > 60 and any(not case[2] for case in CASES["single"])


def test_ignore_file_is_read_like_moby() -> None:
    text = "\ufeff# comment\n  /abs/path/  \n\n!  keep/./me\n  # not a comment: spaces first\nsub/../x\n"
    assert read_ignore_file(text) == ["abs/path", "!keep/me", "# not a comment: spaces first", "x"]
    with pytest.raises(ValueError, match="illegal exclusion"):
        PatternMatcher(["!"])


@pytest.mark.parametrize(("mode", "text"), [
    (0, "----------"),
    (stat.S_IFREG | 0o644, "-rw-r--r--"),
    (stat.S_IFREG | 0o755, "-rwxr-xr-x"),
    (stat.S_IFREG | stat.S_ISUID | 0o755, "urwxr-xr-x"),
    (stat.S_IFDIR | stat.S_ISVTX | 0o777, "dtrwxrwxrwx"),
    (stat.S_IFLNK | 0o777, "Lrwxrwxrwx"),
    (stat.S_IFIFO | 0o600, "prw-------"),
    (stat.S_IFCHR | 0o666, "Dcrw-rw-rw-"),
])
def test_file_modes_are_written_as_go_does(mode: int, text: str) -> None:
    assert go_file_mode(mode) == text


def context(tmp_path: Path, files: dict[str, str], ignore: str | None = None) -> Path:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    if ignore is not None:
        (tmp_path / ".dockerignore").write_text(ignore)
    return tmp_path


def test_pulumi_docker_provider_cases(tmp_path: Path) -> None:
    """provider_test.go: ignored files and the Dockerfile's location do not matter; modes, renames and
    files re-included by `!` do."""
    base = context(tmp_path / "a", {"Dockerfile": "FROM x\n", "foo.txt": "1", "bar/app.js": "2"})
    digest = context_digest(base, base / "Dockerfile")
    ignored = context(tmp_path / "b", {"Dockerfile": "FROM x\n", "foo.txt": "1", "bar/app.js": "2",
                                       "ignored.txt": "3", "bar/ignored.js": "4"}, "ignored.txt\nbar/ignored.js\n")
    assert context_digest(ignored, ignored / "Dockerfile") == context_digest(
        context(tmp_path / "b2", {"Dockerfile": "FROM x\n", "foo.txt": "1", "bar/app.js": "2"},
                "ignored.txt\nbar/ignored.js\n"), tmp_path / "b2" / "Dockerfile")
    elsewhere = tmp_path / "step2.Dockerfile"
    elsewhere.write_text("FROM x\n")
    assert context_digest(base, elsewhere) == digest
    (base / "foo.txt").chmod(0o755)
    assert context_digest(base, base / "Dockerfile") != digest
    (base / "foo.txt").chmod(0o644)
    assert context_digest(base, base / "Dockerfile") == digest
    (base / "foo.txt").rename(base / "foo.b.txt")
    assert context_digest(base, base / "Dockerfile") != digest

    wild = context(tmp_path / "w", {"Dockerfile": "FROM x\n", "projects/foo/src/app.js": "1",
                                    "projects/foo/other.js": "2"}, "projects\n!projects/*/src\n")
    before = context_digest(wild, wild / "Dockerfile")
    (wild / "projects/foo/other.js").write_text("changed, ignored")
    assert context_digest(wild, wild / "Dockerfile") == before
    (wild / "projects/foo/src/app.js").write_text("changed, re-included")
    assert context_digest(wild, wild / "Dockerfile") != before

    # pulumi-docker's testdata/ignores-wildcard: ignore everything except projects/*/src.
    star = context(tmp_path / "s", {"Dockerfile": "FROM x\n", "projects/foo/src/app.js": "1",
                                    "projects/foo/dist/app.js": "2"}, "# Ignore everything!\n*\n!projects/*/src\n")
    before = context_digest(star, star / "Dockerfile")
    (star / "projects/foo/dist/app.js").write_text("changed, ignored")
    assert context_digest(star, star / "Dockerfile") == before
    (star / "projects/foo/src/app.js").write_text("changed, re-included")
    assert context_digest(star, star / "Dockerfile") != before



@pytest.mark.parametrize(("name", "target"), [
    ("current", "t1"),                  # to a file: Go hashes the relative resolved path, a port the absolute one
    ("gone", "missing.txt"),            # dangling: EvalSymlinks fails in Go
    ("site/shared", "../assets"),       # to a folder: not walked into by either
])
def test_symlinks_in_the_context_are_refused_naming_the_file(tmp_path: Path, name: str, target: str) -> None:
    base = context(tmp_path, {"Dockerfile": "FROM x\n", "t1": "a", "assets/a.css": "b", "site/index.html": "c"})
    assert context_digest(base, base / "Dockerfile")
    os.symlink(target, base / name)
    expected = rf"^{tmp_path / name} is a symbolic link in the Docker build context"
    with pytest.raises(SymlinkInContextError, match=expected):
        context_digest(base, base / "Dockerfile")


def test_an_ignored_symlink_is_not_refused(tmp_path: Path) -> None:
    """Ignored files are never hashed, so a link among them cannot make the tag depend on the checkout."""
    base = context(tmp_path, {"Dockerfile": "FROM x\n", "t1": "a"}, "docs/\n")
    before = context_digest(base, base / "Dockerfile")
    (base / "docs").mkdir()
    os.symlink("../t1", base / "docs" / "link")
    assert context_digest(base, base / "Dockerfile") == before


def hashed_files(base: Path) -> set[str]:
    """Which files feed the digest: each one's content changed in turn, the digest must move or not."""
    files = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()} - {".dockerignore", "Dockerfile"}
    found = set()
    for name in sorted(files):
        before = context_digest(base, base / "Dockerfile")
        (base / name).write_text((base / name).read_text() + "changed")
        if context_digest(base, base / "Dockerfile") != before:
            found.add(name)
    return found


@pytest.mark.parametrize(("patterns", "files", "hashed"), [
    # fsutil filter_test.go TestWalkerExclude.
    (["foo*", "!foo/bar2"], ["bar", "foo2", "foo/bar2"], {"bar", "foo/bar2"}),
    # MatchesUsingParentResults: `a` already matched a/ and is not re-checked after `!a/keep` re-included
    # a/keep, so a/keep/x is sent; MatchesOrParentMatches would exclude it.
    (["a", "!a/keep", "a"], ["a/keep/x", "a/other", "b"], {"a/keep/x", "b"}),
    (["**/*.md", "!docs/**", "docs/draft"], ["docs/a.md", "docs/draft/b.md", "c.md", "d.txt"],
     {"docs/a.md", "d.txt"}),
])
def test_ignore_file_applied_as_fsutil_walks(tmp_path: Path, patterns: list[str], files: list[str],
                                            hashed: set[str]) -> None:
    base = context(tmp_path, {"Dockerfile": "FROM x\n", **{name: name for name in files}}, "\n".join(patterns) + "\n")
    assert hashed_files(base) == hashed


def test_the_reinclude_case_where_fsutil_and_moby_differ() -> None:
    matcher = PatternMatcher(["a", "!a/keep", "a"])
    assert matcher.matches_or_parent_matches("a/keep/x") is True
    _, parent = matcher.matches_using_parent_results("a", None)
    _, parent = matcher.matches_using_parent_results("a/keep", parent)
    assert matcher.matches_using_parent_results("a/keep/x", parent)[0] is False


@pytest.mark.parametrize(("patterns", "entered"), [
    (["a", "!b/keep"], False),   # no exception can match inside a/: fsutil skips it
    (["a", "!a/keep"], True),
    (["a", "!*/keep"], True),    # an exception with a wildcard: always entered
    (["a/**", "!a/keep/**"], True),
])
def test_excluded_folder_entered_only_when_an_exception_may_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  patterns: list[str], entered: bool) -> None:
    base = context(tmp_path, {"Dockerfile": "FROM x\n", "a/keep/x": "1", "b/keep": "2"}, "\n".join(patterns) + "\n")
    listed: list[str] = []
    listdir = os.listdir

    def recording(path: Any) -> list[str]:
        listed.append(Path(path).relative_to(base).as_posix())
        return listdir(path)

    monkeypatch.setattr(os, "listdir", recording)
    context_digest(base, base / "Dockerfile")
    assert ("a" in listed) is entered
