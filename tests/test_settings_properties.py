"""Property-based tests over generated configs (tests/settings_strategies.py builds them from the
settings dataclasses, so every key is covered, including keys added later).

The invariant: a config either fails with a SettingsError, before any resource is registered, that
names every key known to be bad and prints no secret; or it runs, and every name the program derived
passes its target's rule (tests/gcp_rules.py). Any other exception is a crash, and fails the test.

Derandomized: CI and laptops run the same cases; the counts are kept small enough for `make test`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from components import checks, grammars
from components.settings import SECRET_KEYS
from stackconfig.reader import SettingsError
from tests.gcp_rules import violations
from tests.harness import registered_by_last_failure, run_stack
from tests.settings_strategies import NS, Config, configs

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
STACKS = st.sampled_from(["dev", "prod", "local"])
ALL_SECRETS = {f"{NS}:{key}": f"test-secret-{key}" for key in SECRET_KEYS}


def check(stack: str, config: Config, secrets: dict[str, str]) -> str | None:
    """Runs the stack; returns the error message, or None after checking the run's derived names."""
    try:
        run = run_stack(stack, overrides=config.overrides, secrets=secrets)
    except SettingsError as err:
        assert registered_by_last_failure() == [], "a bad config must fail before any resource"
        named = {p.key for p in err.problems}
        for key in config.bad:
            assert any(n == key or n.startswith((key + ".", key + "[")) for n in named), (key, named)
        message = str(err)
        assert all(len(line) < 2000 for line in message.splitlines())
        event("refused")
        return message
    assert not config.bad, f"ran although {sorted(config.bad)} are bad"
    assert violations(run) == []
    event("ran")
    return None


@PROPERTY
@given(stack=STACKS, config=configs(), with_secrets=st.booleans())
def test_any_config_is_refused_naming_its_bad_keys_or_runs_with_valid_names(
        stack: str, config: Config, with_secrets: bool) -> None:
    check(stack, config, ALL_SECRETS if with_secrets else {})


@PROPERTY
@given(stack=STACKS, config=configs(hostile=False))
def test_configs_of_the_right_types_run_with_valid_names_or_are_refused_before_any_resource(
        stack: str, config: Config) -> None:
    # All secrets set: cross-key rules that want a token do not hide the runs.
    check(stack, config, ALL_SECRETS)


def _marked(value: Any) -> Any:
    """Every string in a value made recognisable, so a test can look for it in a message."""
    if isinstance(value, str):
        return "zqx" + value
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


@PROPERTY
@given(stack=STACKS, config=configs(), data=st.data())
def test_values_set_as_secrets_never_appear_in_a_message(stack: str, config: Config, data: st.DataObject) -> None:
    own = sorted(k for k in config.overrides if k.startswith(f"{NS}:"))
    chosen = data.draw(st.lists(st.sampled_from(own), unique=True) if own else st.just([]))
    typo = data.draw(st.sampled_from([f"{NS}:githubTokn", f"{NS}:dockerHubTokn", f"{NS}:registryTlsKy",
                                      "gcp:credentials"]))
    secrets = {key: json.dumps(_marked(config.overrides.pop(key))) for key in chosen}
    secrets[typo] = "zqx-a-token"
    try:
        run_stack(stack, overrides=config.overrides, secrets=secrets)
    except SettingsError as err:
        assert "zqx" not in str(err)
        assert any(p.key == typo and p.secret for p in err.problems)
    else:
        pytest.fail(f"{typo} is not a key this program reads, yet the run went through")


def _look_alike(member: str) -> st.SearchStrategy[str]:
    """The same member, or one that reads alike once slugged: case changed, '.' and '-' swapped."""
    kind, _, address = member.partition(":")
    return st.sampled_from([member, f"{kind}:{address.upper()}", member.replace(".", "-"), member.replace("-", "."),
                            member.replace(".", "_")])


# A few members, then a list drawn from them and their look-alikes: repeats are likely.
ADDRESSES = st.from_regex(r"[a-z0-9]{1,4}([.\-_][a-z0-9]{1,4}){0,2}@(example\.com|x-y\.example)", fullmatch=True)
MEMBERS = st.lists(st.tuples(st.sampled_from(["user", "group", "serviceAccount"]), ADDRESSES).map(":".join),
                   min_size=1, max_size=3).flatmap(
    lambda bases: st.lists(st.sampled_from(bases).flatmap(_look_alike), min_size=1, max_size=4)
).flatmap(lambda members: st.sampled_from([members, [*members, members[0]]]))  # and exact repeats


# Every member list the program turns into IAM resources, with the rest of the config it needs.
MEMBER_LISTS = {
    "artifactRegistry.readers": {},
    "artifactRegistry.writers": {},
    "buildTrigger.approvers": {"githubRepository": "acme/site", "requireApproval": True},
}


@settings(max_examples=45, deadline=None, derandomize=True, database=None)
@given(path=st.sampled_from(sorted(MEMBER_LISTS)), members=MEMBERS)
def test_members_never_give_two_resources_one_name(path: str, members: list[str]) -> None:
    top, key = path.split(".")
    config = Config({f"{NS}:{top}": {**MEMBER_LISTS[path], key: members}})
    message = check("dev", config, {})
    if message is not None:
        # Only the list may be refused.
        assert all(line.startswith(f"  - {NS}:{path} = ") for line in message.splitlines()[1:]), message


# Text shaped like what the checks parse (references, members, ranges, patterns), and any text.
REFERENCE_LIKE = st.tuples(
    st.sampled_from(["", "example.com/", "localhost:5000/", "[::1]:5000/", "Upper.io/"]),
    st.text(alphabet="ab9._-/A", min_size=0, max_size=12),
    st.sampled_from(["", ":1", ":latest", ":-x", ":" + "v" * 129]),
    st.sampled_from(["", "@sha256:", "@sha512:", "@md5:", "@SHA256:"]),
    st.sampled_from(["a" * 64, "A" * 64, "a" * 63, "f" * 32, "0" * 128, "g" * 64])
    | st.text(alphabet="0aAg", max_size=9),
).map("".join)
SHAPED = (st.text(alphabet="aZ09:/@._-[]()*+?{}\\^$|%sha256ABCDEF", max_size=80) | st.text(max_size=40)
          | REFERENCE_LIKE)
CHECKS = [grammars.re2_pattern, grammars.image_reference, grammars.pinned_image, grammars.image_path,
          grammars.docker_hub_repository, grammars.bucket_name, grammars.currency, checks.iam_member, checks.cidr,
          checks.admin_cidr]


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=SHAPED)
def test_every_check_answers_none_or_what_is_expected_never_raises(value: str) -> None:
    for check in CHECKS:
        answer = check(value)
        assert answer is None or (isinstance(answer, str) and answer)
