"""The Cloud Build steps as Cloud Build and the shell will read them: every `$` is either a known
substitution or escaped, and the scripts, once substituted, pass shellcheck."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import build_spec as spec_module
from components.build_spec import BUILT_INS, build_spec
from tests.gcloud_sdk import load_build_config, parse_error, sdk_python
from tests.peers import binary

SUBSTITUTION = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
SAMPLE = {"_IMAGE": "asia-northeast3-docker.pkg.dev/p/images/hello-nginx", "_SOURCE": "https://github.com/a/b",
          "SHORT_SHA": "0123abc", "COMMIT_SHA": "0123abc" + "0" * 33,
          "BUILD_ID": "5f1e2d3c-0000-4000-8000-000000000001"}


def substitutions_used(text: str) -> set[str]:
    unescaped = text.replace("$$", "")
    return {m.group(1) or m.group(2) for m in SUBSTITUTION.finditer(unescaped)}


def cloud_build_substitute(text: str, **values: str) -> str:
    """What the step receives: substitutions replaced, then `$$` turned into `$`."""
    parts = text.split("$$")
    for name, value in {**SAMPLE, **values}.items():
        parts = [p.replace(f"${{{name}}}", value).replace(f"${name}", value) for p in parts]
    return "$".join(parts)


@pytest.mark.parametrize("mutable", [True, False])
def test_every_substitution_is_declared_or_built_in(mutable: bool) -> None:
    spec = build_spec("IMAGE", "SOURCE", mutable)
    declared = set(spec["substitutions"])
    texts = [arg for step in spec["steps"] for arg in step.get("args", [])] + list(spec["images"])
    used = set().union(*(substitutions_used(t) for t in texts))
    assert used <= declared | BUILT_INS, used - declared - BUILT_INS
    assert declared <= used, "a declared substitution nobody uses"


def test_no_substitution_option_triggered_builds_ignore_it() -> None:
    # Triggered builds always substitute ALLOW_LOOSE: a MUST_MATCH here would only mislead a reader.
    assert build_spec("IMAGE", "SOURCE", False)["options"] == {"logging": "CLOUD_LOGGING_ONLY"}


def test_shell_variables_are_escaped_for_cloud_build() -> None:
    scripts = [step["args"][1] for step in build_spec("IMAGE", "SOURCE", True)["steps"]]
    for script in scripts:
        assert substitutions_used(script) <= set(SAMPLE), script


def test_substituted_script_reads_as_the_shell_sees_it() -> None:
    build = build_spec("IMAGE", "SOURCE", False)["steps"][1]["args"][1]
    script = cloud_build_substitute(build)
    assert 'set -- --cache-from "$cache"' in script
    assert f'-t "{SAMPLE["_IMAGE"]}:{SAMPLE["SHORT_SHA"]}-{SAMPLE["BUILD_ID"]}" app' in script
    assert "latest" not in script


def test_a_retried_build_of_the_same_commit_pushes_new_tags() -> None:
    """Immutable repositories refuse a second push of a tag: a retry (same commit, new BUILD_ID) must
    not reuse any tag the first build pushed."""
    images = build_spec("IMAGE", "SOURCE", False)["images"]
    first = {cloud_build_substitute(i, BUILD_ID="build-1") for i in images}
    retry = {cloud_build_substitute(i, BUILD_ID="build-2") for i in images}
    assert first and not first & retry, (first, retry)
    assert all(SAMPLE["SHORT_SHA"] in tag for tag in first), "the commit stays readable in the tag"


def test_images_carry_inline_cache_metadata_built_by_buildkit() -> None:
    step = build_spec("IMAGE", "SOURCE", False)["steps"][1]
    script = cloud_build_substitute(step["args"][1])
    # BuildKit only: the legacy builder ignores BUILDKIT_INLINE_CACHE and cannot use it as --cache-from.
    assert "DOCKER_BUILDKIT=1" in step["envs"]
    docker_build = shlex.split(next(line for line in script.splitlines() if line.startswith("docker build")))
    assert docker_build[docker_build.index("--build-arg") + 1] == "BUILDKIT_INLINE_CACHE=1"
    assert '--cache-from "$cache"' in script and "docker pull" not in script


def as_cloudbuild_yaml(value: Any, key: str = "") -> Any:
    """The trigger's `build` (pulumi-gcp's snake_case schema) in the shape of a cloudbuild.yaml:
    only the list names that pulumi pluralises differ."""
    if isinstance(value, dict) and key != "substitutions":
        renames = {"wait_fors": "wait_for", "envs": "env", "secret_envs": "secret_env"}
        return {renames.get(k, k): as_cloudbuild_yaml(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [as_cloudbuild_yaml(v) for v in value]
    return value


@pytest.mark.integration
@pytest.mark.parametrize("mutable", [True, False])
def test_gcloud_build_config_loader_accepts_the_build(tmp_path: Path, mutable: bool) -> None:
    path = tmp_path / "cloudbuild.yaml"
    path.write_text(yaml.safe_dump(as_cloudbuild_yaml(build_spec(SAMPLE["_IMAGE"], SAMPLE["_SOURCE"], mutable))))
    build = load_build_config(path)
    assert [s["id"] for s in build["steps"]] == ["find-cache", "build"]
    assert build["steps"][1]["waitFor"] == ["find-cache"] and build["steps"][1]["env"] == ["DOCKER_BUILDKIT=1"]
    assert build["options"] == {"logging": "CLOUD_LOGGING_ONLY"}
    assert build["images"][0] == "${_IMAGE}:${SHORT_SHA}-${BUILD_ID}"


def gcloud_commands_in(script: str) -> list[list[str]]:
    """Every gcloud command a script runs, split as the shell splits it, up to its first operator."""
    commands = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for start in (i for i, token in enumerate(tokens) if token == "gcloud"):
            end = next((i for i in range(start, len(tokens)) if set(tokens[i]) <= set("();<>|&")), len(tokens))
            commands.append(tokens[start:end])
    return commands


@pytest.mark.integration
def test_gcloud_parses_every_gcloud_command_of_the_steps() -> None:
    spec = build_spec(SAMPLE["_IMAGE"], SAMPLE["_SOURCE"], False)
    scripts = [cloud_build_substitute(step["args"][1]) for step in spec["steps"]]
    commands = [c for script in scripts for c in gcloud_commands_in(script)]
    assert len(commands) == sum(script.count("gcloud ") for script in scripts) > 0
    for command in commands:
        assert parse_error(command) is None, command


SORT_AND_FORMAT = """
from googlecloudsdk.api_lib.util import common_args
from googlecloudsdk.core.resource import resource_lex, resource_printer, resource_property
import io
key, fmt, resources = payload["key"], payload["format"], payload["resources"]
found = [resource_property.Get(r, resource_lex.Lexer(key.lstrip("~")).Key(), None) for r in resources]
out = io.StringIO()
resource_printer.Print(resources, fmt, out=out)
result = {"server": common_args.ParseSortByArg([key]), "found": found, "printed": out.getvalue()}
"""


@pytest.mark.integration
def test_find_cache_sorts_by_a_field_gcloud_knows_and_prints_a_digest_reference() -> None:
    """gcloud sends --sort-by to Artifact Registry as AIP-132 `order_by` and sorts again client-side
    on the listed resources (docker_util builds them with `updateTime`); both must know the field."""
    command = shlex.split(spec_module.FIND_CACHE_COMMAND)
    sort_key = next(a.split("=", 1)[1] for a in command if a.startswith("--sort-by="))
    fmt = next(a.split("=", 1)[1] for a in command if a.startswith("--format="))
    digest = "sha256:" + "ab" * 32
    resources = [{"package": SAMPLE["_IMAGE"], "version": digest, "createTime": "2026-01-01T00:00:00Z",
                  "updateTime": "2026-01-02T00:00:00Z"}]
    ours = sdk_python(SORT_AND_FORMAT, {"key": sort_key, "format": fmt, "resources": resources})
    assert ours["server"] == "update_time desc"
    assert ours["found"] == ["2026-01-02T00:00:00Z"]
    assert ours["printed"].strip() == f"{SAMPLE['_IMAGE']}@{digest}"
    # The spelling this replaced finds nothing on the client: every version compares equal.
    old = sdk_python(SORT_AND_FORMAT, {"key": "~UPDATE_TIME", "format": fmt, "resources": resources})
    assert old["found"] == [None]


@pytest.mark.integration
@pytest.mark.parametrize("mutable", [True, False])
def test_step_scripts_pass_shellcheck(tmp_path: Path, mutable: bool) -> None:
    spec = build_spec(SAMPLE["_IMAGE"], SAMPLE["_SOURCE"], mutable)
    for step in spec["steps"]:
        shell = "bash" if step.get("entrypoint") == "bash" else "sh"
        path = tmp_path / f"{step['id']}.sh"
        path.write_text(f"#!/bin/{shell}\n" + cloud_build_substitute(step["args"][1]))
        result = subprocess.run([binary("shellcheck"), "--severity=style", str(path)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout


@pytest.mark.integration
def test_the_parser_check_can_fail() -> None:
    assert "--sort (did you mean '--sort-by'?)" in str(parse_error(
        ["gcloud", "artifacts", "docker", "images", "list", "IMAGE", "--sort", "update_time"]))
    assert parse_error(["gcloud", "artifacts", "docker", "images", "list", "IMAGE", "--sort-by=~update_time"]) is None
