"""The docs are the front door: a short README, links that resolve, a config table that matches the
code, and every command they show accepted by the tool that runs it."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest

from scripts import config_table
from tests import docker_cli
from tests.conftest import stack_run
from tests.gcloud_cli import refusal
from tests.harness import ROOT, STACKS
from tests.test_inventory import example_run, readme_examples

README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
README_LIMIT = 150
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SHELL_FENCES = {"sh", "bash", "console", ""}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", page.read_text(), re.M)}


def test_readme_is_a_short_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) < README_LIMIT
    text = "\n".join(lines)
    assert "```mermaid" in text and "make test" in text and "make up" in text


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / target).resolve() for target in LINK.findall(README.read_text())}
    assert {p.resolve() for p in PAGES} <= linked


def _broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_links_resolve(page: Path) -> None:
    assert _broken_links(page) == []


def test_link_check_finds_a_missing_page_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Undo\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#undo) [gone](missing.md) [bad anchor](other.md#nope) [web](https://x.org/y)")
    assert _broken_links(page) == ["missing.md", "other.md#nope"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_each_page_starts_with_what_you_get_and_ends_with_undo(page: Path) -> None:
    text = page.read_text()
    first_paragraph = text.split("\n\n")[1]
    assert first_paragraph.startswith("**What you get:**")
    assert re.findall(r"^## (.+)$", text, re.M)[-1] == "Undo"


def test_config_table_matches_settings_code() -> None:
    assert config_table.in_page(config_table.PAGE.read_text()) == config_table.render(), (
        "run `python scripts/config_table.py --write`")


def test_every_settings_key_is_documented() -> None:
    table = config_table.render()
    for key in ("gcp:project", "image-sharing:artifactRegistry.cleanup.keepRecent",
                "image-sharing:registryVm.directAccessCidrs", "image-sharing:registryTlsKey (secret)",
                "image-sharing:buildTrigger.githubTokenSecretVersion"):
        assert f"`{key}`" in table


def _docs_text() -> str:
    return "\n".join(p.read_text() for p in [README, *PAGES])


def test_make_targets_shown_exist() -> None:
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    # `make X` in inline code or anywhere in a code line
    used = set(re.findall(r"(?:^|`|\s)make ([a-z][a-z-]*)", _docs_text(), re.M))
    assert {"test", "up", "unit", "preview"} <= used
    assert used - targets == set()


def _shell_blocks(text: str) -> list[str]:
    """The bodies of fenced shell code blocks (and of unlabelled ones)."""
    blocks, body, lang = [], [], None
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)\s*$", line)
        if fence and lang is None:
            lang, body = fence.group(1), []
        elif fence:
            if lang in SHELL_FENCES:
                blocks.append("\n".join(body))
            lang = None
        elif lang is not None:
            body.append(line)
    return blocks


def _commands(text: str, program: str) -> list[str]:
    """Every `program ...` command in the shell code blocks and inline code spans, continuations
    joined, comments dropped and command substitutions replaced by a placeholder word."""
    found = []
    spans = [" ".join(span.split()) for span in re.findall(rf"`({program} [^`]+)`", text)]
    for block in [*_shell_blocks(text), *spans]:
        for line in block.replace("\\\n", " ").splitlines():
            if not line.lstrip().startswith(program + " "):
                continue
            # The command ends at the first pipe or redirection (`| tee provenance.json`).
            lexer = shlex.shlex(re.sub(r"\$\([^)]*\)", "value", line), posix=True, punctuation_chars="|&;<>")
            lexer.whitespace_split = True
            words = list(itertools.takewhile(lambda word: not set(word) <= set("|&;<>"), lexer))
            found.append(shlex.join(words))
    return found


DOC_GCLOUD = sorted(set(_commands(_docs_text(), "gcloud")))
DOC_DOCKER = sorted(set(_commands(_docs_text(), "docker")))


def test_docs_show_gcloud_and_docker_commands() -> None:
    assert len(DOC_GCLOUD) >= 5
    assert len(DOC_DOCKER) >= 5


@pytest.mark.integration
@pytest.mark.parametrize("command", DOC_DOCKER)
def test_documented_docker_command_parses(command: str) -> None:
    assert docker_cli.refusal(command) is None


@pytest.mark.integration
def test_docker_check_refuses_what_docker_refuses() -> None:
    assert "unknown flag" in (docker_cli.refusal("docker run --rmm img:1") or "")
    assert "invalid reference format" in (docker_cli.refusal("docker pull Upper/Case:1") or "")
    assert docker_cli.refusal("docker tag a:1 localhost:5000/a:1") is None


@pytest.mark.integration
@pytest.mark.parametrize("command", DOC_GCLOUD)
def test_documented_gcloud_command_parses(command: str) -> None:
    assert refusal(command) is None


@pytest.mark.integration
def test_gcloud_check_refuses_what_gcloud_refuses() -> None:
    """The check can fail: a misspelled flag and an unknown command are refused by gcloud itself."""
    assert "unrecognized arguments" in (refusal("gcloud compute instances reset vm --zonee z") or "")
    assert "Invalid choice" in (refusal("gcloud compute instancez list") or "")
    assert refusal("gcloud auth configure-docker europe-docker.pkg.dev --bogus-flag") is not None


def _substitutions(command: str) -> tuple[str, list[str]]:
    """COMMAND with each `$(...)` (parentheses balanced) replaced by a placeholder word, and the
    commands that were inside."""
    outer, inner, depth, start = [], [], 0, 0
    i = 0
    while i < len(command):
        if command.startswith("$(", i) and depth == 0:
            depth, start, i = 1, i + 2, i + 2
            continue
        if depth:
            depth += {"(": 1, ")": -1}.get(command[i], 0)
            if depth == 0:
                inner.append(command[start:i])
                outer.append("value")
        else:
            outer.append(command[i])
        i += 1
    return "".join(outer), inner


def _printed(value: object, program: str) -> list[str]:
    """Every `program ...` command in the outputs, including the parts of a shell pipeline and the
    commands substituted into others (`--zone="$(gcloud ...)"`)."""
    if isinstance(value, str):
        outer, inner = _substitutions(value)
        parts = [part.strip() for text in (outer, *inner) for part in text.split(" | ")]
        return [part for part in parts if part.startswith(program + " ")]
    if isinstance(value, dict):
        return [c for v in value.values() for c in _printed(v, program)]
    if isinstance(value, list):
        return [c for v in value for c in _printed(v, program)]
    return []


def test_substituted_commands_are_checked_too() -> None:
    printed = _printed(['gcloud compute instances start vm --zone="$(gcloud compute instances list '
                        "--format='value(zone.basename())')\" --project=p"], "gcloud")
    assert printed == ['gcloud compute instances start vm --zone="value" --project=p',
                       "gcloud compute instances list --format='value(zone.basename())'"]


@pytest.mark.integration
@pytest.mark.parametrize("case", [*STACKS, *readme_examples()])
def test_gcloud_and_docker_commands_the_program_prints_parse(case: str) -> None:
    run = stack_run(case) if case in STACKS else example_run(case)
    refused = {c: refusal(c) for c in _printed(run.outputs, "gcloud")}
    refused |= {c: docker_cli.refusal(c) for c in _printed(run.outputs, "docker")}
    assert {c: r for c, r in refused.items() if r} == {}


def test_readme_path_to_gcp_is_complete_and_in_order() -> None:
    """What a newcomer does, in the order it must be done: the bootstrap's config, the CLIs, the
    credentials, the bootstrap, the pasted commands, the state backend for dev and prod, the push."""
    section = README.read_text().split("## Targeting GCP", 1)[1].split("\n## ", 1)[0]
    steps = ["bootstrap/Pulumi.ci.yaml", "placeholders", "`gh`", "gcloud auth application-default login",
             "make bootstrap", "stackInit", "PULUMI_BACKEND_URL=gs://", "STACK=dev make preview", "git push"]
    found = [section.find(step) for step in steps]
    assert -1 not in found, [s for s, i in zip(steps, found, strict=True) if i == -1]
    assert found == sorted(found)
