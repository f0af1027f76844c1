"""The Cloud Build steps (build and promotion) as Cloud Build, the shell and gcloud will read them: every
`$` is either a known substitution or escaped, the scripts, once substituted, pass shellcheck and do
what they say when run against stand-ins for gcloud and gcrane, every gcloud command parses, and
gcloud's own loader accepts each build config. A promotion is run step by step, in Cloud Build's
order, against recorded provenance: a forged or malformed request copies nothing."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import build_spec as spec_module
from components import promotion
from components.build_spec import BUILT_INS, SEVERITIES, build_spec, gate_script
from components.grammars import pinned_image
from components.promotion import promotion_spec
from tests.data.provenance import make_fixtures as fx
from tests.gcloud_cli import refusal
from tests.gcloud_sdk import docker_images_list, load_build_config, sdk_python
from tests.peers import binary

SUBSTITUTION = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
SAMPLE = {"_IMAGE": "asia-northeast3-docker.pkg.dev/p/images/hello-nginx", "_SOURCE": "https://github.com/a/b",
          "_CACHE_IMAGE": "asia-northeast3-docker.pkg.dev/p/images-buildcache/hello-nginx",
          "SHORT_SHA": "0123abc", "COMMIT_SHA": "0123abc" + "0" * 33,
          "BUILD_ID": "5f1e2d3c-0000-4000-8000-000000000001",
          # A promotion run's two values: the recorded provenance's digest and commit.
          "_SOURCE_DIGEST": fx.DIGEST, "_SOURCE_COMMIT": fx.COMMIT}
BUILT_INTO = (SAMPLE["_IMAGE"], SAMPLE["_CACHE_IMAGE"], SAMPLE["_SOURCE"])
PROMOTED = (SAMPLE["_IMAGE"], fx.IMAGE, fx.REPOSITORY, fx.TRIGGER, fx.BRANCH)
# Every shape the program generates: build or promotion, with and without the vulnerability gate.
SPECS = {
    "build": lambda: build_spec(*BUILT_INTO, True),
    "build-gated": lambda: build_spec(*BUILT_INTO, False, "app", "HIGH", "asia-northeast3"),
    # The default: no registry cache (buildTrigger.registryCache off).
    "build-uncached": lambda: build_spec(SAMPLE["_IMAGE"], None, SAMPLE["_SOURCE"], False, "app", "HIGH", "us-east1"),
    "promotion": lambda: promotion_spec(*PROMOTED, None, "asia-northeast3"),
    "promotion-gated": lambda: promotion_spec(*PROMOTED, "CRITICAL", "europe-west1"),
}
SHELLS = {"bash": "bash", "sh": "sh", "/busybox/sh": "sh"}


def shell_steps(spec: Any) -> list[Any]:
    return [step for step in spec["steps"] if step.get("entrypoint") in SHELLS]


def substitutions_used(text: str) -> set[str]:
    unescaped = text.replace("$$", "")
    return {m.group(1) or m.group(2) for m in SUBSTITUTION.finditer(unescaped)}


def cloud_build_substitute(text: str, **values: str) -> str:
    """What the step receives: substitutions replaced, then `$$` turned into `$`."""
    parts = text.split("$$")
    for name, value in {**SAMPLE, **values}.items():
        parts = [p.replace(f"${{{name}}}", value).replace(f"${name}", value) for p in parts]
    return "$".join(parts)


def as_shell_reads(text: str, envs: list[str], **values: str) -> str:
    """The step's text after Cloud Build's substitution, with the step's environment (the literals the
    build carries: IMAGE, CACHE_IMAGE, SOURCE) expanded as the shell would."""
    text = cloud_build_substitute(text, **values)
    for name, value in (env.split("=", 1) for env in envs):
        text = text.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return text


LITERALS = {"IMAGE": SAMPLE["_IMAGE"], "CACHE_IMAGE": SAMPLE["_CACHE_IMAGE"], "SOURCE": SAMPLE["_SOURCE"]}
CACHE_ENV = [f"CACHE_IMAGE={SAMPLE['_CACHE_IMAGE']}"]


def test_a_run_cannot_redirect_the_build() -> None:
    """`gcloud builds triggers run --substitutions=_CACHE_IMAGE=...` may override any declared
    substitution: the build declares none, and its image, cache image and source are literals."""
    for kind in ("build", "build-gated"):
        spec = SPECS[kind]()
        assert "substitutions" not in spec
        used = set().union(*(substitutions_used(t) for step in spec["steps"]
                             for t in [*step["args"], *step.get("envs", [])]), *map(substitutions_used, spec["images"]))
        assert not {u for u in used if u.startswith("_")}, used
        for step in spec["steps"][:2]:
            envs = dict(e.split("=", 1) for e in step["envs"] if "=" in e)
            assert {k: v for k, v in envs.items() if k in LITERALS} == {
                k: v for k, v in LITERALS.items() if k == "CACHE_IMAGE" or step["id"] == "build"}
        assert spec["images"][0] == f"{SAMPLE['_IMAGE']}:${{SHORT_SHA}}-${{BUILD_ID}}"
        assert spec["images"][-1] == f"{SAMPLE['_CACHE_IMAGE']}:${{SHORT_SHA}}-${{BUILD_ID}}"


@pytest.mark.parametrize("kind", SPECS)
def test_every_substitution_is_declared_or_built_in(kind: str) -> None:
    spec = SPECS[kind]()
    declared = set(spec.get("substitutions", {}))
    per_run = set(promotion.PER_RUN) if kind.startswith("promotion") else set()
    texts = [arg for step in spec["steps"] for arg in [*step.get("args", []), *step.get("envs", [])]]
    used = set().union(*(substitutions_used(t) for t in [*texts, *spec.get("images", [])]))
    assert used <= declared | per_run | BUILT_INS, used - declared - per_run - BUILT_INS
    assert declared <= used, "a declared substitution nobody uses"


@pytest.mark.parametrize("kind", SPECS)
def test_verified_provenance_where_cloud_build_pushes_and_no_substitution_option(kind: str) -> None:
    # Triggered builds always substitute ALLOW_LOOSE: a MUST_MATCH here would only mislead a reader.
    verified = {"requested_verify_option": "VERIFIED"} if kind.startswith("build") else {}
    assert SPECS[kind]()["options"] == {"logging": "CLOUD_LOGGING_ONLY", **verified}


@pytest.mark.parametrize("kind", SPECS)
def test_shell_variables_are_escaped_for_cloud_build(kind: str) -> None:
    for step in shell_steps(SPECS[kind]()):
        assert substitutions_used(step["args"][1]) <= set(SAMPLE), step["args"][1]


def test_the_gate_runs_after_the_build_and_before_any_push() -> None:
    plain, gated = build_spec("I", "C", "S", False), build_spec("I", "C", "S", False, "app", "HIGH", "europe-west4")
    assert [s["id"] for s in plain["steps"]] == ["find-cache", "build"]
    gate = gated["steps"][-1]
    assert (gate["id"], gate["wait_fors"], gate["name"]) == ("vulnerability-gate", ["build"], spec_module.SCAN_IMAGE)
    # Cloud Build pushes `images` only once every step passed: a failed gate pushes nothing.
    assert gated["images"] == plain["images"]
    script = as_shell_reads(gate["args"][1], gate["envs"], _IMAGE="I")
    assert gate["envs"] == ["IMAGE=I"]
    script = as_shell_reads(gate["args"][1], [f"IMAGE={SAMPLE['_IMAGE']}"])
    assert f'scan "{SAMPLE["_IMAGE"]}:{SAMPLE["SHORT_SHA"]}-{SAMPLE["BUILD_ID"]}" --location=europe ' in script
    assert "--remote" not in script  # the image is only in the build's daemon


def test_promotion_checks_then_copies_and_never_builds() -> None:
    spec = promotion_spec(*PROMOTED, "CRITICAL", "asia-northeast3")
    ids = ["check-request", "show-provenance", "verify-provenance", "vulnerability-gate", "copy"]
    assert [s["id"] for s in spec["steps"]] == ids
    # A chain: each step waits for the one before, so the copy runs only once every check passed.
    assert [s.get("wait_fors") for s in spec["steps"]] == [None, *[[i] for i in ids[:-1]]]
    assert "images" not in spec and not [s for s in spec["steps"] if "docker" in s["name"]]
    assert "--remote" in spec["steps"][3]["args"][1] and "--location=asia" in spec["steps"][3]["args"][1]
    assert promotion_spec(*PROMOTED, None, "us-east1")["steps"][3]["wait_fors"] == ["verify-provenance"]
    copy = spec["steps"][-1]
    # gcrane authenticates with the build's service account (google.Keychain); crane would not.
    assert copy["name"].startswith("gcr.io/go-containerregistry/gcrane/debug:v")
    assert pinned_image(copy["name"]) is None and copy["entrypoint"] == "/busybox/sh"
    words = set(re.findall(r"\b\w*crane\b", copy["args"][1]))
    assert words == {"gcrane"}, words
    # The only step that writes to this stack's repository.
    assert [s["id"] for s in spec["steps"] if "gcrane cp" in s["args"][1]] == ["copy"]
    for step in spec["steps"]:
        assert pinned_image(step["name"]) is None, step["name"]


def test_what_the_promotion_expects_cannot_be_changed_by_a_run() -> None:
    """`gcloud builds triggers run --substitutions` may override any declared substitution: the
    expectations and the target are literals in the steps, and only the two per-run values vary."""
    spec = promotion_spec(*PROMOTED, "CRITICAL", "asia-northeast3")
    assert "substitutions" not in spec
    verify = next(s for s in spec["steps"] if s["id"] == "verify-provenance")
    assert verify["args"][2:] == ["verify", promotion.PROVENANCE_FILE, fx.IMAGE, "${_SOURCE_DIGEST}",
                                  "${_SOURCE_COMMIT}", fx.REPOSITORY, fx.TRIGGER, fx.BRANCH]
    used = set().union(*(substitutions_used(t) for step in spec["steps"]
                         for t in [*step["args"], *step.get("envs", [])]))
    assert used == {"_SOURCE_DIGEST", "_SOURCE_COMMIT", "BUILD_ID"}
    # Shell steps see the run's values only as environment variables, never as script text.
    for step in shell_steps(spec):
        assert not substitutions_used(step["args"][1]) & set(promotion.PER_RUN), step["id"]


def test_substituted_script_reads_as_the_shell_sees_it() -> None:
    step = build_spec(*BUILT_INTO, False)["steps"][1]
    script = as_shell_reads(step["args"][1], step["envs"])
    assert 'set -- --cache-from "$cache"' in script
    built = f'{SAMPLE["SHORT_SHA"]}-{SAMPLE["BUILD_ID"]}'
    assert f'-t "{SAMPLE["_IMAGE"]}:{built}" -t "{SAMPLE["_CACHE_IMAGE"]}:{built}" app' in script
    assert f'--build-arg "SOURCE={SAMPLE["_SOURCE"]}"' in script
    assert "latest" not in script


def test_a_retried_build_of_the_same_commit_pushes_new_tags() -> None:
    """Immutable repositories refuse a second push of a tag: a retry (same commit, new BUILD_ID) must
    not reuse any tag the first build pushed."""
    images = build_spec("IMAGE", "CACHE", "SOURCE", False)["images"]
    first = {cloud_build_substitute(i, BUILD_ID="build-1") for i in images}
    retry = {cloud_build_substitute(i, BUILD_ID="build-2") for i in images}
    assert first and not first & retry, (first, retry)
    assert all(SAMPLE["SHORT_SHA"] in tag for tag in first), "the commit stays readable in the tag"


def test_images_carry_inline_cache_metadata_built_by_buildkit() -> None:
    step = build_spec("IMAGE", "CACHE", "SOURCE", False)["steps"][1]
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
@pytest.mark.parametrize("kind", SPECS)
def test_gcloud_build_config_loader_accepts_the_build(tmp_path: Path, kind: str) -> None:
    spec = SPECS[kind]()
    path = tmp_path / "cloudbuild.yaml"
    path.write_text(yaml.safe_dump(as_cloudbuild_yaml(spec)))
    build = load_build_config(path)
    assert [s["id"] for s in build["steps"]] == [s["id"] for s in spec["steps"]]
    assert [s.get("waitFor") for s in build["steps"]] == [s.get("wait_fors") for s in spec["steps"]]
    if kind.startswith("build"):
        assert build["options"] == {"logging": "CLOUD_LOGGING_ONLY", "requestedVerifyOption": "VERIFIED"}
        cached = kind != "build-uncached"
        assert build["steps"][int(cached)]["env"] == ["DOCKER_BUILDKIT=1", *(
            f"{k}={v}" for k, v in LITERALS.items() if cached or k != "CACHE_IMAGE")]
        assert build["images"][0] == f"{SAMPLE['_IMAGE']}:${{SHORT_SHA}}-${{BUILD_ID}}"
    else:
        assert build["options"] == {"logging": "CLOUD_LOGGING_ONLY"} and "images" not in build


@pytest.mark.integration
def test_the_loader_check_can_fail(tmp_path: Path) -> None:
    spec = as_cloudbuild_yaml(build_spec("I", "C", "S", False))
    spec["options"]["requested_verify_option"] = "VERIFY"
    path = tmp_path / "cloudbuild.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(AssertionError, match=r"options\.requestedVerifyOption: unused"):
        load_build_config(path)


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
@pytest.mark.parametrize("kind", SPECS)
def test_gcloud_parses_every_gcloud_command_of_the_steps(kind: str) -> None:
    spec = SPECS[kind]()
    scripts = [cloud_build_substitute(step["args"][1]) for step in shell_steps(spec)]
    # What earlier steps leave in the workspace (a scan's full name, `response.scan`) and the environment.
    for text, content in {"$(cat /workspace/scan)": "projects/p/locations/asia/scans/0e1f2a",
                          '"$SOURCE_REF"': f"{fx.IMAGE}@{fx.DIGEST}"}.items():
        scripts = [script.replace(text, content) for script in scripts]
    commands = [c for script in scripts for c in gcloud_commands_in(script)]
    assert len(commands) == sum(script.count("gcloud ") for script in scripts) > 0
    for command in commands:
        assert refusal(shlex.join(command)) is None, command


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


# Newest first: Cloud Build's provenance for the image (an untagged version), an image a writer or
# `pulumi up` pushed, then the pipeline's own image (with `latest` too, where tags are mutable).
BUILT = "0123abc-5f1e2d3c-0000-4000-8000-000000000001"
ATTACHMENT_FIRST = [{"digest": "sha256:" + "cd" * 32, "time": "2026-01-03T00:00:00Z", "tags": []},
                    {"digest": "sha256:" + "ef" * 32, "time": "2026-01-02T00:00:00Z", "tags": ["src-0123456789ab"]},
                    {"digest": "sha256:" + "ab" * 32, "time": "2026-01-01T00:00:00Z", "tags": ["latest", BUILT]}]


@pytest.mark.integration
def test_find_cache_takes_the_newest_image_the_pipeline_built() -> None:
    """Run through gcloud's own listing code: with the filter it lists every version (no server-side
    limit), with tags, and keeps the newest one with the pipeline's tag."""
    command = shlex.split(as_shell_reads(spec_module.FIND_CACHE_COMMAND, CACHE_ENV))
    listed = docker_images_list(command, ATTACHMENT_FIRST)
    # From the cache repository, only the builder's.
    assert listed["printed"] == f"{SAMPLE['_CACHE_IMAGE']}@sha256:{'ab' * 32}"
    assert listed["asked"] == {"order_by": "update_time desc", "limit": None, "view": "FULL"}
    # The filter this replaced (`tags:*`) took the image someone else pushed.
    old = [a if not a.startswith("--filter=") else "--filter=tags:*" for a in command]
    assert docker_images_list(old, ATTACHMENT_FIRST)["printed"] == f"{SAMPLE['_CACHE_IMAGE']}@sha256:{'ef' * 32}"


