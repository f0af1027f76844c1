"""app/: the Dockerfile and .dockerignore read as a reviewer would, and linted by the real hadolint."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess

import pytest

from components.app_source import APP_DIR, REVISION_ARG, sample_site_build
from components.build_spec import build_script
from tests.peers import binary

DOCKERFILE = (APP_DIR / "Dockerfile").read_text()
INSTRUCTIONS = [line for line in DOCKERFILE.splitlines() if line and not line.startswith("#")]


def ignored(path: str) -> bool:
    patterns = [p.strip() for p in (APP_DIR / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    return any(fnmatch.fnmatch(path, p.rstrip("/")) or fnmatch.fnmatch(path, p.rstrip("/") + "/*")
               or path.startswith(p) for p in patterns)


def test_base_image_is_pinned_nginx_alpine() -> None:
    bases = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.M)
    assert len(bases) == 1
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine(-slim)?", bases[0]), bases[0]


def test_nginx_runs_in_the_foreground() -> None:
    assert INSTRUCTIONS[-1] == 'CMD ["nginx", "-g", "daemon off;"]'


def test_site_is_copied_to_the_served_directory_and_defaults_removed() -> None:
    workdir = INSTRUCTIONS.index("WORKDIR /usr/share/nginx/html")
    assert INSTRUCTIONS[workdir + 1] == "RUN rm -rf ./*"
    assert "COPY site/ ./" in INSTRUCTIONS[workdir:]
    assert "COPY nginx/default.conf /etc/nginx/conf.d/default.conf" in INSTRUCTIONS


def test_every_copied_source_exists_and_is_in_the_build_context() -> None:
    sources = [line.split()[1] for line in INSTRUCTIONS if line.startswith("COPY")]
    assert sources
    for source in sources:
        assert (APP_DIR / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for site_file in (APP_DIR / "site").rglob("*"):
        assert not ignored(site_file.relative_to(APP_DIR).as_posix())


def test_dockerignore_keeps_build_files_out() -> None:
    for path in ("Dockerfile", ".dockerignore", "tests", ".git", "README.md"):
        assert ignored(path), path


def parsed_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined as Docker's parser joins them."""
    joined = re.sub(r"\\\n(?:\s*#[^\n]*\n|\s*\n)*", " ", text)
    parsed = []
    for line in (line.strip() for line in joined.splitlines()):
        if line and not line.startswith("#"):
            keyword, *arguments = line.split(None, 1)
            parsed.append((keyword.upper(), "".join(arguments)))
    return parsed


# Cloud Build substitutions that differ from one build to the next.
PER_BUILD = re.compile(r"\$\{?(?:COMMIT_SHA|SHORT_SHA|REVISION_ID|BUILD_ID)\b")


def per_build_args() -> set[str]:
    """Build arguments whose value changes with every build: those the trigger's build sets from a
    per-build substitution, and the one pulumi-docker gets as the tag (new whenever an input changes)."""
    script = build_script("app", ["t"])
    from_trigger = {name for name, value in re.findall(r'--build-arg "?(\w+)=([^" ]*)', script)
                    if PER_BUILD.search(value)}
    from_pulumi = {name for name in sample_site_build("s").build.get("args", {}) if name == REVISION_ARG}
    return from_trigger | from_pulumi


def layers_after_per_build_args(text: str) -> list[str]:
    """Every RUN sees each ARG declared before it in its stage (Docker builder reference, "Impact on
    build caching"): after an ARG whose value changes per build, a RUN (and every layer after it) misses
    the cache, so `--cache-from` would reuse the base image only."""
    changing, declared, late = per_build_args(), False, []
    for keyword, arguments in parsed_instructions(text):
        if keyword == "FROM":
            declared = False
        elif keyword == "ARG" and arguments.split("=", 1)[0].strip() in changing:
            declared = True
        elif keyword in {"RUN", "COPY", "ADD"} and declared:
            late.append(f"{keyword} {arguments}")
    return late


def test_no_layer_follows_an_argument_that_changes_per_build() -> None:
    assert per_build_args() == {"REVISION"}
    assert layers_after_per_build_args(DOCKERFILE) == []
    # The check can fail: the order this replaced, provenance first.
    earlier = ("FROM nginx:1\nARG SOURCE\nARG REVISION=unknown\nLABEL a=\"${REVISION}\" \\\n  b=c\n"
               "RUN rm -rf ./*\nCOPY site/ ./\n")
    assert layers_after_per_build_args(earlier) == ["RUN rm -rf ./*", "COPY site/ ./"]


def test_oci_labels_for_source_and_revision() -> None:
    for label in ("org.opencontainers.image.source", "org.opencontainers.image.revision"):
        assert f'{label}="${{' in DOCKERFILE


def test_page_links_only_to_files_that_exist() -> None:
    index = (APP_DIR / "site" / "index.html").read_text()
    for link in re.findall(r'(?:href|src)="/([^"]*)"', index):
        if link and link != "healthz":
            assert (APP_DIR / "site" / link).is_file(), link


@pytest.mark.integration
def test_hadolint_finds_nothing() -> None:
    """The real linter at its strictest threshold, requiring the OCI labels; no rule is ignored."""
    result = subprocess.run(
        [binary("hadolint"), "--format", "json", "--failure-threshold", "style",
         "--require-label", "org.opencontainers.image.source:text",
         "--require-label", "org.opencontainers.image.revision:text", str(APP_DIR / "Dockerfile")],
        capture_output=True, text=True, check=False)
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


@pytest.mark.integration
def test_hadolint_can_fail() -> None:
    """Guards the guard: the same call flags an unpinned base image."""
    result = subprocess.run([binary("hadolint"), "--format", "json", "-"], input="FROM nginx\nCMD nginx\n",
                            capture_output=True, text=True, check=False)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert "DL3006" in codes and result.returncode != 0


def test_nginx_runs_as_an_unprivileged_user() -> None:
    users = [line.split()[1] for line in INSTRUCTIONS if line.startswith("USER ")]
    assert users and users[-1] == "101:101", "the last USER must be the base image's nginx user (uid/gid 101)"
    assert INSTRUCTIONS.index(f"USER {users[-1]}") < INSTRUCTIONS.index('CMD ["nginx", "-g", "daemon off;"]')
    main = (APP_DIR / "nginx" / "nginx.conf").read_text()
    assert "COPY nginx/nginx.conf /etc/nginx/nginx.conf" in INSTRUCTIONS
    assert not re.search(r"^\s*user\s", main, re.M), "a `user` directive needs a root master process"
    assert re.search(r"^pid /tmp/", main, re.M)
    for path in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert re.search(rf"^\s*{path}_temp_path /tmp/", main, re.M), path


def test_one_high_port_everywhere() -> None:
    """The server block, EXPOSE and the HEALTHCHECK agree on one unprivileged port."""
    listens = set(re.findall(r"^\s*listen (?:\[::\]:)?(\d+);", (APP_DIR / "nginx" / "default.conf").read_text(), re.M))
    assert listens == {"8080"}
    assert "EXPOSE 8080" in INSTRUCTIONS
    [healthcheck] = [line for line in INSTRUCTIONS if line.startswith("HEALTHCHECK")]
    assert '"http://127.0.0.1:8080/healthz"' in healthcheck
