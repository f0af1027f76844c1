"""The value checks of components/checks.py at their edges: each bound is accepted at the bound and
refused one past it, and each message says what is expected. These are the cases a changed comparison,
limit or wording would fail (mutation testing found them unpinned: docs/development.md)."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest

from components import checks, settings
from stackconfig import rules
from stackconfig.reader import config_fields


def test_in_range_accepts_both_ends_and_refuses_one_past_each() -> None:
    check = checks.in_range(10, 20, " GB")
    assert check(10) is None
    assert check(20) is None
    assert check(9) == "a number from 10 to 20 GB"
    assert check(21) == "a number from 10 to 20 GB"
    assert checks.in_range(1, 5)(6) == "a number from 1 to 5"


def _range_fields(cls: type, prefix: str = "") -> typing.Iterator[tuple[str, checks.Check]]:
    hints = typing.get_type_hints(cls)
    for key, f in config_fields(cls).items():
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _range_fields(tp, f"{prefix}{key}.")  # type: ignore[arg-type]
        elif f.metadata.get("check") is not None and tp in (int, int | None):
            yield prefix + key, f.metadata["check"]


RANGES = list(_range_fields(settings.Settings))


def test_every_number_setting_has_a_range() -> None:
    assert {"registry.port", "registryVm.diskSizeGb", "budget.amount"} <= {key for key, _ in RANGES}


@pytest.mark.parametrize(("key", "check"), RANGES, ids=[key for key, _ in RANGES])
def test_every_range_in_the_settings_includes_the_bounds_its_message_names(key: str, check: checks.Check) -> None:
    message = check(10**18)
    assert message is not None
    found = re.fullmatch(r"a number from (\d+) to (\d+)( .+)?", message)
    assert found, message
    low, high = int(found[1]), int(found[2])
    assert check(low) is None and check(high) is None
    assert check(low - 1) == message and check(high + 1) == message


def test_matches_refuses_values_longer_than_any_identifier_before_matching() -> None:
    check = checks.matches(re.compile(r"a*"), "only a")
    assert check("a" * rules.MAX_MATCHED) is None
    assert check("a" * (rules.MAX_MATCHED + 1)) == "only a"
    assert check("b") == "only a"


def test_all_of_reports_the_first_problem_found() -> None:
    check = checks.all_of(lambda v: None, lambda v: "first", lambda v: "second")
    assert check("x") == "first"
    assert checks.all_of(lambda v: None)("x") is None
    # each check sees the value itself
    assert checks.all_of(checks.one_of(["a", "b"], "a or b"), checks.one_of(["b"], "b"))("a") == "b"


def test_non_empty() -> None:
    assert checks.non_empty("a branch")("") == "a branch"
    assert checks.non_empty("a branch")("main") is None


def test_short_quotes_up_to_the_limit_and_cuts_past_it() -> None:
    assert checks.short("a" * 58) == repr("a" * 58)  # 60 characters with the quotes
    assert checks.short("a" * 59) == f"{repr('a' * 59)[:60]}... (61 characters)"
    assert checks.short("abcdef", limit=5) == "'abcd... (8 characters)"


def test_one_of() -> None:
    check = checks.one_of(["a", "b"], "a or b")
    assert check("b") is None
    assert check("c") == "a or b"


def test_each_names_the_first_bad_item_and_its_index() -> None:
    check = checks.each(checks.one_of(["ok"], "ok"))
    assert check(["ok", "ok"]) is None
    assert check(["ok", "no", "nope"]) == "item 1 ('no'): ok"


MEMBER_MESSAGE = "an IAM member 'user:EMAIL', 'group:EMAIL', 'serviceAccount:EMAIL' or 'domain:DOMAIN'"
PUBLIC_MESSAGE = "a named principal: public access (allUsers / allAuthenticatedUsers) is never granted"


def test_iam_member_length_limit_is_inclusive() -> None:
    longest = "user:" + "a" * 64 + "@" + "b" * 196 + ".com"
    assert len(longest) == checks.MAX_MEMBER
    assert checks.iam_member(longest) is None
    assert checks.iam_member(longest.replace("@", "@b")) == MEMBER_MESSAGE  # 271: only the length is wrong


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers", "user:allUsers",
                                    "group:allAuthenticatedUsers"])
def test_iam_member_never_public(member: str) -> None:
    assert checks.iam_member(member) == PUBLIC_MESSAGE


@pytest.mark.parametrize("member", ["user:a@example.com", "group:team@example.com",
                                    "serviceAccount:ci@p-123456.iam.gserviceaccount.com", "domain:example.com"])
def test_iam_member_kinds(member: str) -> None:
    assert checks.iam_member(member) is None


@pytest.mark.parametrize("member", ["a@example.com", "owner:a@example.com", "domain:Example.com", "user:a@b",
                                    "user:x:allUsers", "a:b:allUsers"])  # only the first colon separates
def test_iam_member_refused(member: str) -> None:
    assert checks.iam_member(member) == MEMBER_MESSAGE


def test_distinct_compares_addresses_without_case() -> None:
    assert checks.distinct(["user:a@x.com", "user:b@x.com"]) is None
    assert checks.distinct(["user:a@x.com", "user:b@x.com", "user:A@x.com"]) == (
        "each member once: item 2 ('user:A@x.com') repeats item 0")


CIDR_MESSAGE = "a CIDR range such as 203.0.113.0/24 (host bits zero)"


def test_cidr() -> None:
    assert checks.cidr("203.0.113.0/24") is None
    assert checks.cidr("2001:db8::/32") is None
    assert checks.cidr("203.0.113.1/24") == CIDR_MESSAGE
    assert checks.cidr("nope") == CIDR_MESSAGE


def test_admin_cidr_widest_ranges_are_inclusive() -> None:
    assert checks.admin_cidr("10.0.0.0/8") is None
    assert checks.admin_cidr("10.0.0.0/7") == (
        "a source range of /8 or narrower: /7 admits a large part of the internet")
    assert checks.admin_cidr("2001:db8::/32") is None
    assert checks.admin_cidr("2001:db8::/31") == (
        "a source range of /32 or narrower: /31 admits a large part of the internet")
    assert checks.admin_cidr("203.0.113.7/32") is None
    assert checks.admin_cidr("203.0.113.7/24") == CIDR_MESSAGE


@pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"])
def test_admin_cidr_never_the_world(world: str) -> None:
    assert checks.admin_cidr(world) == (
        "a narrow source range: 0.0.0.0/0 and ::/0 would open the port to the whole internet")


PRIVATE_MESSAGE = ("a private IPv4 range from /8 to /29 inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or "
                   "100.64.0.0/10, such as 10.20.0.0/24")


@pytest.mark.parametrize("value", ["10.0.0.0/8", "10.20.0.0/29", "172.16.0.0/12", "172.31.255.0/24",
                                   "192.168.0.0/16", "100.64.0.0/10", "100.127.0.0/16"])
def test_private_cidr_accepts_each_private_range_from_8_to_29(value: str) -> None:
    assert checks.private_cidr(value) is None


@pytest.mark.parametrize("value", ["10.20.0.0/30", "10.20.0.4/32", "172.32.0.0/16", "192.169.0.0/16",
                                   "100.128.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "fd00::/64", "8.8.8.0/24"])
def test_private_cidr_refuses_other_ranges(value: str) -> None:
    assert checks.private_cidr(value) == PRIVATE_MESSAGE


def test_private_cidr_says_host_bits_first() -> None:
    assert checks.private_cidr("10.20.0.1/24") == CIDR_MESSAGE
