"""Reads nested stack config into frozen dataclasses, collecting every problem instead of
stopping at the first, so one `pulumi preview` tells the user everything to fix. Shared by the main
program and the bootstrap (neither imports the other)."""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

# A check returns None when the value is fine, else what was expected instead.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Rule:
    """A check that also says, as a JSON Schema fragment, what an editor can check of it by itself
    (a pattern, a range, a list of values). The fragment never refuses what the check accepts; it
    may accept more (the check has the last word)."""
    check: Check
    schema: Mapping[str, Any]

    def __call__(self, value: Any) -> str | None:
        return self.check(value)


@dataclass(frozen=True)
class Problem:
    key: str
    value: Any
    expected: str
    secret: bool = False
    # An unknown (often misspelled) key: listed first, since the problems after it may follow from the
    # default it left in place.
    unknown_key: bool = False

    def __str__(self) -> str:
        if self.secret:
            shown = "(value hidden)"
        elif self.value is None:
            shown = "(not set)"
        else:
            shown = _shown(self.value)
        return f"{_cut(self.key)} = {shown}: expected {self.expected}"

    def hidden(self) -> Problem:
        """The same problem for a secret key: no value, and no piece of it quoted in `expected`."""
        expected = self.expected
        # Each piece as it is, and as repr() and JSON quote it (escapes included).
        pieces = sorted({form for raw in _strings(self.value)
                         for form in (raw, repr(raw)[1:-1], json.dumps(raw)[1:-1])}, key=len, reverse=True)
        for piece in pieces:
            if len(piece) >= 4:
                expected = expected.replace(piece, "***")
        # Checks may quote a value cut short, or a part of it: any 6 characters of it left, or a short
        # value anywhere, and the whole explanation goes.
        grams = {expected[i:i + 6] for i in range(len(expected) - 5)}
        if any(piece in expected if len(piece) < 6 else any(piece[i:i + 6] in grams for i in range(len(piece) - 5))
               for piece in pieces):
            expected = "a valid value (details hidden: the key holds a secret)"
        return Problem(self.key, None, expected, secret=True, unknown_key=self.unknown_key)


MAX_SHOWN = 200


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(text)} characters)"


def _shown(value: Any) -> str:
    """Any decoded config value, printable whatever its size or depth."""
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value)
    except (ValueError, TypeError, RecursionError):
        text = f"(a {type(value).__name__} too large to show)"
    return _cut(text)


def _strings(value: Any, depth: int = 0) -> list[str]:
    """Every string (and number as text) inside a value: what must not be quoted from a secret."""
    if depth > 100:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*_strings(k, depth + 1), *_strings(v, depth + 1))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v, depth + 1)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return [str(value)]
        except ValueError:
            return []
    return []


class SettingsError(ValueError):
    """Raised before any resource is registered; lists every problem found."""

    def __init__(self, problems: list[Problem], subject: str = "the stack config") -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{subject} has {len(problems)} problem(s); "
            f"fix each with `pulumi config set [--path] KEY VALUE`:\n{lines}"
        )


def setting(default: Any = dataclasses.MISSING, *, doc: str, check: Check | None = None,
            factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that also carries its documentation and its value check; with neither a
    default nor a factory the key is required."""
    meta = {"doc": doc, "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def config_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The config keys of a settings dataclass (camelCase), mapped to their fields."""
    return {camel(f.name): f for f in dataclasses.fields(cls) if f.init and "doc" in f.metadata}


def closest(key: str, known: typing.Iterable[str]) -> str | None:
    """The known key `key` is most likely a misspelling of, if any."""
    if len(key) > 100:  # difflib is quadratic; no key is that long
        return None
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(key: str, known: typing.Iterable[str]) -> str:
    close = closest(key, known)
    return f"; did you mean {close!r}?" if close else ""


class _Invalid:
    """Marks a value already reported as a problem."""


INVALID: Any = _Invalid()


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is str:
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list, each item {_describe(typing.get_args(tp)[0])}"
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_describe(a) for a in inner) + " (or unset)"
    if dataclasses.is_dataclass(tp):
        return "an object with keys " + ", ".join(config_fields(tp))  # type: ignore[arg-type]
    return str(tp)