@pytest.mark.integration
@pytest.mark.parametrize("kind", SPECS)
def test_step_scripts_pass_shellcheck(tmp_path: Path, kind: str) -> None:
    for step in shell_steps(SPECS[kind]()):
        shell = SHELLS[step["entrypoint"]]
        path = tmp_path / f"{step['id']}.sh"
        path.write_text(f"#!/bin/{shell}\n" + cloud_build_substitute(step["args"][1]))
        result = subprocess.run([binary("shellcheck"), "--severity=style", str(path)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout


def run_step(tmp_path: Path, script: str, shell: str, stand_ins: dict[str, str], envs: list[str] | None = None,
             **values: str) -> subprocess.CompletedProcess[str]:
    """Runs a substituted step script with its /workspace in tmp_path, its `envs` (substituted) and
    stand-ins for the tools it calls (small sh scripts that record their arguments)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in stand_ins.items():
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> {tmp_path}/calls\n{body}\n')
        tool.chmod(0o755)
    text = cloud_build_substitute(script, **values).replace("/workspace/", f"{tmp_path}/")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    env |= dict(cloud_build_substitute(e, **values).split("=", 1) for e in envs or [])
    return subprocess.run([shell, "-c", text], capture_output=True, text=True, env=env, check=False, timeout=30)


# A stand-in for gcloud's On-Demand Scanning commands, answering with the findings in $FINDINGS.
FAKE_SCANNER = """case "$*" in
  *"images scan"*) echo projects/p/locations/asia/scans/42 ;;
  *"value(vulnerability.effectiveSeverity)"*) printf '%s\\n' $FINDINGS ;;
  *list-vulnerabilities*) echo "SEVERITY  (the findings table)" ;;
