"""components/grammars.py at its edges: the Google-lookalike bucket rule case by case (each window size
and the letter swap), every length limit at the limit and one past it, and each message."""

from __future__ import annotations

import pytest

from components import grammars
from components.grammars import bucket_name

LOOKALIKE = "a bucket name without 'google' or a close misspelling of it (Google refuses them)"


@pytest.mark.parametrize(("name", "why"), [
    ("my-google", "the word itself"),
    ("my-goolge", "two neighbours swapped: caught by the 6-letter window, and only with the swap rule"),
    ("my-gogle", "a letter missing: only the 5-letter window sees it"),
    ("my-googl", "the last letter missing"),
    ("my-googxle", "a letter added: only the 7-letter window sees it"),
    ("my-gooqle", "a letter changed"),
    ("my-g00gle", "digits read as the letters they look like"),
    ("x-9oo9le", "9 read as g"),
    ("g-o-o-g-l-e", "separators dropped"),
    ("logs.goo_gle", "dots and underscores dropped too"),
    ("g1oogle3", "1 and 3 are read as l and e, and a letter added"),
])
def test_lookalikes_are_refused(name: str, why: str) -> None:
    assert bucket_name(name) == LOOKALIKE, why


@pytest.mark.parametrize("name", ["goolge-images", "gogle-images", "googxle-images", "goodle"])
def test_lookalikes_at_the_start_resemble_google_too(name: str) -> None:
    # bucket_name refuses a few of these for their `goog` prefix first; the rule itself sees each one
    assert grammars._resembles_google(name)


@pytest.mark.parametrize("name", ["my-images", "gaggle-x", "boogie-x", "giggle", "my-golge", "noodle", "poodle",
                                  "go0d-bucket", "oggle", "image-sharing-dev-registry"])
def test_names_two_edits_away_are_accepted(name: str) -> None:
    assert bucket_name(name) is None
    assert not grammars._resembles_google(name)


def test_osa_distance() -> None:
    assert grammars._osa_distance("google", "google") == 0
    assert grammars._osa_distance("", "abc") == 3
    assert grammars._osa_distance("abc", "") == 3
    assert grammars._osa_distance("goolge", "google") == 1  # a swap is one edit
    assert grammars._osa_distance("ogogle", "google") == 1
    assert grammars._osa_distance("gogole", "google") == 1
    assert grammars._osa_distance("golgoe", "google") == 2  # two swaps
    assert grammars._osa_distance("gxxgle", "google") == 2
    assert grammars._osa_distance("abcdef", "badcfe") == 3
    assert grammars._osa_distance("ca", "abc") == 3  # optimal string alignment: no edit of a swapped pair
    # a swap needs two letters on both sides: the first letter is never swapped with the last
    assert grammars._osa_distance("gl", "google") == 4
    assert grammars._osa_distance("aaa", "a") == 2


CHARS = ("a bucket name of lowercase letters, digits, '-', '_' and '.', "
         "starting and ending with a letter or digit")


@pytest.mark.parametrize(("name", "expected"), [
    ("abc", None),
    ("a" * 63, None),
    ("ab", "a bucket name of 3-63 characters (up to 222 with dots)"),
    ("a" * 64, "a bucket name of 3-63 characters (up to 222 with dots)"),
    (".".join(["a" * 63] * 3) + "." + "a" * 30, None),  # 222 with dots
    (".".join(["a" * 63] * 3) + "." + "a" * 31, "a bucket name of 3-63 characters (up to 222 with dots)"),
    ("a" * 64 + ".b", "a bucket name whose dot-separated parts are 1-63 characters each"),
    ("a..b", "a bucket name whose dot-separated parts are 1-63 characters each"),
    ("Abc", CHARS),
    ("abc-", CHARS),
    ("_abc", CHARS),
    ("a_b-c.d", None),
    ("goog-images", "a bucket name not starting with 'goog' (reserved by Google)"),
    ("192.168.1.1", "a bucket name that is not an IP address"),
    ("192.168.1.256", None),
])
def test_bucket_name_limits(name: str, expected: str | None) -> None:
    assert bucket_name(name) == expected


PERL_ONLY = "a branch regex Cloud Build's RE2 accepts: no lookaround, no backreferences (RE2 says: {})"


def test_re2_pattern() -> None:
    assert grammars.re2_pattern("^main$") is None
    assert grammars.re2_pattern(r"\p{N}+") is None
    assert grammars.re2_pattern("a" * grammars.MAX_PATTERN) is None
    assert grammars.re2_pattern("a" * (grammars.MAX_PATTERN + 1)) == "a regular expression of at most 1000 characters"
    assert grammars.re2_pattern("(?=x)") == PERL_ONLY.format("invalid perl operator")
    assert grammars.re2_pattern(r"(a)\1") == PERL_ONLY.format("invalid escape sequence")
    assert grammars.re2_pattern("(?P<n>a)(?P=n)") == PERL_ONLY.format("invalid perl operator")
    assert grammars.re2_pattern("(?<n>a)") is None  # RE2 takes this named group
    assert grammars.re2_pattern("(secret") == (
        "a valid regular expression for RE2, Cloud Build's engine (RE2 says: missing ))")
    assert grammars.re2_pattern("\ud800") == "a regular expression of valid Unicode text"