def coerce(tp: Any, value: Any, key: str, problems: list[Problem]) -> Any:
    """Checks a JSON-decoded value against a type hint; reports and returns INVALID if wrong."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return coerce(inner[0], value, key, problems)
    ok: bool
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
        if ok and not _printable_text(value):
            problems.append(Problem(key, value, "text without NUL characters or unpaired surrogates"))
            return INVALID
    elif origin is Literal:
        # bool is an int in Python: `true` must not pass for the literal 1
        ok = value in typing.get_args(tp) and type(value) in {type(a) for a in typing.get_args(tp)}
    elif origin is tuple:
        if not isinstance(value, list):
            ok = False
        else:
            item_tp = typing.get_args(tp)[0]
            items = [coerce(item_tp, v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
            return INVALID if any(i is INVALID for i in items) else tuple(items)
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, Mapping):
            return parse_object(tp, value, key + ".", problems)  # type: ignore[arg-type]
        ok = False
    else:  # pragma: no cover - a schema bug, not a user error
        raise TypeError(f"unsupported settings type {tp!r} at {key}")
    if not ok:
        hint = ""
        if origin is Literal and isinstance(value, str):  # "locl" for "local"
            hint = suggest(value, [a for a in typing.get_args(tp) if isinstance(a, str)])
        problems.append(Problem(key, value, _describe(tp) + hint))
        return INVALID
    return value


def _printable_text(value: str) -> bool:
    """What every API and file downstream can carry: encodable as UTF-8, no NUL."""
    if "\0" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


T = typing.TypeVar("T")


def parse_object(cls: type[T], raw: Mapping[str, Any], prefix: str, problems: list[Problem],
                 extra: Mapping[str, Any] | None = None, also_known: typing.Iterable[str] = ()) -> Any:
    """Builds `cls` from a mapping of camelCase keys; unknown keys and bad values become problems.
    `also_known` are keys read elsewhere (the secrets), named in the "valid here" list all the same.

    Returns INVALID if any field was bad, so cross-field checks can skip half-read objects."""
    known = config_fields(cls)
    valid = [*known, *also_known]
    hints = typing.get_type_hints(cls)
    bad = False
    for key, value in raw.items():
        if key not in known:
            problems.append(Problem(
                prefix + key, value,
                f"a known key ({_cut(repr(key))} is not one); valid here: {', '.join(valid)}{suggest(key, valid)}",
                unknown_key=True))
            bad = True
    kwargs: dict[str, Any] = dict(extra or {})
    for key, f in known.items():
        if key not in raw:
            if required(f) and f.name not in kwargs:
                problems.append(Problem(prefix + key, None, f"a value (required): {f.metadata['doc']}"))
                bad = True
            continue
        value = coerce(hints[f.name], raw[key], prefix + key, problems)
        check: Check | None = f.metadata.get("check")
        if value is not INVALID and value is not None and check is not None:
            expected = check(value)
            if expected:
                problems.append(Problem(prefix + key, raw[key], expected))
                value = INVALID
        if value is INVALID:
            bad = True
        else:
            kwargs[f.name] = value
    return INVALID if bad else cls(**kwargs)


def required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def reference(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, meaning) for every leaf setting, in declaration order, for the table in docs/configuration.md."""
    rows: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for key, f in config_fields(cls).items():
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(reference(tp, f"{prefix}{key}."))  # type: ignore[arg-type]
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if isinstance(default, tuple):
            default = list(default)
        shown = "(unset)" if default is None else json.dumps(default)
        rows.append((prefix + key, shown, f.metadata["doc"]))
    return rows
