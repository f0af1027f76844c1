"""Writes the provenance documents tests/test_provenance_check.py reads: one good document in the
shape `gcloud artifacts docker images describe IMAGE@DIGEST --show-provenance --format=json` prints
for an image a Cloud Build trigger built with requestedVerifyOption VERIFIED (the fields and nesting
of the documents recorded in slsa-framework/slsa-verifier's verifiers/internal/gcb/testdata, with
this project's names), and forged ones that each change one thing. Run it to regenerate:
    .venv/bin/python tests/data/provenance/make_fixtures.py
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PROJECT, NUMBER, LOCATION = "image-sharing-dev", "265426041527", "global"
IMAGE = f"asia-northeast3-docker.pkg.dev/{PROJECT}/images/hello-nginx"
HEX = "7e9b6e7ba2842c91cf49f3e214d04a7a496f8214356f41d81a6e6dcad11f11e3"
DIGEST = f"sha256:{HEX}"
COMMIT = "2ce3f90facdb51aeb950d5bc641e981be61fdf48"
REPOSITORY = "https://github.com/acme/hello-site"
TRIGGER = "hello-nginx-image"
BRANCH = "main"
TRIGGER_ID = "15e57958-19b3-4a52-a052-6906244088ce"
BUILD_ID = "9c11d255-0469-4a6a-b7d0-d510c6697c54"
TAG = f"{COMMIT[:7]}-{BUILD_ID}"
SYSTEM = {"BRANCH_NAME": "main", "BUILD_ID": BUILD_ID, "COMMIT_SHA": COMMIT, "LOCATION": LOCATION,
          "PROJECT_NUMBER": NUMBER, "REF_NAME": "main", "REPO_FULL_NAME": "acme/hello-site",
          "REPO_NAME": "hello-site", "REVISION_ID": COMMIT, "SHORT_SHA": COMMIT[:7], "TRIGGER_NAME": TRIGGER}


def subjects() -> list[dict[str, Any]]:
    return [{"digest": {"sha256": HEX}, "name": f"https://{IMAGE}"},
            {"digest": {"sha256": HEX}, "name": f"https://{IMAGE}:{TAG}"}]


def v1_statement() -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://cloud.google.com/build/gcb-buildtypes/google-worker/v1",
                # An inline build config (the trigger's `build`): buildConfig, no buildConfigSource.
                # No user substitution: dev's trigger declares none (its values are literals).
                "externalParameters": {"buildConfig": "steps: ...", "substitutions": {}},
                "internalParameters": {"systemSubstitutions": dict(SYSTEM),
                                       "triggerUri": f"projects/{NUMBER}/locations/{LOCATION}/triggers/{TRIGGER_ID}"},
                "resolvedDependencies": [
                    {"digest": {"gitCommit": COMMIT}, "uri": f"git+{REPOSITORY}@refs/heads/main"},
                    {"digest": {"sha256": "d048af25a6f8945fa77e3aa679e49a8f8a8011f0050aab0364034e58f445a434"},
                     "uri": "docker.io/library/docker@sha256:"
                            "d048af25a6f8945fa77e3aa679e49a8f8a8011f0050aab0364034e58f445a434"}],
            },
            "runDetails": {
                "builder": {"id": "https://cloudbuild.googleapis.com/GoogleHostedWorker"},
                "byproducts": [{}],
                "metadata": {"finishedOn": "2026-12-01T10:40:29.055034Z",
                             "invocationId": f"https://cloudbuild.googleapis.com/v1/projects/{PROJECT}/locations/"
                                             f"{LOCATION}/builds/{BUILD_ID}",
                             "startedOn": "2026-12-01T10:40:21.016140505Z"},
            },
        },
        "predicateType": "https://slsa.dev/provenance/v1",
        "subject": subjects(),
    }


def v01_statement() -> dict[str, Any]:
    provenance = {
        "builder": {"id": "https://cloudbuild.googleapis.com/GoogleHostedWorker@v0.3"},
        "materials": [{"digest": {"sha1": COMMIT}, "uri": f"git+{REPOSITORY}"}],
        "metadata": {"buildFinishedOn": "2026-12-01T10:40:29.055034Z", "buildInvocationId": BUILD_ID,
                     "buildStartedOn": "2026-12-01T10:40:21.016140505Z"},
        "recipe": {"arguments": {
            "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.Build", "id": BUILD_ID,
            "buildTriggerId": TRIGGER_ID,
            "name": f"projects/{NUMBER}/locations/{LOCATION}/builds/{BUILD_ID}",
            "options": {"logging": "CLOUD_LOGGING_ONLY", "requestedVerifyOption": "VERIFIED",
                        "substitutionOption": "ALLOW_LOOSE"},
            "substitutions": {k: v for k, v in SYSTEM.items() if k not in ("BUILD_ID", "LOCATION", "PROJECT_NUMBER")}},
            "entryPoint": "", "type": "https://cloudbuild.googleapis.com/CloudBuildYaml@v0.1"},
    }
    return {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.1",
            "slsaProvenance": provenance, "subject": subjects()}


def occurrence(kind: str, statement: dict[str, Any], signed: dict[str, Any] | None = None) -> dict[str, Any]:
    signed = statement if signed is None else signed
    if kind == "v1":
        build, note = {"inTotoSlsaProvenanceV1": statement}, f"intoto_slsa_v1_{BUILD_ID}"
        payload = signed
    else:
        build, note = {"intotoStatement": statement}, f"intoto_{BUILD_ID}"
        # The v0.1 payload carries the predicate under both names.
        payload = {**signed, "predicate": signed["slsaProvenance"]}
    return {
        "build": build,
        "createTime": "2026-12-01T10:40:33.411662Z",
        "envelope": {"payload": base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode(),
                     "payloadType": "application/vnd.in-toto+json",
                     "signatures": [{"keyid": "projects/verified-builder/locations/global/keyRings/attestor/"
                                              "cryptoKeys/google-hosted-worker/cryptoKeyVersions/1",
                                     "sig": "MEUCIE1xMZShL8GXSotP5pyb4iHptikuEkfu28EPKGvlGsCIAiEAiruAeMD2ijQOCAYzhF5E"
                                            "QL7vgkmFKBCMxxJ0Md_Mhmc="}]},
        "kind": "BUILD",
        "name": f"projects/{PROJECT}/occurrences/8f992d9a-2914-411e-bf58-aa96e429a7ac",
        "noteName": f"projects/verified-builder/notes/{note}",
        "resourceUri": f"https://{IMAGE}@{DIGEST}",
        "updateTime": "2026-12-01T10:40:33.411662Z",
    }


def document(occurrences: list[dict[str, Any]]) -> dict[str, Any]:
    return {"image_summary": {"digest": DIGEST, "fully_qualified_digest": f"{IMAGE}@{DIGEST}",
                              "registry": "asia-northeast3-docker.pkg.dev", "repository": "images",
                              "slsa_build_level": 3},
            "provenance_summary": {"provenance": occurrences}}


def good() -> dict[str, Any]:
    return document([occurrence("v1", v1_statement()), occurrence("v0.1", v01_statement())])


def dsse_attestation() -> dict[str, Any]:
    """A DSSE_ATTESTATION occurrence as gcloud lists it in provenance_summary next to the BUILD ones
    (command_lib/artifacts/containeranalysis_util.py): someone's attestation, not Cloud Build's."""
    return {"createTime": "2026-12-01T11:02:10.5Z", "kind": "DSSE_ATTESTATION",
            "dsseAttestation": {"envelope": {"payload": base64.b64encode(b'{"note": "qa passed"}').decode(),
                                             "payloadType": "application/vnd.in-toto+json", "signatures": []}},
            "name": f"projects/{PROJECT}/occurrences/0c6a0d1e-5a4e-4c1b-9f7e-3c3d0a6f4b21",
            "noteName": f"projects/{PROJECT}/notes/qa-attestor",
            "resourceUri": f"https://{IMAGE}@{DIGEST}", "updateTime": "2026-12-01T11:02:10.5Z"}


def accepted() -> dict[str, dict[str, Any]]:
    """Real shapes the check must pass, each one variation of good()."""
    out: dict[str, dict[str, Any]] = {}
    with_dsse = good()
    with_dsse["provenance_summary"]["provenance"].append(dsse_attestation())
    out["with-dsse-attestation"] = with_dsse
    # Dev's build also pushes the cache image (another repository): its own digest may differ.
    cache = {"digest": {"sha256": "cd" * 32},
             "name": f"https://{IMAGE.replace('/images/', '/images-buildcache/')}:{TAG}"}
    v1, v01 = v1_statement(), v01_statement()
    v1["subject"].append(cache)
    v01["subject"].append(cache)
    out["with-cache-subject"] = document([occurrence("v1", v1), occurrence("v0.1", v01)])
    # A 2nd-gen repository (remote_uri ends in .git), the commit recorded as sha1.
    v1, v01 = v1_statement(), v01_statement()
    v1["predicate"]["buildDefinition"]["resolvedDependencies"][0] = {
        "digest": {"sha1": COMMIT}, "uri": f"git+{REPOSITORY}.git@refs/heads/{BRANCH}"}
    v01["slsaProvenance"]["materials"][0]["uri"] = f"git+{REPOSITORY}.git"
    out["second-generation"] = document([occurrence("v1", v1), occurrence("v0.1", v01)])
    return out


def forged() -> dict[str, dict[str, Any]]:
    """Each changes one thing a forger (or a mistake) would."""
    out: dict[str, dict[str, Any]] = {}

    def v1_changed(change: Any) -> dict[str, Any]:
        statement = v1_statement()
        change(statement)
        return document([occurrence("v1", statement), occurrence("v0.1", v01_statement())])

    def set_path(*path: Any) -> Any:
        *head, last, value = path
        def change(statement: dict[str, Any]) -> None:
            node = statement
            for key in head:
                node = node[key]
            node[last] = value
        return change

    pred = ("predicate",)
    out["other-builder"] = v1_changed(set_path(*pred, "runDetails", "builder", "id", "https://example.com/MyBuilder"))
    out["other-trigger"] = v1_changed(set_path(*pred, "buildDefinition", "internalParameters", "systemSubstitutions",
                                               {**SYSTEM, "TRIGGER_NAME": "hand-made"}))
    out["other-repository"] = v1_changed(set_path(*pred, "buildDefinition", "resolvedDependencies", 0,
                                                  {"digest": {"gitCommit": COMMIT},
                                                   "uri": "git+https://github.com/mallory/hello-site@refs/heads/main"}))
    other = "0" * 40
    out["other-commit"] = v1_changed(lambda s: (
        s["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"].update(gitCommit=other),
        s["predicate"]["buildDefinition"]["internalParameters"]["systemSubstitutions"].update(COMMIT_SHA=other)))
    out["other-project"] = v1_changed(set_path(*pred, "runDetails", "metadata", "invocationId",
                                               f"https://cloudbuild.googleapis.com/v1/projects/mallory-lab/locations/"
                                               f"{LOCATION}/builds/{BUILD_ID}"))
    out["digest-mismatch"] = v1_changed(lambda s: [x["digest"].update(sha256="ab" * 32) for x in s["subject"]])
    # Only v0.1: what a build submitted by hand (gcloud builds submit) gets.
    out["manual-build-v01-only"] = document([occurrence("v0.1", v01_statement())])
    # gcloud's decoded copy looks right, the signed payload names another repository.
    signed = v1_statement()
    signed["predicate"]["buildDefinition"]["resolvedDependencies"][0]["uri"] = "git+https://github.com/mallory/x"
    out["payload-differs"] = document([occurrence("v1", v1_statement(), signed), occurrence("v0.1", v01_statement())])
    # An occurrence someone attached under a note of their own project.
    own_note = good()
    for item in own_note["provenance_summary"]["provenance"]:
        item["noteName"] = f"projects/{PROJECT}/notes/looks-legit"
    out["own-note"] = own_note
    unsigned = good()
    for item in unsigned["provenance_summary"]["provenance"]:
        del item["envelope"]
    out["unsigned"] = unsigned
    other_image = good()
    for item in other_image["provenance_summary"]["provenance"]:
        item["resourceUri"] = f"https://{IMAGE.replace('hello-nginx', 'other')}@{DIGEST}"
    out["attached-elsewhere"] = other_image
    # What gcloud prints for an image Cloud Build did not build (pushed by hand): no provenance.
    out["missing-provenance"] = {"image_summary": good()["image_summary"]}
    v01_other = document([occurrence("v1", v1_statement()), occurrence("v0.1", copy.deepcopy(v01_statement()))])
    v01_other["provenance_summary"]["provenance"][1]["build"]["intotoStatement"]["slsaProvenance"]["materials"][0][
        "digest"]["sha1"] = other
    out["v01-other-commit"] = v01_other
    # `gcloud builds triggers run <dev trigger> --branch=feature`: dev's trigger, another branch.
    def other_branch(s: dict[str, Any]) -> None:
        s["predicate"]["buildDefinition"]["internalParameters"]["systemSubstitutions"].update(
            BRANCH_NAME="feature", REF_NAME="feature")
        s["predicate"]["buildDefinition"]["resolvedDependencies"][0]["uri"] = f"git+{REPOSITORY}@refs/heads/feature"
    out["other-branch"] = v1_changed(other_branch)
    # `... triggers run <dev trigger> --branch=main --substitutions=_CACHE_IMAGE=...`: an attacker's cache.
    attacker = {"_CACHE_IMAGE": "europe-docker.pkg.dev/mallory-lab/poison/hello-nginx"}
    out["overridden-cache-image"] = v1_changed(set_path(*pred, "buildDefinition", "externalParameters",
                                                        "substitutions", attacker))
    v01_override = good()
    v01_override["provenance_summary"]["provenance"][1]["build"]["intotoStatement"]["slsaProvenance"]["recipe"][
        "arguments"]["substitutions"].update(attacker)
    out["v01-overridden-cache-image"] = v01_override
    # Only a DSSE attestation (someone's, whatever it says) and no Cloud Build occurrence.
    out["dsse-attestation-only"] = document([dsse_attestation()])
    return out


def main() -> None:
    (HERE / "good.json").write_text(json.dumps(good(), indent=2) + "\n")
    for name, doc in accepted().items():
        (HERE / f"good-{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    for name, doc in forged().items():
        (HERE / f"forged-{name}.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
