"""Checks that use the grammar of the system that consumes the value, through the libraries that
implement it: RE2 (Cloud Build's branch filters), Docker Distribution's reference grammar (every
image name), Google's bucket naming rules, ISO 4217. Each returns None or what is expected."""

from __future__ import annotations

import ipaddress
import re

import iso4217
import re2
from docker_image import digest, reference
from docker_image.regexp import ImageRegexps

# Longer inputs are refused before any parser sees them: no grammar here needs more.
MAX_PATTERN = 1000
MAX_REFERENCE = 512
# Distribution's NameTotalLengthMax: the whole name, domain included, tag and digest excluded.
NAME_TOTAL_MAX = reference.NAME_TOTAL_LENGTH_MAX

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would print the pattern (maybe a secret) to stderr


# RE2's words for what Perl and Python have and RE2 deliberately lacks.
_PERL_ONLY = {"invalid perl operator", "invalid escape sequence", "invalid named capture group"}


def re2_pattern(value: str) -> str | None:
    """What RE2 itself accepts (`\\p{N}` yes; lookaround and backreferences no). RE2 runs in linear
    time, but compiling a huge pattern still costs memory, so the length is bounded."""
    if len(value) > MAX_PATTERN:
        return f"a regular expression of at most {MAX_PATTERN} characters"
    try:
        re2.compile(value, _RE2_OPTIONS)
    except re2.error as err:
        # RE2's message is "<what>: <the offending part>"; the part is left out (it may be a secret).
        raw = err.args[0] if err.args else b""
        what = (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).split(":", 1)[0]
        if what in _PERL_ONLY:
            return f"a branch regex Cloud Build's RE2 accepts: no lookaround, no backreferences (RE2 says: {what})"
        return f"a valid regular expression for RE2, Cloud Build's engine (RE2 says: {what})"
    except (UnicodeError, TypeError, ValueError):
        return "a regular expression of valid Unicode text"
    return None


def _parse(value: str) -> reference.Reference | str:
    """Docker's own normalization (`registry:2` is docker.io/library/registry:2), then the limits."""
    if len(value) > MAX_REFERENCE:
        return f"an image reference of at most {MAX_REFERENCE} characters"
    try:
        ref = reference.Reference.parse_normalized_named(value)
    except reference.NameTooLong:
        return _too_long()
    except (reference.InvalidReference, digest.InvalidDigest) as err:  # the library's two roots
        return f"a Docker image reference ({err.args[0] if err.args else 'invalid'})"
    name = ref["name"] or ""
    if len(name) > NAME_TOTAL_MAX:
        return _too_long()
    return ref


def _too_long() -> str:
    return f"an image name of at most {NAME_TOTAL_MAX} characters, registry host included"


def image_reference(value: str) -> str | None:
    """Any valid reference: [HOST[:PORT]/]PATH[:TAG][@DIGEST], lowercase path, tag `[\\w][\\w.-]{0,127}`."""
    parsed = _parse(value)
    return parsed if isinstance(parsed, str) else None


def pinned_image(value: str) -> str | None:
    """A valid reference with a version tag or a digest: never `latest`, never no tag (which means latest)."""
    parsed = _parse(value)
    if isinstance(parsed, str):
        return parsed
    if parsed["digest"]:
        return None
    if not parsed["tag"]:
        return "an image pinned to a version tag, e.g. 'registry:2.8.3' (no tag means latest)"
    if parsed["tag"] == "latest":
        return "an image pinned to a version tag, never 'latest'"
    return None


def image_path(value: str) -> str | None:
    """A repository path appended to a registry (no host, tag or digest): lowercase components
    separated by `/`, each `[a-z0-9]+` joined by `.`, `_`, `__` or dashes."""
    if len(value) > NAME_TOTAL_MAX:
        return _too_long()
    if not all(ImageRegexps.NAME_COMPONENT_REGEXP.fullmatch(part) for part in value.split("/")):
        return "a lowercase Docker image name: components of a-z 0-9 joined by '.', '_' or '-', separated by '/'"
    return None


def docker_hub_repository(value: str) -> str | None:
    """Docker Hub repositories are USER/REPOSITORY: one path component, 2 to 255 characters."""
    if "/" in value:
        return "a Docker Hub repository name without '/' (Docker Hub has one level: USER/REPOSITORY)"
    if len(value) < 2:
        return "a Docker Hub repository name of 2 to 255 characters"
    return image_path(value)


def _osa_distance(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbours as one edit (optimal string alignment)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


_LOOKALIKE = str.maketrans({"0": "o", "1": "l", "3": "e", "9": "g", "-": None, "_": None, ".": None})


def _resembles_google(name: str) -> bool:
    """Google refuses names containing "google" or close misspellings ("g00gle"); digits that look
    like letters are read as letters, separators dropped, and one edit away counts as close."""
    plain = name.translate(_LOOKALIKE)
    return any(_osa_distance(plain[start:start + size], "google") <= 1
               for size in (5, 6, 7) for start in range(len(plain) - size + 1))


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


_BUCKET_CHARS = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?")


def bucket_name(value: str) -> str | None:
    """Cloud Storage's bucket naming rules."""
    components = value.split(".")
    if not 3 <= len(value) <= (222 if len(components) > 1 else 63):
        return "a bucket name of 3-63 characters (up to 222 with dots)"
    if any(not 1 <= len(part) <= 63 for part in components):
        return "a bucket name whose dot-separated parts are 1-63 characters each"
    if not _BUCKET_CHARS.fullmatch(value):
        return ("a bucket name of lowercase letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit")
    if value.startswith("goog"):
        return "a bucket name not starting with 'goog' (reserved by Google)"
    if _resembles_google(value):
        return "a bucket name without 'google' or a close misspelling of it (Google refuses them)"
    if _is_ip_address(value):
        return "a bucket name that is not an IP address"
    return None


# Codes that are not money (gold, SDRs, the testing code...) have no minor unit in ISO 4217.
CURRENCIES = frozenset(c.code for c in iso4217.Currency if c.exponent is not None)


def currency(value: str) -> str | None:
    if value in CURRENCIES:
        return None
    hint = " (upper case)" if value.upper() in CURRENCIES else ""
    return f"an ISO 4217 code of a currency, such as USD, EUR or KRW{hint}"
