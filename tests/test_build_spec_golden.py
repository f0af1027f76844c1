"""Golden renders of the Cloud Build specs (components/build_spec.py, components/promotion.py): dev's build
uncached and cached, with and without the vulnerability gate, and the promotion with and without it, word
for word. The steps' scripts and flags reach gcloud, docker and gcrane only in a real build; the integration
tests lint and run them, and here any change to a string fails at once and is made on purpose.

After an intended change: `.venv/bin/python -m tests.test_build_spec_golden --write`, then read the diff."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import build_spec as bs
from components import promotion
from components.build_spec import build_spec
from components.promotion import promotion_spec

GOLDEN = Path(__file__).parent / "data" / "build_specs"
IMAGE = "us-central1-docker.pkg.dev/image-sharing-dev/images/nginx"
CACHE = "us-central1-docker.pkg.dev/image-sharing-dev/build-cache/nginx"
SOURCE = "https://github.com/example/image-sharing"
PROD_IMAGE = "europe-west1-docker.pkg.dev/image-sharing-prod/images/nginx"
CHECKER = "<components/provenance_check.py>"  # its text is pinned by tests/test_provenance_check.py

CASES: dict[str, Any] = {
    "dev-uncached": lambda: build_spec(IMAGE, None, SOURCE, mutable_tags=False),
    "dev-uncached-latest-gate": lambda: build_spec(IMAGE, None, SOURCE, mutable_tags=True, app_dir="web",
                                                   fail_on_severity="HIGH", region="europe-west4"),
    "dev-cached": lambda: build_spec(IMAGE, CACHE, SOURCE, mutable_tags=False),
    "dev-cached-latest-gate": lambda: build_spec(IMAGE, CACHE, SOURCE, mutable_tags=True,
                                                 fail_on_severity="CRITICAL", region="asia-east1"),
    "promotion": lambda: promotion_spec(PROD_IMAGE, IMAGE, SOURCE, "nginx-dev", "main", None, "europe-west1"),
    "promotion-gate": lambda: promotion_spec(PROD_IMAGE, IMAGE, SOURCE, "nginx-dev", "release", "MEDIUM",
                                             "australia-southeast1"),
}


class _Dumper(yaml.SafeDumper):
    """Scripts as literal blocks, so that a golden file reads like the script it pins."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def render(spec: Any) -> str:
    """The spec as YAML, the checker's text replaced by a marker (it is a whole file, pinned elsewhere)."""
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return CHECKER if value == promotion.CHECKER else value
    return yaml.dump(scrub(spec), Dumper=_Dumper, sort_keys=False, width=10_000, default_flow_style=False)


@pytest.mark.parametrize("name", list(CASES))
def test_build_spec_in_full(name: str) -> None:
    assert render(CASES[name]()) == (GOLDEN / f"{name}.yaml").read_text()


def test_the_golden_files_are_all_used() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.yaml")) == sorted(CASES)


@pytest.mark.parametrize(("region", "location"), [
    ("us-central1", "us"), ("northamerica-northeast1", "us"), ("southamerica-east1", "us"), ("me-west1", "us"),
    ("europe-west1", "europe"), ("europe-north2", "europe"), ("asia-east1", "asia"), ("asia-south2", "asia"),
    ("australia-southeast1", "asia"), ("africa-south1", "us")])
def test_scan_location_is_the_nearest_of_three(region: str, location: str) -> None:
    assert bs.scan_location(region) == location


@pytest.mark.parametrize(("fail_on", "blocking"), [
    ("MINIMAL", "MINIMAL|LOW|MEDIUM|HIGH|CRITICAL"), ("LOW", "LOW|MEDIUM|HIGH|CRITICAL"),
    ("HIGH", "HIGH|CRITICAL"), ("CRITICAL", "CRITICAL")])
def test_gate_blocks_its_severity_and_above(fail_on: str, blocking: str) -> None:
    assert f"grep -Exq '{blocking}' /workspace/scan.severities" in bs.gate_script('"$$X"', fail_on, "us", False)


def test_build_script_reads_the_cache_unless_told_not_to() -> None:
    tags = bs.image_tags(False)
    assert bs.build_script("app", tags) == bs.build_script("app", tags, cache=True)
    assert "--cache-from" in bs.build_script("app", tags) and "--cache-from" not in bs.build_script("app", tags, False)


def test_image_tags() -> None:
    assert bs.image_tags(False) == ["${SHORT_SHA}-${BUILD_ID}"]
    assert bs.image_tags(True) == ["${SHORT_SHA}-${BUILD_ID}", "latest"]


def test_promotion_commands() -> None:
    assert promotion.run_command("nginx-promote", "europe-west1", "image-sharing-prod") == (
        "gcloud builds triggers run nginx-promote --region=europe-west1 --project=image-sharing-prod "
        "--substitutions=_SOURCE_DIGEST=sha256:DIGEST,_SOURCE_COMMIT=COMMIT")
    assert promotion.digests_command(IMAGE) == (
        f"gcloud artifacts docker images list {IMAGE} --include-tags --sort-by=~update_time --limit=5 "
        "--format='table(version,tags.list(),update_time)'")


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_outputs_are_concatenated_where_the_image_is_not_known_yet() -> pulumi.Output[Any]:
    image, cache, prod = (pulumi.Output.from_input(value) for value in (IMAGE, CACHE, PROD_IMAGE))
    spec: Any = build_spec(image, cache, SOURCE, mutable_tags=True)
    plain: Any = build_spec(IMAGE, CACHE, SOURCE, mutable_tags=True)
    promoted: Any = promotion_spec(prod, IMAGE, SOURCE, "nginx-dev", "main", None, "us-central1")
    plain_promoted: Any = promotion_spec(PROD_IMAGE, IMAGE, SOURCE, "nginx-dev", "main", None, "us-central1")
    outputs = promotion.promotion_outputs(IMAGE, prod, "run it")
    values = [spec["images"], [step.get("envs", []) for step in spec["steps"]], promoted["steps"][-1]["envs"],
              outputs["promotedDigests"]]

    def check(actual: list[Any]) -> None:
        images, envs, copy_envs, digests = actual
        assert images == plain["images"]
        assert envs == [step.get("envs", []) for step in plain["steps"]]
        assert copy_envs == plain_promoted["steps"][-1]["envs"]
        assert digests == promotion.digests_command(PROD_IMAGE)
        assert {key: value for key, value in outputs.items() if key not in ("promotedDigests", "image")} == {
            "sourceImage": IMAGE, "run": "run it", "sourceDigests": promotion.digests_command(IMAGE)}
    return pulumi.Output.from_input(values).apply(check)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for stale in GOLDEN.glob("*.yaml"):
        stale.unlink()
    for case, make in CASES.items():
        (GOLDEN / f"{case}.yaml").write_text(render(make()))