esac"""


@pytest.mark.parametrize(("fail_on", "findings", "passes"), [
    ("CRITICAL", "LOW HIGH", True),
    ("CRITICAL", "LOW CRITICAL", False),
    ("HIGH", "MEDIUM HIGH", False),
    ("HIGH", "", True),
    ("MEDIUM", "LOW MINIMAL", True),
    ("LOW", "LOW", False),
])
def test_the_gate_fails_at_or_above_its_severity(tmp_path: Path, fail_on: str, findings: str, passes: bool) -> None:
    script = gate_script('"${_IMAGE}:x"', fail_on, "asia", remote=False)
    done = run_step(tmp_path, script, "bash", {"gcloud": f"FINDINGS='{findings}'\n{FAKE_SCANNER}"})
    assert (done.returncode == 0) is passes, done.stderr
    assert "the findings table" in done.stdout  # the findings are in the build log either way
    calls = (tmp_path / "calls").read_text()
    assert "list-vulnerabilities projects/p/locations/asia/scans/42" in calls
    if not passes:
        assert f"at or above {fail_on}" in done.stderr


def run_promotion(tmp_path: Path, provenance: Path | None, gcrane_digest: str = fx.DIGEST,
                  **values: str) -> list[str]:
    """Runs the promotion's steps in Cloud Build's order, stopping at the first failure as Cloud Build
    does; gcloud's stand-in prints PROVENANCE (the describe command's output), gcrane's copies nothing
    and reports GCRANE_DIGEST. Returns the ids of the steps that passed."""
    spec = promotion_spec(*PROMOTED, None, "asia-northeast3")
    answer = f"cat {provenance}" if provenance else "echo 'NOT_FOUND: no such image' >&2; exit 1"
    stand_ins = {"gcloud": answer, "gcrane": f'[ "$1" = digest ] && echo {gcrane_digest}; true'}
    passed = []
    for step in spec["steps"]:
        if step["entrypoint"] == "python3":
            args = [cloud_build_substitute(a, **values).replace("/workspace/", f"{tmp_path}/")
                    for a in step["args"][2:]]
            done = subprocess.run([sys.executable, "-c", step["args"][1], *args], capture_output=True, text=True,
                                  check=False, timeout=30)
        else:
            done = run_step(tmp_path, step["args"][1], SHELLS[step["entrypoint"]], stand_ins,
                            step.get("envs"), **values)
        (tmp_path / f"{step['id']}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            break
        passed.append(step["id"])
    return passed


def gcrane_calls(tmp_path: Path) -> list[str]:
    calls = tmp_path / "calls"
    return [c for c in calls.read_text().splitlines() if c.startswith("gcrane")] if calls.exists() else []


def test_a_verified_digest_is_copied_by_digest(tmp_path: Path) -> None:
    passed = run_promotion(tmp_path, fx.HERE / "good.json")
    assert passed == ["check-request", "show-provenance", "verify-provenance", "copy"]
    calls = (tmp_path / "calls").read_text()
    assert f"gcloud artifacts docker images describe {fx.IMAGE}@{fx.DIGEST} --show-provenance" in calls
    # Tagged with the promoted commit (not this build's source) and this build.
    target = f"{SAMPLE['_IMAGE']}:{fx.COMMIT[:7]}-{SAMPLE['BUILD_ID']}"
    assert f"gcrane cp {fx.IMAGE}@{fx.DIGEST} {target}" in calls
    log = (tmp_path / "copy.log").read_text()
    assert f"source digest: {fx.DIGEST}" in log and f"target digest: {fx.DIGEST}" in log


@pytest.mark.parametrize("name", sorted(fx.forged()))
def test_nothing_is_copied_on_forged_provenance(tmp_path: Path, name: str) -> None:
    passed = run_promotion(tmp_path, fx.HERE / f"forged-{name}.json")
    assert passed == ["check-request", "show-provenance"]
    assert gcrane_calls(tmp_path) == []
    assert "Nothing is copied" in (tmp_path / "verify-provenance.log").read_text()


@pytest.mark.parametrize(("digest", "commit"), [
    ("", ""),                                             # run without --substitutions
    (f"{fx.DIGEST}$(touch /tmp/owned)", fx.COMMIT),
    ("latest", fx.COMMIT),
    (fx.DIGEST, fx.COMMIT[:7]),
])
def test_a_malformed_request_stops_before_anything_reads_it(tmp_path: Path, digest: str, commit: str) -> None:
    passed = run_promotion(tmp_path, fx.HERE / "good.json", _SOURCE_DIGEST=digest, _SOURCE_COMMIT=commit)
    assert passed == [] and not (tmp_path / "calls").exists()
    assert "REFUSED: _SOURCE_" in (tmp_path / "check-request.log").read_text()


def test_a_digest_without_provenance_or_image_copies_nothing(tmp_path: Path) -> None:
    assert run_promotion(tmp_path, None) == ["check-request"]
    assert gcrane_calls(tmp_path) == []


def test_copy_fails_when_the_digest_did_not_arrive_unchanged(tmp_path: Path) -> None:
    passed = run_promotion(tmp_path, fx.HERE / "good.json", gcrane_digest="sha256:" + "00" * 32)
    assert passed == ["check-request", "show-provenance", "verify-provenance"]


SEVERITY_ENUM = """
from googlecloudsdk.generated_clients.apis.ondemandscanning.v1 import ondemandscanning_v1_messages as m
enum = m.VulnerabilityOccurrence.EffectiveSeverityValueValuesEnum
result = [v.name for v in sorted(enum, key=lambda v: v.number) if v.name != "SEVERITY_UNSPECIFIED"]
"""

FIELD_PATHS = """
from googlecloudsdk.generated_clients.apis.ondemandscanning.v1 import ondemandscanning_v1_messages as m
def resolve(cls, path):
    for name in path.split("."):
        field = cls.field_by_name(name.split("[")[0])
        cls = getattr(field, "message_type", None)
    return True
