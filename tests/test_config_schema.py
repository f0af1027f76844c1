"""components/config_schema.py on small schemas of its own: every wrong-type message, the hiding of
secret values (numbers included) in messages, the length cuts at their limits, and the unknown-key
message. These are what a user reads when a config is refused; each is pinned word for word."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from stackconfig import reader as cs
from stackconfig.reader import INVALID, Problem, SettingsError, coerce, parse_object, setting


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
    (Literal["local", "gcp"], "locl", 'one of "local", "gcp"; did you mean \'local\'?'),
    (Literal["local", "gcp"], "zzz", 'one of "local", "gcp"'),
    (Literal["local", 5], 6, 'one of "local", 5'),  # only text gets a suggestion
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


@pytest.mark.parametrize(("tp", "value"), [
    (bool, False), (int, 0), (str, ""), (Literal["a", 1], 1), (Literal["a", 1], "a"), (int | None, None),
])
def test_right_types_pass_unchanged(tp: Any, value: Any) -> None:
    problems: list[Problem] = []
    assert coerce(tp, value, "k", problems) == value
    assert problems == []


def test_a_union_of_several_types_names_each() -> None:
    assert cs._describe(int | str | None) == "a whole number or a string (or unset)"
    assert cs._describe(tuple[bool, ...]) == "a list, each item true or false"


def test_lists_become_tuples_and_name_each_bad_item() -> None:
    problems: list[Problem] = []
    assert coerce(tuple[str, ...], ["a", "b"], "k", problems) == ("a", "b")
    assert coerce(tuple[str, ...], ["a", 1, 2], "k", problems) is INVALID
    assert problems == [Problem("k[1]", 1, "a string"), Problem("k[2]", 2, "a string")]


@pytest.mark.parametrize("value", ["a\0b", "\ud800"])
def test_text_that_no_api_can_carry_is_refused(value: str) -> None:
    problems: list[Problem] = []
    assert coerce(str, value, "k", problems) is INVALID
    assert problems == [Problem("k", value, "text without NUL characters or unpaired surrogates")]


def test_parse_object_reads_known_keys_and_runs_each_check() -> None:
    problems: list[Problem] = []
    parsed = parse_object(Outer, {"name": "x", "tags": ["a"], "inner": {"size": 3}}, "p.", problems)
    assert parsed == Outer(name="x", tags=("a",), inner=Inner(3))
    assert problems == []
    assert parse_object(Outer, {"inner": {"size": 10}}, "p.", problems) is INVALID
    assert problems == [Problem("p.inner.size", 10, "under 10")]


def test_a_check_sees_only_values_of_the_right_type() -> None:
    problems: list[Problem] = []
    assert parse_object(Inner, {"size": "big"}, "", problems) is INVALID
    assert problems == [Problem("size", "big", "a whole number")]  # and no "under 10" from the check


def test_an_unknown_key_lists_the_valid_ones_and_suggests_the_closest() -> None:
    problems: list[Problem] = []
    assert parse_object(Outer, {"enabeld": True, "name": "ok"}, "p.", problems, also_known=["secretKey"]) is INVALID
    assert problems == [Problem(
        "p.enabeld", True,
        "a known key ('enabeld' is not one); valid here: name, enabled, mode, tags, port, inner, secretKey; "
        "did you mean 'enabled'?", unknown_key=True)]
    assert problems[0].hidden().unknown_key  # still listed first when its value is a secret


def test_extra_values_are_passed_through() -> None:
    problems: list[Problem] = []
    assert parse_object(Inner, {}, "", problems, extra={"size": 4}) == Inner(4)


def test_suggest() -> None:
    assert cs.suggest("prot", ["port", "name"]) == "; did you mean 'port'?"
    assert cs.suggest("zzzz", ["port", "name"]) == ""
    assert cs.suggest("p" * 100 + "ort", ["p" * 100 + "orts"]) == ""  # too long to compare
    assert cs.suggest("p" * 96 + "ort", ["p" * 96 + "orts"]) == f"; did you mean {'p' * 96 + 'orts'!r}?"


def test_closest() -> None:
    assert cs.closest("prot", ["port", "name"]) == "port"
    assert cs.closest("zzzz", ["port", "name"]) is None
    assert cs.closest("p" * 97 + "ort", ["p" * 97 + "orts"]) == "p" * 97 + "orts"  # 100 characters
    assert cs.closest("p" * 98 + "ort", ["p" * 98 + "orts"]) is None


def test_camel() -> None:
    assert cs.camel("disk_size_gb") == "diskSizeGb"
    assert cs.camel("port") == "port"


def test_problem_shows_the_value_or_says_it_is_unset_or_hidden() -> None:
    assert str(Problem("a.b", "x", "y")) == "a.b = 'x': expected y"
    assert str(Problem("a.b", 5, "y")) == "a.b = 5: expected y"
    assert str(Problem("a.b", {"k": [1]}, "y")) == 'a.b = {"k": [1]}: expected y'
    assert str(Problem("a.b", None, "y")) == "a.b = (not set): expected y"
    assert str(Problem("a.b", "x", "y", secret=True)) == "a.b = (value hidden): expected y"
    assert str(Problem("a.b", {1, 2}, "y")) == "a.b = (a set too large to show): expected y"


def test_keys_and_values_are_cut_past_200_characters() -> None:
    assert str(Problem("k" * 200, "v", "e")) == "k" * 200 + " = 'v': expected e"
    assert str(Problem("k" * 201, "v", "e")) == "k" * 200 + "... (201 characters) = 'v': expected e"
    assert cs._shown("v" * 198) == repr("v" * 198)  # 200 with the quotes
    assert cs._shown("v" * 199) == repr("v" * 199)[:200] + "... (201 characters)"


def test_a_hidden_problem_keeps_no_piece_of_the_value() -> None:
    hidden = Problem("s", "hunter22", "not 'hunter22' again").hidden()
    assert hidden == Problem("s", None, "not '***' again", secret=True)
    assert str(hidden) == "s = (value hidden): expected not '***' again"


@pytest.mark.parametrize("value", [123456, 1234.5, -98765])
def test_a_numeric_secret_is_hidden_in_messages(value: float) -> None:
    hidden = Problem("s", value, f"a number from 1 to 10, not {value}").hidden()
    assert hidden.expected == "a number from 1 to 10, not ***"
    assert hidden.value is None and hidden.secret


def test_pieces_of_a_secret_hide_the_whole_explanation() -> None:
    details_hidden = "a valid value (details hidden: the key holds a secret)"
    # a value cut short by the check: 6 characters of it are left
    assert Problem("s", "abcdefghij", "not 'abcdefg...'").hidden().expected == details_hidden
    # a value too short to replace safely, quoted anywhere
    assert Problem("s", "xyz", "xyz is no good").hidden().expected == details_hidden
    assert Problem("s", "xyz", "no good").hidden().expected == "no good"
    # repr and JSON escapes are hidden too
    assert Problem("s", 'a"b\\cd', 'not "a\\"b\\\\cd"').hidden().expected == 'not "***"'
    assert Problem("s", "ab\ncd", "not 'ab\\ncd'").hidden().expected == "not '***'"
    # keys and values inside objects and lists; booleans are no secret text
    assert Problem("s", {"user1": ["pass1"], "f": True}, "user1 pass1 True").hidden().expected == "*** *** True"


def test_strings_inside_a_value() -> None:
    assert cs._strings({"a": [1, "b", {"c": 2.5}], "": True}) == ["a", "1", "b", "c", "2.5"]
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    assert cs._strings(deep) == ["x"]
    assert cs._strings([deep]) == []  # past 100 levels: nothing printable is that deep


def test_settings_error_lists_every_problem() -> None:
    err = SettingsError([Problem("a", 1, "x"), Problem("b", None, "y")])
    assert str(err) == ("the stack config has 2 problem(s); fix each with `pulumi config set [--path] KEY VALUE`:\n"
                        "  - a = 1: expected x\n  - b = (not set): expected y")
    assert err.problems == (Problem("a", 1, "x"), Problem("b", None, "y"))


def test_reference_rows_for_the_configuration_table() -> None:
    assert cs.reference(Outer) == [
        ("name", json.dumps("n"), "A name."),
        ("enabled", "false", "On or off."),
        ("mode", '"a"', "A mode."),
        ("tags", '["v"]', "Tags."),
        ("port", "(unset)", "A port."),
        ("inner.size", "1", "A size."),
    ]
    assert list(cs.config_fields(Outer)) == ["name", "enabled", "mode", "tags", "port", "inner"]


def test_setting_carries_doc_check_and_default_into_the_dataclass() -> None:
    # Built here, not at import: mutation testing sees only calls made while a test runs.
    def check(value: int) -> str | None:
        return None if value else "not zero"

    @dataclass(frozen=True)
    class Local:
        required: str = setting(doc="No default.")
        plain: int = setting(3, doc="Plain.", check=check)
        listed: tuple[str, ...] = setting(doc="Made.", factory=lambda: ("a",))
        nested: Inner = setting(doc="Nested.", factory=Inner)
        after: bool = setting(True, doc="After the nested one.")

    fields = {f.name: f for f in dataclasses.fields(Local)}
    assert fields["plain"].metadata == {"doc": "Plain.", "check": check}
    assert fields["plain"].default == 3 and fields["listed"].default_factory() == ("a",)
    assert fields["required"].default is dataclasses.MISSING
    assert fields["required"].default_factory is dataclasses.MISSING
    assert Local(required="r") == Local("r", 3, ("a",), Inner(1), True)
    assert cs.reference(Local) == [
        ("required", "(unset)", "No default."),
        ("plain", "3", "Plain."),
        ("listed", '["a"]', "Made."),
        ("nested.size", "1", "A size."),
        ("after", "true", "After the nested one."),  # fields after a nested object are listed too
    ]
    problems: list[Problem] = []
    assert parse_object(Local, {"required": "r", "plain": 0}, "", problems) is INVALID
    assert problems == [Problem("plain", 0, "not zero")]


def test_suggest_compares_keys_up_to_100_characters() -> None:
    assert cs.suggest("p" * 97 + "ort", ["p" * 97 + "orts"]) == f"; did you mean {'p' * 97 + 'orts'!r}?"
    assert cs.suggest("p" * 98 + "ort", ["p" * 98 + "orts"]) == ""


def test_hiding_replaces_the_longest_pieces_first() -> None:
    # "zzzz" first would leave "a***b", and the rest of the longer piece would show
    assert Problem("s", ["zzzz", "azzzzb"], "not azzzzb").hidden().expected == "not ***"
    # four characters are replaced where they stand
    assert Problem("s", "abcd", "not abcd").hidden().expected == "not ***"


@pytest.mark.parametrize(("value", "expected"), [
    ("abcdefghij", "cut: abcdef"),  # the value's first 6 characters, at the very end
    ("abcdefg", "not xbcdefg"),  # the value's last 6 characters
])
def test_six_characters_of_a_secret_anywhere_hide_the_explanation(value: str, expected: str) -> None:
    assert Problem("s", value, expected).hidden().expected == "a valid value (details hidden: the key holds a secret)"


def test_strings_stop_past_100_levels_in_objects_too() -> None:
    def nest(value: Any, levels: int) -> Any:
        for _ in range(levels):
            value = [value]
        return value
    assert cs._strings(nest({"key": "val"}, 99)) == ["key", "val"]  # both at depth 100
    assert cs._strings(nest({"key": "val"}, 100)) == []


def test_a_type_the_schema_does_not_know_is_named_as_python_names_it() -> None:
    assert cs._describe(float) == "<class 'float'>"


def test_a_schema_bug_names_the_type_and_the_key() -> None:
    with pytest.raises(TypeError, match=r"^unsupported settings type <class 'float'> at a\.b$"):
        coerce(float, 1.0, "a.b", [])
