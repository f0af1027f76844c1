"""The local stack under mocks: registry:2 as a container on the user's Docker, loopback only, data in
a volume, the same generated config and htpasswd, and the sample image pushed to it."""

from __future__ import annotations

import re

import yaml

from components.app_source import sample_site_build
from tests.harness import StackRun, is_secret, run_stack, unwrap

CONTAINER = "docker:index/container:Container"


def test_only_docker_and_random_resources(local: StackRun) -> None:
    assert sorted(r.type for r in local.custom) == sorted([
        "docker:index/remoteImage:RemoteImage", "docker:index/volume:Volume", CONTAINER,
        "docker:index/image:Image", "random:index/randomPassword:RandomPassword",
        "random:index/randomPassword:RandomPassword"])


def test_container_restarts_always_and_listens_on_loopback_only(local: StackRun) -> None:
    container = local.one(CONTAINER, "registry").inputs
    assert container["name"] == "registry" and container["restart"] == "always"
    assert container["ports"] == [{"internal": 5000, "external": 5000, "ip": "127.0.0.1"}]
    assert container["image"] == "sha256:" + "1" * 64  # the pinned RemoteImage's id
    assert local.one("docker:index/remoteImage:RemoteImage").inputs["name"] == "registry:2.8.3"
    assert container["wait"] is True
    assert container["healthcheck"]["tests"][-1] == "http://127.0.0.1:5001/debug/health"


def test_data_in_a_named_volume(local: StackRun) -> None:
    container = local.one(CONTAINER, "registry").inputs
    assert container["volumes"] == [{"volumeName": "registry-data", "containerPath": "/var/lib/registry"}]
    assert local.one("docker:index/volume:Volume").inputs["name"] == "registry-data"


def test_uploads_are_the_generated_config_and_htpasswd_as_secrets(local: StackRun) -> None:
    uploads = local.one(CONTAINER, "registry").inputs["uploads"]
    assert is_secret(uploads)
    files = {u["file"]: u["content"] for u in unwrap(uploads)}
    assert set(files) == {"/etc/docker/registry/config.yml", "/auth/htpasswd"}
    config = yaml.safe_load(files["/etc/docker/registry/config.yml"])
    assert config["http"]["secret"] == "mock-password-registry-http-secret"
    assert config["storage"]["filesystem"] == {"rootdirectory": "/var/lib/registry"}
    assert files["/auth/htpasswd"] == "registry:$2a$10$" + "m" * 53 + "\n"


def test_sample_image_is_pushed_to_the_local_registry(local: StackRun) -> None:
    image = local.one("docker:index/image:Image")
    assert image.inputs["imageName"] == f"localhost:5000/hello-nginx:{sample_site_build('unknown').tag}"
    assert unwrap(image.inputs["registry"]) == {"server": "localhost:5000", "username": "registry",
                                                "password": "mock-password-registry-password"}
    assert is_secret(image.inputs["registry"])
    assert f"{CONTAINER}:registry" in local.deps_of(image)


def test_outputs_are_the_walkthrough_commands(local: StackRun) -> None:
    out = local.outputs["selfHostedRegistry"]
    tag = "manual-" + sample_site_build("unknown").tag.removeprefix("src-")  # not the tag the stack pushes
    assert out["commands"] == {
        "login": "pulumi stack output registryPassword --show-secrets | "
                 "docker login localhost:5000 -u registry --password-stdin",
        "build": f"docker build --platform linux/amd64 -t hello-nginx:{tag} app",
        "tag": f"docker tag hello-nginx:{tag} localhost:5000/hello-nginx:{tag}",
        "push": f"docker push localhost:5000/hello-nginx:{tag}",
        "rm": f"docker image rm hello-nginx:{tag} localhost:5000/hello-nginx:{tag}",
        "pull": f"docker pull localhost:5000/hello-nginx:{tag}",
    }
    assert local.outputs["registryPassword"] == "mock-password-registry-password"
    assert "registryPassword" in local.secret_outputs


def test_another_port() -> None:
    run = run_stack("local", overrides={"image-sharing:registry": {"port": 5050}})
    assert run.one(CONTAINER).inputs["ports"] == [{"internal": 5050, "external": 5050, "ip": "127.0.0.1"}]
    assert run.outputs["selfHostedRegistry"]["address"] == "localhost:5050"


def strings_in(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


def test_port_5050_for_macos_reaches_every_output_and_the_push() -> None:
    """macOS's AirPlay Receiver holds port 5000: with registry.port 5050 every printed command, the
    registry's own listen address and the sample image's push use 5050, and nothing says 5000."""
    run = run_stack("local", overrides={"image-sharing:registry": {"port": 5050}})
    printed = strings_in(run.outputs)
    assert not [s for s in printed if "5000" in s]
    addresses = {m for s in printed for m in re.findall(r"localhost:\d+", s)}
    assert addresses == {"localhost:5050"}
    assert len([s for s in printed if "localhost:5050" in s]) >= 6  # address, tag, push, rm, pull, login, ref
    image = run.one("docker:index/image:Image")
    assert image.inputs["imageName"].startswith("localhost:5050/hello-nginx:")
    assert unwrap(image.inputs["registry"])["server"] == "localhost:5050"
    uploads = {u["file"]: u["content"] for u in unwrap(run.one(CONTAINER).inputs["uploads"])}
    assert yaml.safe_load(uploads["/etc/docker/registry/config.yml"])["http"]["addr"] == ":5050"
