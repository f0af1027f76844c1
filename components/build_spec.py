"""The Cloud Build steps that rebuild the sample image, as data: a change to the pipeline is a reviewed
`pulumi preview` diff. Pure functions, no resources, so tests can lint the scripts the steps run.

Cloud Build substitutes `$NAME` / `${NAME}` itself (built-ins and `_`-prefixed user keys); a `$`
meant for the shell is written `$$`. The build declares no user substitution: `gcloud builds triggers
run --substitutions=` may override any declared one (another cache image, another target), so the
image, cache image and source are literals in the steps' environment (`IMAGE`, `CACHE_IMAGE`,
`SOURCE`) and in `images`, and the promotion refuses provenance that shows any `_` substitution."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

# Pinned builder images (never `latest`): gcloud to find the last image, the Docker CLI to build, and
# the full SDK image for scans (the slim one lacks the local-extract component `images scan` runs).
GCLOUD_IMAGE = "gcr.io/google.com/cloudsdktool/cloud-sdk:531.0.0-slim"
SCAN_IMAGE = "gcr.io/google.com/cloudsdktool/cloud-sdk:531.0.0"
DOCKER_IMAGE = "docker:27.5.1-cli"
CACHE_FILE = "/workspace/cache-from"
SCAN_FILE = "/workspace/scan"
# Artifact Analysis severities, lowest first (the order of its EffectiveSeverity enum).
SEVERITIES = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
BUILT_INS = {"PROJECT_ID", "PROJECT_NUMBER", "LOCATION", "BUILD_ID", "COMMIT_SHA", "SHORT_SHA", "REVISION_ID",
             "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "TRIGGER_NAME", "TRIGGER_BUILD_CONFIG_PATH",
             "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"}

# The newest version in the repository, by digest: with immutable tags there is no moving tag to
# take the build cache from, and a digest works either way. gcloud sends `--sort-by` to the server as
# AIP-132 `update_time desc` and re-sorts client-side by the same key (found as `updateTime`): the
# lower-case field name is the one both understand. With a --filter gcloud lists every version and
# leaves --limit to the client, so the filter sees them all.
# Only the pipeline's own tags, `COMMIT7-BUILD_ID` (anchored: gcloud warns that `tags:X*` will change
# meaning): not an untagged attachment (the provenance Cloud Build stores next to the image), not
# `pulumi up`'s `src-` images, not whatever else a writer pushed.
BUILT_TAG_PATTERN = "^[0-9a-f]{7}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
NEWEST_BUILT = f"--include-tags --filter='tags ~ {BUILT_TAG_PATTERN}' --sort-by=~update_time --limit=1"
# Cloud Build reads `$` as a substitution: the pattern's anchor reaches gcloud as `$$` -> `$`.
FIND_CACHE_COMMAND = (f'gcloud artifacts docker images list "$$CACHE_IMAGE" {NEWEST_BUILT.replace("$", "$$")} '
                      "--format='value(format(\"{0}@{1}\",package,version))'")
# No cache (a first build, or a listing error the log shows) is not a failure.
FIND_CACHE_SCRIPT = f"{FIND_CACHE_COMMAND} > {CACHE_FILE} || : > {CACHE_FILE}\n"
# BuildKit (the docker:cli image's buildx) reads the cache straight from the registry; the legacy
# builder neither writes nor reads inline cache metadata, so it is never left to chance.
BUILD_ENV = ["DOCKER_BUILDKIT=1"]


def build_script(app_dir: str, tags: list[str], cache: bool = True) -> str:
    """POSIX sh for the docker:cli image: build for linux/amd64 from the cache if there is one, and
    write inline cache metadata into the image so that the next build can use it as `--cache-from`.
    The same image is tagged for the cache repository, where the next build finds it. CACHE False:
    a plain build from app/ and the pinned base image only."""
    refs = [f"$$IMAGE:{tag}" for tag in tags] + ([CACHE_REF] if cache else [])
    tag_args = " ".join(f'-t "{ref}"' for ref in refs)
    if not cache:
        return ('docker build --platform linux/amd64 --build-arg "SOURCE=$$SOURCE" --build-arg "REVISION=$COMMIT_SHA" '
                f"{tag_args} {app_dir}\n")
    return (
        f'cache="$$(cat {CACHE_FILE})"\n'
        "set --\n"
        'if [ -n "$$cache" ]; then set -- --cache-from "$$cache"; fi\n'
        'docker build --platform linux/amd64 "$$@" --build-arg BUILDKIT_INLINE_CACHE=1 '
        '--build-arg "SOURCE=$$SOURCE" --build-arg "REVISION=$COMMIT_SHA" '
        f"{tag_args} {app_dir}\n"
    )


# The commit plus the build: a retried or re-run build of the same commit (a new BUILD_ID) gets a tag
# of its own, so an immutable repository never refuses it; the commit stays readable in the tag.
BUILD_TAG = "${SHORT_SHA}-${BUILD_ID}"
# The build cache (buildTrigger.registryCache, off by default): its own repository, which this stack
# grants only the image builder to write, but project Owners/Editors, principals with actAs on the
# builder and the default Cloud Build / Compute Engine service accounts (Editor by default) can write
# it too. BuildKit reuses --cache-from layers on trust and Cloud Build signs the result: any of them
# could slip a layer into an image prod later promotes. Without a registry cache each build starts
# from the pinned base image and app/ only; what it signs is what the commit says.
CACHE_REF = "$$CACHE_IMAGE:" + BUILD_TAG


def image_tags(mutable_tags: bool) -> list[str]:
    """A tag per build always; the moving `latest` only where a tag may be overwritten."""
    return [BUILD_TAG, "latest"] if mutable_tags else [BUILD_TAG]


def scan_location(region: str) -> str:
    """On-Demand Scanning analyses in us, europe or asia: the one nearest the build's region."""
    area = region.split("-")[0]
    return {"europe": "europe", "asia": "asia", "australia": "asia"}.get(area, "us")


