"""The generic value checks both programs build theirs from. Each returns a `Rule`: the check, plus the
part of it a JSON Schema can say (stackconfig.json_schema puts it in the editors' schema)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from stackconfig.reader import Check, Rule

# No identifier checked by a pattern is longer; longer values are refused before matching.
MAX_MATCHED = 1000


def schema_of(check: Check | None) -> dict[str, Any]:
    """What a JSON Schema can say of a check: nothing for a plain function."""
    return dict(check.schema) if isinstance(check, Rule) else {}


def matches(pattern: re.Pattern[str], expected: str) -> Rule:
    return Rule(lambda value: None if len(value) <= MAX_MATCHED and pattern.fullmatch(value) else expected,
                {"pattern": pattern.pattern, "maxLength": MAX_MATCHED})


def one_of(allowed: Iterable[str], expected: str) -> Rule:
    known = frozenset(allowed)
    return Rule(lambda value: None if value in known else expected, {"enum": sorted(known)})


def in_range(low: int, high: int, unit: str = "") -> Rule:
    return Rule(lambda value: None if low <= value <= high else f"a number from {low} to {high}{unit}",
                {"minimum": low, "maximum": high})


def non_empty(expected: str) -> Rule:
    """Refuses the empty string, which a type check lets through."""
    return Rule(lambda value: expected if value == "" else None, {"minLength": 1})


def short(value: object, limit: int = 60) -> str:
    """A value as messages quote it: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def each(check: Check) -> Rule:
    """Applies a check to every item of a list; reports the first bad item with its index."""
    def run(values: Iterable[object]) -> str | None:
        for index, value in enumerate(values):
            expected = check(value)
            if expected:
                return f"item {index} ({short(value)}): {expected}"
        return None
    item = schema_of(check)
    return Rule(run, {"items": item} if item else {})


def all_of(*checks: Check) -> Rule:
    """The first problem any of the checks finds."""
    def run(value: object) -> str | None:
        return next((found for check in checks if (found := check(value))), None)
    parts = [part for part in map(schema_of, checks) if part]
    merged: dict[str, Any] = {}
    for part in parts:
        if merged.keys() & part.keys():
            return Rule(run, {"allOf": parts})
        merged |= part
    return Rule(run, merged)
