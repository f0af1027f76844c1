"""Promotion by digest: instead of rebuilding, a stack's trigger copies the image another stack (dev)
built from the same commit, byte for byte, into its own repository, behind the approval the trigger
already requires. Pure build data and output wording; the trigger itself is `BuildTrigger`'s.

Why a copy and not a rebuild: what dev tested and scanned is exactly what prod serves (same digest),
and its provenance (signed by Cloud Build when dev built it) describes those bytes."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.build_spec import BUILD_TAG, GCLOUD_IMAGE, LOGGING_OPTIONS, SCAN_IMAGE, gate_script, scan_location

# gcrane, not crane: crane reads only ~/.docker/config.json (pkg/crane DefaultKeychain), which a build
# step does not have; gcrane.Keychain puts google.Keychain (the metadata server's token for the build's
# service account, for *.pkg.dev) before it. The debug variant has a shell (busybox) to read the digest
# the lookup step wrote. Pinned to the release tag only: no published digest of this image was found to
# pin (the release build publishes gcrane/debug:$TAG_NAME, go-containerregistry's cloudbuild.yaml).
GCRANE_IMAGE = "gcr.io/go-containerregistry/gcrane/debug:v0.21.9"
SOURCE_FILE = "/workspace/source"

# The newest image the source stack built from this commit (its tags are `${SHORT_SHA}-${BUILD_ID}`).
FIND_SOURCE_COMMAND = ('gcloud artifacts docker images list "${_SOURCE_IMAGE}" --include-tags '
                       '--filter="tags:${SHORT_SHA}-*" --sort-by=~update_time --limit=1 '
                       "--format='value(format(\"{0}@{1}\",package,version))'")
# Dev's and this stack's triggers fire on the same push: without approval (or approved early) the
# source image may not be pushed yet, so find-source polls, every _SOURCE_POLL_SECONDS up to
# _SOURCE_POLLS times (about 10 minutes: within PROMOTION_TIMEOUT with room for the scan and the copy).
SOURCE_POLLS = 20
SOURCE_POLL_SECONDS = 30
PROMOTION_TIMEOUT_SECONDS = 1800
FIND_SOURCE_SCRIPT = (
    "set -euo pipefail\n"
    'for attempt in $$(seq "${_SOURCE_POLLS}"); do\n'
    # A listing error (permissions, a wrong path) fails at once: only "not pushed yet" is waited for.
    f"  {FIND_SOURCE_COMMAND} > {SOURCE_FILE}\n"
    f"  if [ -s {SOURCE_FILE} ]; then break; fi\n"
    '  if [ "$$attempt" -ge "${_SOURCE_POLLS}" ]; then\n'
    '    echo "No image of commit $SHORT_SHA in ${_SOURCE_IMAGE} after ${_SOURCE_POLLS} checks '
    '${_SOURCE_POLL_SECONDS}s apart: retry once its build has pushed." >&2\n'
    "    exit 1\n"
    "  fi\n"
    '  echo "No image of commit $SHORT_SHA in ${_SOURCE_IMAGE} yet (check $$attempt of ${_SOURCE_POLLS}); '
    'next check in ${_SOURCE_POLL_SECONDS}s."\n'
    '  sleep "${_SOURCE_POLL_SECONDS}"\n'
    "done\n"
    f'echo "Promoting $$(cat {SOURCE_FILE})"\n'
)
# Copies manifest and blobs unchanged, then proves the digest arrived unchanged.
COPY_SCRIPT = (
    "set -eu\n"
    f'source="$$(cat {SOURCE_FILE})"\n'
    f'target="${{_IMAGE}}:{BUILD_TAG}"\n'
    'gcrane cp "$$source" "$$target"\n'
    'copied="$$(gcrane digest "$$target")"\n'
    'echo "source digest: $${source#*@}"\n'
    'echo "target digest: $$copied ($$target)"\n'
    '[ "$$copied" = "$${source#*@}" ]\n'
)


def promotion_spec(image: pulumi.Input[str], source_image: str, fail_on_severity: str | None,
                   region: str) -> gcp.cloudbuild.TriggerBuildArgsDict:
    steps: list[gcp.cloudbuild.TriggerBuildStepArgsDict] = [
        {"id": "find-source", "name": GCLOUD_IMAGE, "entrypoint": "bash", "args": ["-c", FIND_SOURCE_SCRIPT]},
    ]
    before_copy = "find-source"
    if fail_on_severity is not None:
        # Scanned where it lies (--remote): this stack's threshold applies even if the source had none.
        script = gate_script(f'"$$(cat {SOURCE_FILE})"', fail_on_severity, scan_location(region), remote=True)
        steps.append({"id": "vulnerability-gate", "name": SCAN_IMAGE, "entrypoint": "bash", "args": ["-c", script],
                      "wait_fors": ["find-source"]})
        before_copy = "vulnerability-gate"
    steps.append({"id": "copy", "name": GCRANE_IMAGE, "entrypoint": "/busybox/sh", "args": ["-c", COPY_SCRIPT],
                  "wait_fors": [before_copy]})
    return {
        "steps": steps,
        "substitutions": {"_IMAGE": image, "_SOURCE_IMAGE": source_image, "_SOURCE_POLLS": str(SOURCE_POLLS),
                          "_SOURCE_POLL_SECONDS": str(SOURCE_POLL_SECONDS)},
        # Nothing here is pushed by Cloud Build itself (gcrane copies), so there is no provenance to request:
        # the copied digest's provenance is the source build's.
        "options": LOGGING_OPTIONS,
        "timeout": f"{PROMOTION_TIMEOUT_SECONDS}s",
    }


def digests_command(image: str) -> str:
    """Digests with their `${SHORT_SHA}-${BUILD_ID}` tags, newest first: run it on both repositories."""
    return (f"gcloud artifacts docker images list {image} --include-tags --sort-by=~update_time --limit=5 "
            "--format='table(version,tags.list(),update_time)'")


def promotion_outputs(source_image: str, image: pulumi.Output[str]) -> dict[str, Any]:
    return {
        "sourceImage": source_image,
        "image": image,
        "sourceDigests": digests_command(source_image),
        "promotedDigests": image.apply(digests_command),
    }
