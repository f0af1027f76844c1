"""Promotion of a chosen, verified digest: instead of rebuilding, a stack's trigger copies one image
another stack (dev) built, byte for byte, into its own repository.

The digest is chosen before anyone approves: the trigger is a manual one, run with
`--substitutions=_SOURCE_DIGEST=sha256:...,_SOURCE_COMMIT=...` (the digest and commit of one of dev's
builds, which Cloud Build records in that build's results), so the build waiting for approval carries
exactly what will be promoted. Once approved, nothing is looked up by recency: the build checks the
two values' form, reads the digest's provenance and refuses it unless Cloud Build built it from that
commit of the expected GitHub repository on the expected branch, started by dev's trigger in dev's
project with no run-time user substitution
(components/provenance_check.py); then scans it and copies it. Any failure stops the build before the
copy, the only step that writes here. Pure build data and output wording; the trigger is `BuildTrigger`'s.

Why a copy and not a rebuild: what dev tested and scanned is exactly what prod serves (same digest),
and its provenance (signed by Cloud Build when dev built it) describes those bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.build_spec import GCLOUD_IMAGE, LOGGING_OPTIONS, SCAN_IMAGE, gate_script, scan_location

# gcrane, not crane: crane reads only ~/.docker/config.json (pkg/crane DefaultKeychain), which a build
# step does not have; gcrane.Keychain puts google.Keychain (the metadata server's token for the build's
# service account, for *.pkg.dev) before it. The debug variant has a shell (busybox). Pinned to the
# release tag only: no published digest of this image was found to pin (the release build publishes
# gcrane/debug:$TAG_NAME, go-containerregistry's cloudbuild.yaml).
GCRANE_IMAGE = "gcr.io/go-containerregistry/gcrane/debug:v0.21.9"
# Standard library only: the checker needs nothing installed.
PYTHON_IMAGE = "python:3.12.8-slim-bookworm"
CHECKER = (Path(__file__).parent / "provenance_check.py").read_text()
PROVENANCE_FILE = "/workspace/provenance.json"
# The only substitutions the promotion reads, given per run (`gcloud builds triggers run ...
# --substitutions=`). Never declared with a default: a run without them gets empty strings (triggered
# builds are ALLOW_LOOSE) and check-request refuses it. Everything else (what to expect, where to copy)
# is written into the steps as literals, because a run may override any declared substitution.
PER_RUN = ("_SOURCE_DIGEST", "_SOURCE_COMMIT")
PROMOTION_TIMEOUT_SECONDS = 1800

# The values reach the shell steps as environment variables, never as script text, and only after
# check-request has accepted their form.
SHOW_PROVENANCE_SCRIPT = (
    "set -euo pipefail\n"
    'gcloud artifacts docker images describe "$$SOURCE_REF" --show-provenance --format=json '
    f"> {PROVENANCE_FILE}\n"
)
# Copies manifest and blobs unchanged, then proves the digest arrived unchanged. The tag names the
# promoted commit (not this build's source) and this build.
COPY_SCRIPT = (
    "set -eu\n"
    'short="$$(echo "$$SOURCE_COMMIT" | cut -c1-7)"\n'
    'target="$$IMAGE:$$short-$$BUILD"\n'
    'gcrane cp "$$SOURCE_REF" "$$target"\n'
    'copied="$$(gcrane digest "$$target")"\n'
    'echo "source digest: $$SOURCE_DIGEST ($$SOURCE_REF)"\n'
    'echo "target digest: $$copied ($$target)"\n'
    '[ "$$copied" = "$$SOURCE_DIGEST" ]\n'
)


def promotion_spec(image: pulumi.Input[str], source_image: str, source_repository_url: str, source_trigger: str,
                   source_branch: str, fail_on_severity: str | None,
                   region: str) -> gcp.cloudbuild.TriggerBuildArgsDict:
    """SOURCE_REPOSITORY_URL: https://github.com/OWNER/REPO, the source the digest must be built from;
    SOURCE_TRIGGER: the name of dev's trigger (in SOURCE_IMAGE's project); SOURCE_BRANCH: the branch
    name dev's trigger builds on push (a hand run of that trigger on another branch is refused)."""
    env: list[pulumi.Input[str]] = [f"SOURCE_REF={source_image}@${{_SOURCE_DIGEST}}",
                                    "SOURCE_DIGEST=${_SOURCE_DIGEST}", "SOURCE_COMMIT=${_SOURCE_COMMIT}"]
    steps: list[gcp.cloudbuild.TriggerBuildStepArgsDict] = [
        {"id": "check-request", "name": PYTHON_IMAGE, "entrypoint": "python3",
         "args": ["-c", CHECKER, "request", "${_SOURCE_DIGEST}", "${_SOURCE_COMMIT}"]},
        {"id": "show-provenance", "name": GCLOUD_IMAGE, "entrypoint": "bash",
         "args": ["-c", SHOW_PROVENANCE_SCRIPT], "envs": env, "wait_fors": ["check-request"]},
        {"id": "verify-provenance", "name": PYTHON_IMAGE, "entrypoint": "python3",
         "args": ["-c", CHECKER, "verify", PROVENANCE_FILE, source_image, "${_SOURCE_DIGEST}",
                  "${_SOURCE_COMMIT}", source_repository_url, source_trigger, source_branch],
         "wait_fors": ["show-provenance"]},
    ]
    before_copy = "verify-provenance"
    if fail_on_severity is not None:
        # Scanned where it lies (--remote): this stack's threshold applies even if the source had none.
        script = gate_script('"$$SOURCE_REF"', fail_on_severity, scan_location(region), remote=True)
        steps.append({"id": "vulnerability-gate", "name": SCAN_IMAGE, "entrypoint": "bash", "args": ["-c", script],
                      "envs": env, "wait_fors": [before_copy]})
        before_copy = "vulnerability-gate"
    steps.append({"id": "copy", "name": GCRANE_IMAGE, "entrypoint": "/busybox/sh", "args": ["-c", COPY_SCRIPT],
                  "envs": [*env, _literal("IMAGE=", image), "BUILD=$BUILD_ID"],
                  "wait_fors": [before_copy]})
    return {
        "steps": steps,
        # Nothing here is pushed by Cloud Build itself (gcrane copies), so there is no provenance to request:
        # the copied digest's provenance is the source build's.
        "options": LOGGING_OPTIONS,
        "timeout": f"{PROMOTION_TIMEOUT_SECONDS}s",
    }


def _literal(prefix: str, value: pulumi.Input[str]) -> pulumi.Input[str]:
    """A plain string stays plain (build data tests read it as is); an Output is concatenated."""
    return prefix + value if isinstance(value, str) else pulumi.Output.concat(prefix, value)


def run_command(trigger: str, location: str, project: str) -> str:
    """What a person runs to ask for one promotion; DIGEST and COMMIT come from dev's build
    (`builtImages` on dev's stack, or the build's page)."""
    return (f"gcloud builds triggers run {trigger} --region={location} --project={project} "
            "--substitutions=_SOURCE_DIGEST=sha256:DIGEST,_SOURCE_COMMIT=COMMIT")


def digests_command(image: str) -> str:
    """Digests with their `COMMIT-BUILD` tags, newest first: run it on both repositories."""
    return (f"gcloud artifacts docker images list {image} --include-tags --sort-by=~update_time --limit=5 "
            "--format='table(version,tags.list(),update_time)'")


def promotion_outputs(source_image: str, image: pulumi.Output[str], run: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "sourceImage": source_image,
        "image": image,
        "run": run,
        "sourceDigests": digests_command(source_image),
        "promotedDigests": image.apply(digests_command),
    }