def gate_script(image: str, fail_on: str, location: str, remote: bool) -> str:
    """bash for the SDK image: scan IMAGE with On-Demand Scanning, list every finding in the build log,
    fail on one at or above FAIL_ON. IMAGE is a shell word (quoted reference or "$$(cat FILE)")."""
    blocking = "|".join(SEVERITIES[SEVERITIES.index(fail_on):])
    where = "--remote " if remote else ""
    listing = f'gcloud artifacts docker images list-vulnerabilities "$$(cat {SCAN_FILE})"'
    return (
        "set -euo pipefail\n"
        f"gcloud artifacts docker images scan {image} {where}--location={location} "
        f"--format='value(response.scan)' > {SCAN_FILE}\n"
        f"{listing} --format='table(vulnerability.effectiveSeverity,vulnerability.cvssScore,noteName,"
        "vulnerability.packageIssue[0].affectedPackage,vulnerability.packageIssue[0].affectedVersion.fullName,"
        "vulnerability.packageIssue[0].fixedVersion.fullName)'\n"
        f"{listing} --format='value(vulnerability.effectiveSeverity)' > {SCAN_FILE}.severities\n"
        f"if grep -Exq '{blocking}' {SCAN_FILE}.severities; then\n"
        f'  echo "Vulnerability gate: findings at or above {fail_on} (listed above); nothing is pushed." >&2\n'
        "  exit 1\n"
        "fi\n"
    )


# A user-managed service account needs an explicit logging choice. (No substitution_option: triggered
# builds always substitute ALLOW_LOOSE, whatever the config says.)
LOGGING_OPTIONS: gcp.cloudbuild.TriggerBuildOptionsArgsDict = {"logging": "CLOUD_LOGGING_ONLY"}
# Cloud Build signs SLSA level 3 provenance for the images it pushes to Artifact Registry itself.
PROVENANCE_OPTIONS: gcp.cloudbuild.TriggerBuildOptionsArgsDict = {
    **LOGGING_OPTIONS, "requested_verify_option": "VERIFIED"}


def build_spec(image: pulumi.Input[str], cache_image: pulumi.Input[str] | None, source_url: str, mutable_tags: bool,
               app_dir: str = "app", fail_on_severity: str | None = None,
               region: str = "us-central1") -> gcp.cloudbuild.TriggerBuildArgsDict:
    """CACHE_IMAGE: the image's path in the build cache repository, the only place --cache-from reads;
    None: no registry cache (the default, see CACHE_REF)."""
    tags = image_tags(mutable_tags)
    image_env = _literal("IMAGE=", image)
    build: gcp.cloudbuild.TriggerBuildStepArgsDict = {
        "id": "build", "name": DOCKER_IMAGE, "entrypoint": "sh",
        "args": ["-c", build_script(app_dir, tags, cache=cache_image is not None)],
        "envs": [*BUILD_ENV, image_env, f"SOURCE={source_url}"]}
    steps: list[gcp.cloudbuild.TriggerBuildStepArgsDict] = [build]
    pushed = [_literal(image, f":{tag}") for tag in tags]
    if cache_image is not None:
        cache_env = _literal("CACHE_IMAGE=", cache_image)
        build["envs"] = [*BUILD_ENV, image_env, cache_env, f"SOURCE={source_url}"]
        build["wait_fors"] = ["find-cache"]
        steps.insert(0, {"id": "find-cache", "name": GCLOUD_IMAGE, "entrypoint": "bash",
                         "args": ["-c", FIND_CACHE_SCRIPT], "envs": [cache_env]})
        pushed.append(_literal(cache_image, ":" + BUILD_TAG))
    if fail_on_severity is not None:
        # The image is still only in the build's Docker daemon: a failed gate means no push at all.
        script = gate_script(f'"$$IMAGE:{tags[0]}"', fail_on_severity, scan_location(region), remote=False)
        steps.append({"id": "vulnerability-gate", "name": SCAN_IMAGE, "entrypoint": "bash", "args": ["-c", script],
                      "envs": [image_env], "wait_fors": ["build"]})
    return {
        "steps": steps,
        # Listed images are pushed by Cloud Build itself, after every step passed, with provenance.
        "images": pushed,
        "options": PROVENANCE_OPTIONS,
        "timeout": "900s",
    }


def _literal(head: pulumi.Input[str], tail: pulumi.Input[str]) -> pulumi.Input[str]:
    """HEAD + TAIL: plain strings stay plain (tests read build data as is); an Output is concatenated."""
    if isinstance(head, str) and isinstance(tail, str):
        return head + tail
    return pulumi.Output.concat(head, tail)
