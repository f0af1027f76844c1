"""The sample image under mocks: one push per registry target, content-derived tag, secret
credentials, and dependencies on exactly the repository and the grants that allow the push."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from components.app_source import APP_DIR, content_tag
from tests.harness import StackRun, is_secret, run_stack, unwrap

NS = "image-sharing"
IMAGE = "docker:index/image:Image"
TAG = re.compile(r"^src-[0-9a-f]{12}$")
HUB_CONFIG = {f"{NS}:sampleImage": {"dockerHubUser": "alice1", "dockerHubRepository": "site"}}
HUB_SECRETS = {f"{NS}:dockerHubToken": "dckr-test-token"}


def test_gcp_stack_pushes_to_artifact_registry(dev: StackRun) -> None:
    image = dev.one(IMAGE)
    assert image.name == "sample-image-artifactRegistry"
    tag = content_tag()
    assert TAG.match(tag)
    assert image.inputs["imageName"] == f"asia-northeast3-docker.pkg.dev/image-sharing-dev/images/hello-nginx:{tag}"
    assert image.inputs["build"] == {"context": "app", "dockerfile": "app/Dockerfile", "platform": "linux/amd64",
                                     "args": {"SOURCE": "unknown", "REVISION": tag}}
    assert image.inputs.get("skipPush") is False


def test_artifact_registry_credentials_are_a_secret_short_lived_token(dev: StackRun) -> None:
    registry = dev.one(IMAGE).inputs["registry"]
    assert is_secret(registry)
    assert unwrap(registry) == {"server": "asia-northeast3-docker.pkg.dev", "username": "oauth2accesstoken",
                                "password": "mock-access-token"}


def test_image_waits_for_repository_and_push_grants_only() -> None:
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"writers": ["user:deployer@example.com"]}})
    assert run.deps_of(run.one(IMAGE)) == {
        "gcp:artifactregistry/repository:Repository:repository",
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember:repo-writer-user-deployer-example-com",
    }


def test_docker_hub_push_only_when_configured(dev: StackRun) -> None:
    assert [i.name for i in dev.of_type(IMAGE)] == ["sample-image-artifactRegistry"]
    run = run_stack("dev", overrides=HUB_CONFIG, secrets=HUB_SECRETS)
    hub = run.one(IMAGE, "sample-image-dockerHub")
    assert hub.inputs["imageName"] == f"docker.io/alice1/site:{content_tag()}"
    assert is_secret(hub.inputs["registry"])
    assert unwrap(hub.inputs["registry"]) == {"server": "docker.io", "username": "alice1",
                                              "password": "dckr-test-token"}
    assert run.deps_of(hub) == set()
    assert run.outputs["sampleImage"]["dockerHub"]["ref"] == f"docker.io/alice1/site:{content_tag()}"


def test_outputs_give_digest_and_pull_by_digest(dev: StackRun) -> None:
    out = dev.outputs["sampleImage"]
    assert out["tag"] == content_tag()
    digest = out["artifactRegistry"]["digest"]
    assert re.fullmatch(r"asia-northeast3-docker\.pkg\.dev/image-sharing-dev/images/hello-nginx@sha256:[0-9a-f]{64}",
                        digest)
    assert out["artifactRegistry"]["pull"] == f"docker pull {digest}"
    assert "sampleImage" not in dev.secret_outputs


def test_disabled_image_builds_nothing() -> None:
    run = run_stack("dev", overrides={f"{NS}:sampleImage": {"enabled": False}})
    assert run.of_type(IMAGE) == []
    assert "sampleImage" not in run.outputs


def test_source_label_follows_the_github_repository() -> None:
    run = run_stack("dev", overrides={f"{NS}:buildTrigger": {"githubRepository": "acme/site"}})
    assert run.one(IMAGE).inputs["build"]["args"]["SOURCE"] == "https://github.com/acme/site"


def test_tag_changes_with_content_and_only_with_content(tmp_path: Path) -> None:
    copy = tmp_path / "app"
    shutil.copytree(APP_DIR, copy)
    original = content_tag(copy)
    assert content_tag(copy) == original == content_tag(APP_DIR)
    (copy / "site" / "index.html").touch()  # a new mtime, same bytes
    assert content_tag(copy) == original
    with (copy / "site" / "style.css").open("a") as css:
        css.write("\nfooter { color: red; }\n")
    changed = content_tag(copy)
    assert changed != original and TAG.match(changed)
    (copy / "site" / "extra.txt").write_text("x")
    assert content_tag(copy) not in (original, changed)
    (copy / "site" / "extra.txt").rename(copy / "site" / "other.txt")
    assert content_tag(copy) not in (original, changed), "a renamed file changes the tag"