def test_re2_names_only_what_went_wrong_never_the_pattern() -> None:
    # RE2 says "missing ): (secret:x)": the part after the first colon is the pattern, whatever it holds
    assert grammars.re2_pattern("(secret:x") == (
        "a valid regular expression for RE2, Cloud Build's engine (RE2 says: missing ))")


@pytest.mark.parametrize(("args", "said"), [
    ((), ""),  # an error without a message still gets the sentence, not an IndexError
    (("text: (secret",), "text"),  # a message as text rather than bytes
    ((b"bad \xff: (secret",), "bad \ufffd"),  # bytes that are not UTF-8 are replaced, not raised
])
def test_re2_errors_of_any_shape_give_the_sentence(monkeypatch: pytest.MonkeyPatch, args: tuple[object, ...],
                                                  said: str) -> None:
    def refuse(*_: object) -> None:
        raise grammars.re2.error(*args)
    monkeypatch.setattr(grammars.re2, "compile", refuse)
    assert grammars.re2_pattern("x") == f"a valid regular expression for RE2, Cloud Build's engine (RE2 says: {said})"


def test_a_reference_error_without_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_: str) -> None:
        raise grammars.reference.InvalidReference()
    monkeypatch.setattr(grammars.reference.Reference, "parse_normalized_named", refuse)
    assert grammars.image_reference("x") == "a Docker image reference (invalid)"


TOO_LONG = "an image name of at most 255 characters, registry host included"


@pytest.mark.parametrize(("value", "expected"), [
    ("registry:2", None),
    ("r.io/" + "a" * 250, None),  # 255: the limit itself
    ("r.io/" + "a" * 251, TOO_LONG),  # the library's own limit
    ("a" * 237, None),  # docker.io/library/ + 237 = 255
    ("a" * 238, TOO_LONG),  # short as written, too long once normalized
    ("r.io/x" + ":1" * 254, "an image reference of at most 512 characters"),
    ("r.io/x:" + "t" * 129, "a Docker image reference (invalid reference format)"),
    ("Bad", "a Docker image reference (invalid reference format: repository name (library/Bad) must be lowercase)"),
])
def test_image_reference(value: str, expected: str | None) -> None:
    assert grammars.image_reference(value) == expected


def test_reference_length_limit_is_inclusive() -> None:
    tail = "/x:" + "1" * 128 + "@sha256:" + "a" * 64
    padded = "r" * (grammars.MAX_REFERENCE - len(tail) - 3) + ".io" + tail
    assert len(padded) == grammars.MAX_REFERENCE
    assert grammars._parse(padded) == TOO_LONG  # parsed (its name is too long), not refused for its length
    assert grammars.image_reference(padded + "1") == "an image reference of at most 512 characters"


@pytest.mark.parametrize(("value", "expected"), [
    ("registry:2.8.3", None),
    ("registry@sha256:" + "a" * 64, None),
    ("registry:latest@sha256:" + "a" * 64, None),  # the digest decides
    ("registry", "an image pinned to a version tag, e.g. 'registry:2.8.3' (no tag means latest)"),
    ("registry:latest", "an image pinned to a version tag, never 'latest'"),
    ("registry:Latest", None),
    ("Bad:1", "a Docker image reference (invalid reference format: repository name (library/Bad) must be lowercase)"),
])
def test_pinned_image(value: str, expected: str | None) -> None:
    assert grammars.pinned_image(value) == expected


PATH_MESSAGE = "a lowercase Docker image name: components of a-z 0-9 joined by '.', '_' or '-', separated by '/'"


@pytest.mark.parametrize(("value", "expected"), [
    ("team/site.web", None),
    ("a__b/c-d", None),
    ("a" * 255, None),
    ("a" * 256, TOO_LONG),
    ("Team", PATH_MESSAGE),
    ("team//site", PATH_MESSAGE),
    ("team/", PATH_MESSAGE),
])
def test_image_path(value: str, expected: str | None) -> None:
    assert grammars.image_path(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("ab", None),
    ("a", "a Docker Hub repository name of 2 to 255 characters"),
    ("a/b", "a Docker Hub repository name without '/' (Docker Hub has one level: USER/REPOSITORY)"),
    ("AB", PATH_MESSAGE),
])
def test_docker_hub_repository(value: str, expected: str | None) -> None:
    assert grammars.docker_hub_repository(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("USD", None),
    ("KRW", None),
    ("usd", "an ISO 4217 code of a currency, such as USD, EUR or KRW (upper case)"),
    ("XAU", "an ISO 4217 code of a currency, such as USD, EUR or KRW"),  # gold: no minor unit, not money
    ("ZZZ", "an ISO 4217 code of a currency, such as USD, EUR or KRW"),
])
def test_currency(value: str, expected: str | None) -> None:
    assert grammars.currency(value) == expected
