"""registryVm.gcSchedule follows systemd's calendar grammar: the settings check (components/calendar.py)
agrees with the real `systemd-analyze calendar` on a table of schedules and on generated ones, and a
schedule systemd would refuse (its timer never loading, collection silently off) fails at settings time."""

from __future__ import annotations

import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.calendar import calendar_problem
from components.settings import RegistryVmSettings
from tests.harness import registered_by_last_failure, run_stack
from tests.peers import binary

NS = "image-sharing"
pytestmark = pytest.mark.integration
GOOD = [RegistryVmSettings().gc_schedule, "Sat *-*-* 19:00", "sat 19:00", "Saturday 19:00:00", "Mon..Fri 02:30",
        "Mon-Wed,Fri 1:00", "weekly", "Daily", "semi-annually", "*-*-* 02:30:00", "*:0/15", "*-*~03",
        "2026-12-04 01:00", "Sun *-*-1..7 3:00", "*-*-* 00:00:00 Asia/Seoul", "hourly UTC", "Sat 19:00:00.5",
        "3..3:00", "1..3/5:00", "@1700000000", "Sat,", "*-1~10,25", "69-01-01"]
BAD = ["every saturday", "Sat *-*-* 25:00:00", "Sun 25:00", "Sa 19:00", "Satu 19:00", "Sat 19:00 Europe/Nowhere",
       "Fri..Mon 1:00", "Sat..", "Mon,,Tue", "*:0/60", "*-02-32", "2200-01-01", "1969-12-31", "Sat 19:00:00.",
       "*:*:59.9999995", " Sat 19:00", "Sat 19:00 ", "UTC", "*/2:00", "*-1~10,25,24/2", "@-1", ""]


def peer_accepts(expression: str) -> bool:
    """What systemd itself says, in the VM's time zone (UTC)."""
    done = subprocess.run([binary("systemd-analyze"), "calendar", "--", expression], capture_output=True,
                          text=True, env={**os.environ, "TZ": "UTC"}, timeout=30, check=False)
    return done.returncode == 0


@pytest.mark.parametrize("expression", GOOD + BAD)
def test_the_check_agrees_with_systemd(expression: str) -> None:
    assert peer_accepts(expression) is (expression in GOOD), "the table itself is wrong"
    assert (calendar_problem(expression) is None) is (expression in GOOD), calendar_problem(expression)


ATOMS = ["Mon", "Sat", "sun", "Friday", "..", "-", ",", "~", "*", ":", "/", " ", "1", "0", "7", "23", "24", "59",
         "60", "12", "31", "2026", "69", "2199", "2200", ".5", ".9999995", "@", " UTC", "utc", " Asia/Seoul",
         "daily", "weekly", "x"]


def field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low - 1, high + 2).map(str)
    part = st.tuples(number, st.none() | number, st.none() | st.integers(0, high).map(str)).map(
        lambda t: t[0] + (f"..{t[1]}" if t[1] else "") + (f"/{t[2]}" if t[2] else ""))
    return st.just("*") | st.lists(part, min_size=1, max_size=3).map(",".join)


SHAPED = st.tuples(
    st.sampled_from(["", "Sat ", "Mon..Fri ", "sat,sun ", "Sun..Mon ", "Tue-Thu "]),
    st.just("") | st.tuples(field(1, 12), st.sampled_from("-~"), field(1, 31)).map(lambda t: "".join(t) + " ")
    | st.tuples(field(2020, 2200), field(1, 12), field(1, 31)).map(lambda t: "-".join(t) + " "),
    st.just("") | st.tuples(field(0, 23), field(0, 59)).map(":".join)
    | st.tuples(field(0, 23), field(0, 59), field(0, 59)).map(":".join),
    st.sampled_from(["", " UTC", " Asia/Seoul", " Nowhere/X"]),
).map(lambda t: (t[0] + t[1] + t[2]).rstrip() + t[3])
SCRAMBLED = st.lists(st.sampled_from(ATOMS), min_size=1, max_size=9).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SHAPED | SCRAMBLED)
def test_the_check_agrees_with_systemd_on_generated_schedules(expression: str) -> None:
    assert (calendar_problem(expression) is None) is peer_accepts(expression), calendar_problem(expression)


@pytest.mark.parametrize("schedule", ["every saturday", "Sat *-*-* 25:00:00"])
def test_a_bad_schedule_fails_at_settings_time(schedule: str) -> None:
    with pytest.raises(Exception) as caught:
        run_stack("dev", overrides={f"{NS}:registryVm": {"gcSchedule": schedule}})
    assert registered_by_last_failure() == [], "a bad config must fail before any resource"
    message = str(caught.value)
    assert f"{NS}:registryVm.gcSchedule = {schedule!r}" in message
    assert 'expected a systemd OnCalendar expression such as "Sat *-*-* 19:00:00 UTC"' in message
