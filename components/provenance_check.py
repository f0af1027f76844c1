"""Checks a promotion request and the provenance of the image it names, before anything is copied.

The promotion build runs this file's text as `python3 -c TEXT COMMAND ARGS...` in a pinned python
image (standard library only, and no dollar sign anywhere: Cloud Build would read one as a
substitution). Tests run the same text against recorded provenance documents.

  request DIGEST COMMIT
      DIGEST must be a full `sha256:` + 64 hex digest, COMMIT a full 40-hex commit; nothing else runs
      with values that fail this.
  verify FILE SOURCE_IMAGE DIGEST COMMIT REPOSITORY TRIGGER_NAME BRANCH
      FILE is `gcloud artifacts docker images describe SOURCE_IMAGE@DIGEST --show-provenance
      --format=json`. Passes only if Cloud Build (the Google-hosted worker) built DIGEST as
      SOURCE_IMAGE from COMMIT of REPOSITORY (https://github.com/OWNER/REPO) on branch BRANCH,
      started by the trigger TRIGGER_NAME of SOURCE_IMAGE's project, with no user (`_`) substitution
      given at run time (dev's trigger declares none: a hand run `gcloud builds triggers run
      --branch/--sha/--substitutions` of the same trigger is refused). Both the signed payload (the
      DSSE envelope) and gcloud's decoded copy must say so, for every Cloud Build provenance
      document present (kind BUILD under a verified-builder note; gcloud also lists DSSE_ATTESTATION
      and other occurrences there, which are printed and ignored), and one of them must be SLSA v1.0,
      which Cloud Build writes only for triggered builds.

What this does not do: verify the envelope's signature (slsa-verifier does, with Google's keys). It
does refuse documents attached to a note outside Google's `verified-builder` project, which only
Cloud Build can attach occurrences to.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from typing import Any

BUILDER = "https://cloudbuild.googleapis.com/GoogleHostedWorker"
# SLSA v0.1 names the builder with its version: GoogleHostedWorker@v0.3.
BUILDER_V01 = re.compile(re.escape(BUILDER) + r"(@v0\.[0-9]+)?")
VERIFIED_NOTES = "projects/verified-builder/notes/"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
COMMIT = re.compile(r"[0-9a-f]{40}")
# LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE
IMAGE = re.compile(r"[a-z0-9-]+-docker\.pkg\.dev/([a-z][a-z0-9-]{4,28}[a-z0-9])/[a-z0-9/._-]+")
V1 = "inTotoSlsaProvenanceV1"
V01 = "intotoStatement"


def check_request(digest: str, commit: str) -> list[str]:
    problems = []
    if not DIGEST.fullmatch(digest):
        problems.append(f"_SOURCE_DIGEST = {digest!r}: expected sha256: and 64 lowercase hex digits "
                        "(the digest dev's build published)")
    if not COMMIT.fullmatch(commit):
        problems.append(f"_SOURCE_COMMIT = {commit!r}: expected the full 40-hex commit dev built")
    return problems


def _get(document: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(document, dict) and isinstance(key, str):
            document = document.get(key)
        elif isinstance(document, list) and isinstance(key, int) and -len(document) <= key < len(document):
            document = document[key]
        else:
            return None
    return document


def _project_of(invocation: str) -> str | None:
    match = re.search(r"/projects/([^/]+)/locations/", invocation or "")
    return match.group(1) if match else None


class Expected:
    def __init__(self, image: str, digest: str, commit: str, repository: str, trigger: str, branch: str) -> None:
        match = IMAGE.fullmatch(image)
        self.image, self.project = image, match.group(1) if match else None
        self.digest, self.commit, self.trigger, self.branch = digest, commit, trigger, branch
        self.git = "git+" + repository.removesuffix(".git")


def _source(dependency: dict[str, Any]) -> tuple[str, str | None, Any]:
    """(repository without `.git`, ref or None, commit) of a git dependency/material: Cloud Build
    records the commit as gitCommit (v1.0) or sha1 (v0.1), and a 2nd-gen repository's URI may end in
    `.git` (its remote_uri)."""
    uri, _, ref = str(dependency.get("uri", "")).partition("@")
    commit = _get(dependency, "digest", "gitCommit") or _get(dependency, "digest", "sha1")
    return uri.removesuffix(".git"), ref or None, commit


def _user_substitutions(substitutions: Any, where: str) -> list[str]:
    """Dev's trigger declares no user substitution (its values are literals in the steps): any `_` key
    came from the run (`gcloud builds triggers run --substitutions=...`) and may point the build
    elsewhere (another cache image, another image)."""
    given = {k: v for k, v in (substitutions or {}).items() if str(k).startswith("_")}
    if not given:
        return []
    return [f"{where}: run-time user substitutions {given}: dev's trigger declares none, so a run set them"]


def _subjects(statement: dict[str, Any], want: Expected, where: str) -> list[str]:
    subjects = statement.get("subject") or []
    problems = []
    if not subjects:
        problems.append(f"{where}: no subject")
    hexdigest = want.digest.removeprefix("sha256:")

    def name(subject: dict[str, Any]) -> str:
        return str(subject.get("name", "")).removeprefix("https://").split("@")[0]

    # Dev's build also pushes the cache image (another repository) with a digest of its own: only the
    # subjects naming the requested image must carry the requested digest.
    ours = [s for s in subjects if name(s) == want.image or name(s).startswith(want.image + ":")]
    for subject in ours:
        if _get(subject, "digest", "sha256") != hexdigest:
            problems.append(f"{where}: subject {subject.get('name')} has digest sha256:"
                            f"{_get(subject, 'digest', 'sha256')}, not the requested {want.digest}")
    if not ours:
        problems.append(f"{where}: no subject is {want.image} (subjects: {sorted(name(s) for s in subjects)})")
    return problems


def _check_v1(statement: dict[str, Any], want: Expected, where: str) -> list[str]:
    problems = _subjects(statement, want, where)
    definition = _get(statement, "predicate", "buildDefinition") or {}
    builder = _get(statement, "predicate", "runDetails", "builder", "id")
    if builder != BUILDER:
        problems.append(f"{where}: builder {builder!r}, expected {BUILDER}")
    system = _get(definition, "internalParameters", "systemSubstitutions") or {}
    if system.get("TRIGGER_NAME") != want.trigger:
        problems.append(f"{where}: built by trigger {system.get('TRIGGER_NAME')!r}, expected {want.trigger!r}")
    if system.get("COMMIT_SHA") != want.commit:
        problems.append(f"{where}: COMMIT_SHA {system.get('COMMIT_SHA')!r}, expected {want.commit}")
    if system.get("BRANCH_NAME") != want.branch:
        problems.append(f"{where}: BRANCH_NAME {system.get('BRANCH_NAME')!r}, expected {want.branch!r} "
                        "(a run of dev's trigger on another branch or commit)")
    ref = "refs/heads/" + want.branch
    sources = [_source(d) for d in definition.get("resolvedDependencies") or []]
    if (want.git, ref, want.commit) not in sources:
        found = [s for s in sources if s[2]]
        problems.append(f"{where}: source {found}, expected {want.git}@{ref} at {want.commit}")
    problems += _user_substitutions(_get(definition, "externalParameters", "substitutions"), where)
    project = _project_of(str(_get(statement, "predicate", "runDetails", "metadata", "invocationId") or ""))
    if project != want.project:
        problems.append(f"{where}: built in project {project!r}, expected {want.project!r} (the source image's)")
    return problems


def _check_v01(statement: dict[str, Any], want: Expected, where: str) -> list[str]:
    problems = _subjects(statement, want, where)
    predicate = statement.get("slsaProvenance") or statement.get("predicate") or {}
    builder = _get(predicate, "builder", "id")
    if not isinstance(builder, str) or not BUILDER_V01.fullmatch(builder):
        problems.append(f"{where}: builder {builder!r}, expected {BUILDER}@v0.x")
    materials = [_source(m) for m in predicate.get("materials") or []]
    if not any(uri == want.git and commit == want.commit for uri, _, commit in materials):
        found = [(uri, commit) for uri, _, commit in materials if commit]
        problems.append(f"{where}: source {found}, expected {want.git} at {want.commit}")
    substitutions = _get(predicate, "recipe", "arguments", "substitutions") or {}
    if substitutions.get("TRIGGER_NAME") != want.trigger:
        problems.append(f"{where}: built by trigger {substitutions.get('TRIGGER_NAME')!r}, expected {want.trigger!r}")
    if substitutions.get("COMMIT_SHA") != want.commit:
        problems.append(f"{where}: COMMIT_SHA {substitutions.get('COMMIT_SHA')!r}, expected {want.commit}")
    if substitutions.get("BRANCH_NAME") != want.branch:
        problems.append(f"{where}: BRANCH_NAME {substitutions.get('BRANCH_NAME')!r}, expected {want.branch!r}")
    problems += _user_substitutions(substitutions, where)
    return problems


def _signed_statement(occurrence: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any] | None:
    payload = _get(occurrence, "envelope", "payload")
    if not isinstance(payload, str) or not payload:
        problems.append(f"{where}: no signed envelope payload")
        return None
    try:
        # Standard or URL-safe alphabet, padding optional: urlsafe_b64decode reads both.
        statement = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError as error:
        problems.append(f"{where}: the envelope payload is not base64 JSON ({error})")
        return None
    return statement if isinstance(statement, dict) else None


def check_provenance(document: Any, want: Expected) -> list[str]:
    problems = []
    if want.project is None:
        problems.append(f"source image {want.image!r}: expected LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE")
    problems += check_request(want.digest, want.commit)
    occurrences = _get(document, "provenance_summary", "provenance") or []
    if not occurrences:
        return [*problems, f"{want.image}@{want.digest} has no provenance: Cloud Build did not build it "
                           "(or not with requestedVerifyOption VERIFIED)"]
    versions = set()
    for index, occurrence in enumerate(occurrences):
        where = f"provenance[{index}]"
        note, kind = str(occurrence.get("noteName", "")), occurrence.get("kind")
        # gcloud lists DSSE_ATTESTATION occurrences here too (anyone with occurrence write access can
        # attach one), and anyone may attach BUILD occurrences under a note of their own: neither is
        # Cloud Build's word, so neither can pass or fail the image. Only Cloud Build attaches under
        # verified-builder's notes.
        if kind != "BUILD" or not note.startswith(VERIFIED_NOTES):
            print(f"ignored: {where}: kind {kind!r}, note {note!r} is not Cloud Build's provenance "
                  f"(kind BUILD, note {VERIFIED_NOTES}...)", file=sys.stderr)
            continue
        uri = f"https://{want.image}@{want.digest}"
        if occurrence.get("resourceUri") != uri:
            problems.append(f"{where}: attached to {occurrence.get('resourceUri')!r}, expected {uri}")
        build = occurrence.get("build") or {}
        signed = _signed_statement(occurrence, where, problems)
        if V1 in build:
            versions.add("v1")
            problems += _check_v1(build[V1], want, f"{where} (SLSA v1.0)")
            if signed is not None:
                problems += _check_v1(signed, want, f"{where} (SLSA v1.0, signed payload)")
        elif V01 in build:
            versions.add("v0.1")
            problems += _check_v01(build[V01], want, f"{where} (SLSA v0.1)")
            if signed is not None:
                problems += _check_v01(signed, want, f"{where} (SLSA v0.1, signed payload)")
        else:
            problems.append(f"{where}: neither SLSA v1.0 nor v0.1 provenance")
    if "v1" not in versions:
        problems.append("no SLSA v1.0 provenance: Cloud Build writes it only for builds a trigger started "
                        "(a build submitted by hand gets v0.1 alone)")
    return problems


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "request" and len(args) == 2:
        problems = check_request(*args)
        ok = f"Promotion request: {args[0]} built from commit {args[1]}"
    elif command == "verify" and len(args) == 7:
        path, image, digest, commit, repository, trigger, branch = args
        want = Expected(image, digest, commit, repository, trigger, branch)
        try:
            with open(path, encoding="utf-8") as file:
                document = json.load(file)
        except (OSError, ValueError) as error:
            problems = [f"{path}: no provenance document to read ({error})"]
        else:
            problems = check_provenance(document, want)
        ok = (f"Provenance verified: {image}@{digest} was built by {BUILDER} from {want.git} at {commit}, "
              f"started by trigger {trigger} of project {want.project} on branch {branch}")
    else:
        print("usage: request DIGEST COMMIT | verify FILE SOURCE_IMAGE DIGEST COMMIT REPOSITORY TRIGGER BRANCH",
              file=sys.stderr)
        return 2
    for problem in problems:
        print(f"REFUSED: {problem}", file=sys.stderr)
    if problems:
        print("Nothing is copied to this stack's repository.", file=sys.stderr)
        return 1
    print(ok)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
