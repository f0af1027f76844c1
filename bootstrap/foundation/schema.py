"""Reads nested config into frozen dataclasses and collects every problem instead of stopping at the
first, like the main program's settings (deliberately not imported: the bootstrap stands alone)."""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# A check returns None when the value is fine, else what was expected instead.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Problem:
    key: str
    value: Any
    expected: str

    def __str__(self) -> str:
        shown = "(not set)" if self.value is None else json.dumps(self.value)
        return f"{self.key} = {shown}: expected {self.expected}"


class SettingsError(ValueError):
    """Raised before any resource is registered; lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the bootstrap config has {len(problems)} problem(s); "
                         f"fix each with `pulumi config set [--path] KEY VALUE`:\n{lines}")


def setting(default: Any = dataclasses.MISSING, *, doc: str, check: Check | None = None) -> Any:
    """A dataclass field carrying its documentation and value check; no default means required."""
    return dataclasses.field(default=default, metadata={"doc": doc, "check": check})


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


INVALID: Any = object()


def _describe(tp: Any) -> str:
    if tp is int:
        return "a whole number"
    if tp is str:
        return "a string"
    if dataclasses.is_dataclass(tp):
        return "an object with keys " + ", ".join(camel(f.name) for f in dataclasses.fields(tp))
    inner = [a for a in typing.get_args(tp) if a is not type(None)]
    return " or ".join(_describe(a) for a in inner) + " (or unset)"


def _coerce(tp: Any, value: Any, key: str, problems: list[Problem]) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None:
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return parse_object(tp, value, key + ".", problems)  # type: ignore[arg-type]
    # bool is an int in Python: `true` is not a repository id
    ok = isinstance(value, int) and not isinstance(value, bool) if tp is int else tp is str and isinstance(value, str)
    if not ok:
        problems.append(Problem(key, value, _describe(tp)))
        return INVALID
    return value


T = typing.TypeVar("T")


def parse_object(cls: type[T], raw: Mapping[str, Any], prefix: str, problems: list[Problem]) -> T:
    """Builds `cls` from camelCase keys; unknown keys, missing required keys and bad values are problems.
    Returns INVALID when anything was wrong, so cross-key checks skip half-read objects."""
    fields = {camel(f.name): f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    bad = False
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(Problem(prefix + key, raw[key], f"a known key, one of {', '.join(fields)}{hint}"))
            bad = True
    kwargs: dict[str, Any] = {}
    for key, f in fields.items():
        if key not in raw:
            if f.default is dataclasses.MISSING:
                problems.append(Problem(prefix + key, None, f"a value (required): {f.metadata['doc']}"))
                bad = True
            continue
        value = _coerce(hints[f.name], raw[key], prefix + key, problems)
        check: Check | None = f.metadata.get("check")
        if value is not INVALID and value is not None and check is not None and (expected := check(value)):
            problems.append(Problem(prefix + key, raw[key], expected))
            value = INVALID
        if value is INVALID:
            bad = True
        else:
            kwargs[f.name] = value
    return INVALID if bad else cls(**kwargs)
