"""components/config_schema.py on small schemas of its own: every wrong-type message, the hiding of
secret values (numbers included) in messages, the length cuts at their limits, and the unknown-key
message. These are what a user reads when a config is refused; each is pinned word for word."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from components.config_schema import INVALID, Problem, coerce, setting


@dataclass(frozen=True)
class Inner:
    size: int = setting(1, doc="A size.", check=lambda v: None if v < 10 else "under 10")


@dataclass(frozen=True)
class Outer:
    name: str = setting("n", doc="A name.")
    enabled: bool = setting(False, doc="On or off.")
    mode: Literal["a", 1] = setting("a", doc="A mode.")
    tags: tuple[str, ...] = setting(doc="Tags.", factory=lambda: ("v",))
    port: int | None = setting(None, doc="A port.")
    inner: Inner = setting(doc="Nested.", factory=Inner)
    derived: str = dataclasses.field(default="x", init=False)


@pytest.mark.parametrize(("tp", "value", "expected"), [
    (bool, "true", "true or false"),
    (bool, 1, "true or false"),
    (int, "5", "a whole number"),
    (int, True, "a whole number"),  # bool is an int in Python, not in config
    (int, 1.5, "a whole number"),
    (str, 5, "a string"),
    (Literal["a", 1], "b", 'one of "a", 1'),
    (Literal["a", 1], True, 'one of "a", 1'),  # `true` is not the literal 1
    (tuple[str, ...], "a", "a list, each item a string"),
    (tuple[int, ...], {"a": 1}, "a list, each item a whole number"),
    (int | None, "x", "a whole number"),  # one type besides None: its own message
    (Inner, 5, "an object with keys size"),
    (Outer, [], "an object with keys name, enabled, mode, tags, port, inner"),
])
def test_every_wrong_type_says_what_is_expected(tp: Any, value: Any, expected: str) -> None:
    problems: list[Problem] = []
    assert coerce(tp, value, "k", problems) is INVALID
    assert problems == [Problem("k", value, expected)]
