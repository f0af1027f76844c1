"""The promotion's provenance check, run as the build runs it (`python3 -c TEXT ...`, the text the
build step carries) against provenance documents in the shape gcloud prints: the good one passes,
every forged one is refused with a reason, and nothing after the check would run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components import promotion, provenance_check
from tests.data.provenance import make_fixtures as fx

DATA = Path(__file__).parent / "data" / "provenance"
EXPECTED = [fx.IMAGE, fx.DIGEST, fx.COMMIT, fx.REPOSITORY, fx.TRIGGER, fx.BRANCH]


def run_checker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", promotion.CHECKER, *args], capture_output=True, text=True,
                          check=False, timeout=30)


def verify(path: Path, *expected: str) -> subprocess.CompletedProcess[str]:
    return run_checker("verify", str(path), *(expected or EXPECTED))


def test_the_build_runs_this_file_and_cloud_build_substitutes_nothing_in_it() -> None:
    assert Path(provenance_check.__file__).read_text() == promotion.CHECKER
    assert "$" not in promotion.CHECKER  # Cloud Build would read it as a substitution


def test_fixtures_are_what_the_generator_writes() -> None:
    assert json.loads((DATA / "good.json").read_text()) == fx.good()
    assert {p.name for p in DATA.glob("forged-*.json")} == {f"forged-{n}.json" for n in fx.forged()}
    assert {p.name for p in DATA.glob("good-*.json")} == {f"good-{n}.json" for n in fx.accepted()}
    for name, document in fx.accepted().items():
        assert json.loads((DATA / f"good-{name}.json").read_text()) == document


def test_good_provenance_passes() -> None:
    done = verify(DATA / "good.json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Provenance verified: {fx.IMAGE}@{fx.DIGEST} was built by "
                                  "https://cloudbuild.googleapis.com/GoogleHostedWorker from "
                                  f"git+{fx.REPOSITORY} at {fx.COMMIT}, started by trigger {fx.TRIGGER} "
                                  f"of project {fx.PROJECT} on branch {fx.BRANCH}")


@pytest.mark.parametrize(("name", "printed"), [
    # gcloud lists DSSE_ATTESTATION occurrences in provenance_summary too: printed, not a refusal.
    ("with-dsse-attestation", "ignored: provenance[2]: kind 'DSSE_ATTESTATION'"),
    # Dev's build pushes the cache image too, with a digest of its own.
    ("with-cache-subject", ""),
    # A 2nd-gen repository's URI ends in .git; the commit may be recorded as sha1.
    ("second-generation", ""),
])
def test_real_variants_of_good_provenance_pass(name: str, printed: str) -> None:
    done = verify(DATA / f"good-{name}.json")
    assert done.returncode == 0, done.stderr
    assert printed in done.stderr and done.stdout.startswith("Provenance verified")


@pytest.mark.parametrize(("name", "reason"), [
    ("other-builder", "builder 'https://example.com/MyBuilder', expected https://cloudbuild.googleapis.com/"),
    ("other-trigger", "built by trigger 'hand-made', expected 'hello-nginx-image'"),
    ("other-repository", "expected git+https://github.com/acme/hello-site@refs/heads/main at 2ce3f90"),
    ("other-commit", f"COMMIT_SHA '{'0' * 40}', expected {fx.COMMIT}"),
    ("other-project", "built in project 'mallory-lab', expected 'image-sharing-dev'"),
    ("digest-mismatch", f"has digest sha256:{'ab' * 32}, not the requested {fx.DIGEST}"),
    ("manual-build-v01-only", "no SLSA v1.0 provenance"),
    ("payload-differs", "(SLSA v1.0, signed payload): source [('git+https://github.com/mallory/x'"),
    ("own-note", "note 'projects/image-sharing-dev/notes/looks-legit' is not Cloud Build's"),
    ("unsigned", "no signed envelope payload"),
    ("attached-elsewhere", "attached to 'https://asia-northeast3-docker.pkg.dev/image-sharing-dev/images/other@"),
    ("missing-provenance", "has no provenance: Cloud Build did not build it"),
    ("v01-other-commit", "(SLSA v0.1): source [('git+https://github.com/acme/hello-site'"),
    ("other-branch", "BRANCH_NAME 'feature', expected 'main'"),
    ("other-branch", "expected git+https://github.com/acme/hello-site@refs/heads/main at"),
    ("overridden-cache-image", "(SLSA v1.0): run-time user substitutions {'_CACHE_IMAGE': "
                               "'europe-docker.pkg.dev/mallory-lab/poison/hello-nginx'}"),
    ("v01-overridden-cache-image", "(SLSA v0.1): run-time user substitutions {'_CACHE_IMAGE'"),
    ("dsse-attestation-only", "no SLSA v1.0 provenance"),
])
def test_forged_provenance_is_refused(name: str, reason: str) -> None:
    done = verify(DATA / f"forged-{name}.json")
    assert done.returncode == 1, done.stdout
    assert reason in done.stderr, done.stderr
    assert "Nothing is copied to this stack's repository." in done.stderr
    assert "Provenance verified" not in done.stdout


@pytest.mark.parametrize(("position", "value", "reason"), [
    (1, f"sha256:{'ab' * 32}", "not the requested sha256:abab"),     # good document, another digest asked
    (2, "1" * 40, f"expected {'1' * 40}"),                           # another commit asked
    (3, "https://github.com/acme/other", "expected git+https://github.com/acme/other@refs/heads/main"),
    (4, "other-image", "expected 'other-image'"),
    (5, "release", "BRANCH_NAME 'main', expected 'release'"),
    (0, "asia-northeast3-docker.pkg.dev/image-sharing-prod/images/hello-nginx", "expected 'image-sharing-prod'"),
])
def test_good_provenance_for_another_request_is_refused(position: int, value: str, reason: str) -> None:
    expected = list(EXPECTED)
    expected[position] = value
    done = verify(DATA / "good.json", *expected)
    assert done.returncode == 1 and reason in done.stderr, done.stderr


def test_a_missing_or_broken_document_is_refused(tmp_path: Path) -> None:
    assert verify(tmp_path / "absent.json").returncode == 1
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = verify(broken)
    assert done.returncode == 1 and "no provenance document to read" in done.stderr


@pytest.mark.parametrize(("digest", "commit", "ok"), [
    (fx.DIGEST, fx.COMMIT, True),
    ("", "", False),                                        # a run without --substitutions
    (fx.HEX, fx.COMMIT, False),                             # no algorithm
    (fx.DIGEST.upper(), fx.COMMIT, False),
    (fx.DIGEST + "\n", fx.COMMIT, False),                   # fullmatch, not match: no trailing newline
    (f'{fx.DIGEST}";touch /tmp/x;"', fx.COMMIT, False),
    (fx.DIGEST, fx.COMMIT[:7], False),                      # a short sha
    (fx.DIGEST, "main", False),
])
def test_request_accepts_only_a_full_digest_and_commit(digest: str, commit: str, ok: bool) -> None:
    done = run_checker("request", digest, commit)
    assert (done.returncode == 0) is ok, done.stderr
    if not ok:
        assert "REFUSED: _SOURCE_" in done.stderr


def test_usage_errors_are_not_a_pass() -> None:
    assert run_checker().returncode == 2
    assert run_checker("verify", "f").returncode == 2
