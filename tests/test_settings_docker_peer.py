"""The reference grammar the settings use (docker-image-py) against Docker's own parser (the Docker
CLI, offline): what the settings accept, Docker accepts; what they refuse, Docker refuses, except one
rule kept stricter on purpose (the 255-character name counted with the registry host, as Distribution
2.8 and older clients count it; Docker 28 counts the path only)."""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest

from components import grammars
from tests.harness import run_stack
from tests.peers import binary

NS = "image-sharing"
STRICTER = "an image name of at most 255 characters, registry host included"

REFERENCES = [
    "registry:2.8.3", "registry", "library/registry:3.0.0", "mirror.example.com:5000/team/registry:2.8.3_fix-1",
    "localhost:5000/hello-nginx:src-0123abcd", "[::1]:5000/x:1", "registry@sha256:" + "a" * 64,
    "team/site__web.v2-x:1", "a-b---c/d:e", "Registry:2", "registry:2.8.3 ", "registry:-1", "registry:" + "9" * 128,
    "registry:" + "9" * 129, "registry@sha256:abc", "a__b/c", "a___b", "a..b", "-a", "a/", "a//b",
    "UPPER.example.com/x:1",
    "a" * 255, "a" * 256, "example.com/" + "a" * 243, "example.com/" + "a" * 244, "x:1:2", "x@sha256:" + "A" * 64,
]


def docker_refusal(reference: str) -> str | None:
    """What `docker pull` says about the reference before it looks for a daemon, or None."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "DOCKER_HOST": f"unix://{home}/no-daemon.sock", "DOCKER_CONFIG": home, "HOME": home}
        done = subprocess.run([binary("docker"), "pull", reference], env=env, capture_output=True, text=True,
                              timeout=60)
    said = done.stdout + done.stderr
    return said.strip() if "Cannot connect to the Docker daemon" not in said else None


@pytest.mark.integration
@pytest.mark.parametrize("reference", REFERENCES, ids=range(len(REFERENCES)))
def test_the_settings_and_docker_agree_on_references(reference: str) -> None:
    ours, docker = grammars.image_reference(reference), docker_refusal(reference)
    if ours is None:
        assert docker is None, f"accepted here, refused by Docker: {docker}"
    elif ours != STRICTER:
        assert docker is not None, f"refused here ({ours}), accepted by Docker"


@pytest.mark.integration
def test_the_stricter_rule_is_the_only_disagreement_and_it_is_exercised() -> None:
    reference = "example.com/" + "a" * 244
    assert grammars.image_reference(reference) == STRICTER and docker_refusal(reference) is None


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["dev", "local"])
def test_docker_accepts_every_image_the_program_derives(stack: str) -> None:
    # A long, many-level name: the full references are the ones at risk.
    name = "team/" + "a" * (160 if stack == "dev" else 200)
    run = run_stack(stack, overrides={f"{NS}:sampleImage": {"name": name}})
    derived = [r.inputs["imageName"] for r in run.of_type("docker:index/image:Image")]
    derived += [r.inputs["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")]
    assert derived
    assert {ref: docker_refusal(ref) for ref in derived} == {ref: None for ref in derived}