result = {}
for path in payload:
    try:
        result[path] = resolve(m.Occurrence, path)
    except KeyError as missing:
        result[path] = str(missing)
"""


@pytest.mark.integration
def test_severities_are_artifact_analysis_own_in_its_order() -> None:
    assert tuple(sdk_python(SEVERITY_ENUM, None)) == SEVERITIES


@pytest.mark.integration
def test_every_field_the_gate_prints_exists_in_the_findings() -> None:
    script = gate_script('"${_IMAGE}:x"', "HIGH", "asia", remote=False)
    formats = re.findall(r"--format='(?:table|value)\((.*?)\)'\n", script)
    paths = [p for f in formats for p in f.split(",") if p.startswith(("vulnerability", "noteName"))]
    assert len(paths) >= 5
    resolved = sdk_python(FIELD_PATHS, [*paths, "vulnerability.severityy"])
    assert resolved.pop("vulnerability.severityy") is not True  # the check can fail
    assert resolved == dict.fromkeys(paths, True)


FILTER = """
from googlecloudsdk.core.resource import resource_filter
expression = resource_filter.Compile(payload["filter"])
result = [expression.Evaluate({"tags": tags}) for tags in payload["cases"]]
"""


@pytest.mark.integration
def test_the_cache_lookup_considers_only_the_pipelines_own_tags() -> None:
    """Through gcloud's own filter code: the tags the build pushes (spec_module.BUILD_TAG) match; the
    stack's `src-` tags, `latest` alone, and look-alikes do not."""
    command = shlex.split(as_shell_reads(spec_module.FIND_CACHE_COMMAND, CACHE_ENV))
    expression = next(a.split("=", 1)[1] for a in command if a.startswith("--filter="))
    built = cloud_build_substitute(spec_module.BUILD_TAG)
    cases = [[built], ["latest", built], ["src-0123456789ab"], ["latest"], [f"x{built}"], [f"{built}x"],
             [SAMPLE["SHORT_SHA"]], []]
    assert sdk_python(FILTER, {"filter": expression, "cases": cases}) == [
        True, True, False, False, False, False, False, False]
