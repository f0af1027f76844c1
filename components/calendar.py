"""systemd's calendar-event grammar (systemd.time(7), `OnCalendar=`), followed step by step from
`calendar_spec_from_string` in systemd's src/shared/calendarspec.c (systemd-stable, as v252, the
peer the tests run, behaves), so a
schedule systemd would refuse, leaving the timer unloaded and collection silently off, is refused at
settings time instead. `systemd-analyze calendar` is the peer it is tested against.

Layout: [WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [TIMEZONE], or one of the shorthands
(minutely, hourly, daily, ...), or `@UNIX-SECONDS`. Each field is `*` or a comma list of
`VALUE[..END][/REPEAT]`; the day may count from the month's end with `~`."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import cache

INT_MAX = 2**31 - 1
ULONG_MAX = 2**64 - 1
USEC_PER_SEC = 1_000_000
MIN_YEAR, MAX_YEAR = 1970, 2199
COMPONENTS_MAX = 240  # nesting limit of one comma list (CALENDARSPEC_COMPONENTS_MAX)
SHORTHANDS = {"minutely", "hourly", "daily", "monthly", "annually", "yearly", "anually", "weekly", "quarterly",
              "biannually", "bi-annually", "semiannually", "semi-annually"}
# Longer names first, as in systemd's table: "Monday" is tried before "Mon".
WEEKDAYS = (("monday", 0), ("mon", 0), ("tuesday", 1), ("tue", 1), ("wednesday", 2), ("wed", 2),
            ("thursday", 3), ("thu", 3), ("friday", 4), ("fri", 4), ("saturday", 5), ("sat", 5),
            ("sunday", 6), ("sun", 6))
EXAMPLE = '"Sat *-*-* 19:00:00 UTC"'


class CalendarError(ValueError):
    pass


@dataclass
class _Component:
    start: int
    stop: int = -1
    repeat: int = 0


class _Text:
    """A cursor over the expression; `peek()` past the end is "" (C's terminating NUL)."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def peek(self, offset: int = 0) -> str:
        index = self.at + offset
        return self.text[index] if index < len(self.text) else ""

    def rest(self) -> str:
        return self.text[self.at:]

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.at += 1


def _digits(text: _Text) -> int:
    start = text.at
    while text.peek().isascii() and text.peek().isdigit():
        text.at += 1
    return int(text.text[start:text.at])


def _decimal(text: _Text, usec: bool) -> int:
    """parse_component_decimal: digits, and for seconds an optional fraction (six digits, rounded)."""
    if not (text.peek().isascii() and text.peek().isdigit()):
        raise CalendarError(f"a number where {text.rest()[:10]!r} stands")
    value = _digits(text)
    if value > ULONG_MAX:
        raise CalendarError("a number that fits")
    if usec:
        if value * USEC_PER_SEC > ULONG_MAX:
            raise CalendarError("a number that fits")
        value *= USEC_PER_SEC
        if text.peek() == "." and text.peek(1) != ".":
            text.at += 1
            value += _fraction(text)
    if value > INT_MAX:
        raise CalendarError("a number that fits")
    return value


def _fraction(text: _Text) -> int:
    """parse_fractional_part_u with 6 digits: at least one digit; a 7th digit of 5-9 rounds up."""
    value, digits = 0, 0
    while digits < 6:
        char = text.peek()
        if not (char.isascii() and char.isdigit()):
            if digits == 0:
                raise CalendarError("digits after the decimal point")
            value *= 10 ** (6 - digits)
            break
        value, digits = value * 10 + int(char), digits + 1
        text.at += 1
    if text.peek() in "56789" and text.peek():
        value += 1
    while text.peek().isascii() and text.peek().isdigit():
        text.at += 1
    return value


def _chain(text: _Text, usec: bool) -> list[_Component] | None:
    """parse_chain: `*` (None, or every second for the seconds field) or a comma list of components."""
    if text.peek() == "*":
        text.at += 1
        return [_Component(0, -1, USEC_PER_SEC)] if usec else None
    chain: list[_Component] = []
    while True:
        if len(chain) > COMPONENTS_MAX:
            raise CalendarError(f"at most {COMPONENTS_MAX + 1} values in one list")
        start, stop, repeat = _decimal(text, usec), -1, 0
        if text.peek() == "." and text.peek(1) == ".":
            text.at += 2
            stop, repeat = _decimal(text, usec), USEC_PER_SEC if usec else 1
        if text.peek() == "/":
            text.at += 1
            repeat = _decimal(text, usec)
            if repeat == 0:
                raise CalendarError("a repetition of at least 1")
        elif start > INT_MAX - repeat or (usec and stop >= 0 and start + repeat > stop):
            raise CalendarError("a range of seconds at least one second long")
        if text.peek() not in ("", " ", ",", "-", "~", ":"):
            raise CalendarError(f"a separator where {text.rest()[:10]!r} stands")
        chain.append(_Component(start, stop, repeat))
        if text.peek() != ",":
            return chain
        text.at += 1


@dataclass
class _Spec:
    weekdays: int = 0
    end_of_month: bool = False
    year: list[_Component] | None = None
    month: list[_Component] | None = None
    day: list[_Component] | None = None
    hour: list[_Component] | None = None
    minute: list[_Component] | None = None
    second: list[_Component] | None = None


def _weekdays(text: _Text, spec: _Spec) -> None:
    """parse_weekdays: names (case-insensitive), `..` (or `-`) ranges, comma lists; none is fine."""
    low, first = -1, True
    while True:
        rest = text.rest().lower()
        found = next(((name, number) for name, number in WEEKDAYS if rest.startswith(name)), None)
        if found is None:
            if first:
                return
            raise CalendarError("a weekday name after the comma or range")
        name, number = found
        if text.peek(len(name)) not in ("", "-", ".", ",", " "):
            raise CalendarError("a weekday written in full (Saturday) or as three letters (Sat)")
        spec.weekdays |= 1 << number
        if low >= 0:
            if low > number:
                raise CalendarError("a weekday range in week order (Mon..Fri)")
            for between in range(low + 1, number):
                spec.weekdays |= 1 << between
        text.at += len(name)
        if text.peek() == "":
            return
        if text.peek() == " ":
            text.skip_spaces()
            return
        if text.peek() == ".":
            if low >= 0 or text.peek(1) != ".":
                raise CalendarError("`..` between two weekdays")
            low = number
            text.at += 2
        elif text.peek() == "-":
            if low >= 0:
                raise CalendarError("one range between two weekdays")
            low = number
            text.at += 1
        elif text.peek() == ",":
            low = -1
            text.at += 1
        if text.peek() in ("", " "):
            text.skip_spaces()
            if low >= 0:
                raise CalendarError("a weekday to end the range")
            return
        first = False


def _date(text: _Text, spec: _Spec) -> bool:
    """parse_date; True when `@SECONDS` settled everything (no time follows)."""
    if text.peek() == "":
        return False
    if text.peek() == "@":
        text.at += 1
        _timestamp(text, spec)
        return True
    probe = _Text(text.text)
    probe.at = text.at
    first = _chain(probe, False)
    if probe.peek() in ("", ":"):
        return False  # a time, not a date: parsed again from the start
    _date_separator(probe, spec)
    second = _chain(probe, False)
    if probe.peek() in ("", " "):
        probe.skip_spaces()
        text.at, spec.month, spec.day = probe.at, first, second
        return False
    if spec.end_of_month:
        raise CalendarError("`~` only before the day")
    _date_separator(probe, spec)
    third = _chain(probe, False)
    if probe.peek() not in ("", " "):
        raise CalendarError("a space after the date")
    probe.skip_spaces()
    text.at, spec.year, spec.month, spec.day = probe.at, first, second, third
    return False


def _date_separator(probe: _Text, spec: _Spec) -> None:
    """`-` between a date's parts, or `~` (counting the day from the month's end)."""
    if probe.peek() == "~":
        spec.end_of_month = True
    elif probe.peek() != "-":
        raise CalendarError("`-` between the date's parts")
    probe.at += 1


def _timestamp(text: _Text, spec: _Spec) -> None:
    """`@SECONDS` through strtoul (leading blanks and a sign allowed, negatives wrap), as UTC."""
    import datetime

    found = re.match(r"[ \t\n\v\f\r]*([+-]?)(\d+)", text.rest())
    if not found:
        raise CalendarError("digits after @")
    value = int(found.group(2))
    if value > ULONG_MAX:
        raise CalendarError("a timestamp that fits")
    if found.group(1) == "-":
        value = (-value) % (ULONG_MAX + 1)
    text.at += found.end()
    seconds = value - 2**64 if value >= 2**63 else value  # time_t is signed
    try:
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    except OverflowError as err:
        raise CalendarError("a timestamp between 1970 and 2199") from err
    spec.year, spec.month, spec.day = [_Component(moment.year)], [_Component(moment.month)], [_Component(moment.day)]
    spec.hour, spec.minute = [_Component(moment.hour)], [_Component(moment.minute)]
    spec.second = [_Component(moment.second * USEC_PER_SEC)]


def _time(text: _Text, spec: _Spec) -> None:
    """parse_calendar_time: HOUR:MINUTE[:SECOND]; nothing at all means 00:00:00."""
    if text.peek() == "":
        spec.hour, spec.minute, spec.second = [_Component(0)], [_Component(0)], [_Component(0)]
        return
    hour = _chain(text, False)
    if text.peek() != ":":
        raise CalendarError("HOUR:MINUTE")
    text.at += 1
    minute = _chain(text, False)
    if text.peek() == "":
        spec.hour, spec.minute, spec.second = hour, minute, [_Component(0)]
        return
    if text.peek() != ":":
        raise CalendarError("HOUR:MINUTE:SECOND")
    text.at += 1
    second = _chain(text, True)
    if text.peek() != "":
        raise CalendarError(f"nothing after the time, found {text.rest()[:10]!r}")
    spec.hour, spec.minute, spec.second = hour, minute, second


def _valid_chain(chain: list[_Component] | None, low: int, high: int, end_of_month: bool, what: str) -> None:
    """normalize_chain then chain_valid. Normalizing shortens each stop to a whole number of repeats,
    makes a range that cannot repeat (or ends where it starts) a single value, sorts and drops
    duplicates. chain_valid recurses down the sorted chain, and counting from the month's end it
    lowers the last allowed day by 3 at every element (so `*-1~10,25,24/2` is refused: systemd does)."""
    for c in chain or []:
        if c.stop > c.start and c.repeat > 0:
            c.stop -= (c.stop - c.start) % c.repeat
        if (c.stop > c.start and c.repeat > 0 and c.start + c.repeat > c.stop) or c.start == c.stop:
            c.stop, c.repeat = -1, 0
    ordered = sorted({(c.start, c.stop, c.repeat) for c in chain or []})
    for start, stop, repeat in ordered:
        if end_of_month:
            high -= 3
        problem = (start < low or start > high or repeat > high - low
                   or (stop >= 0 and (stop < low or stop > high or start + repeat > stop))
                   or (stop < 0 and end_of_month and start - repeat < low)
                   or (stop < 0 and not end_of_month and start + repeat > high))
        if problem:
            raise CalendarError(f"{what} within {low}..{high}, ranges in increasing order, repetitions that fit")


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone_is_valid(name: str) -> bool:
    """timezone_is_valid: UTC, or an IANA name of letters, digits, -_+ and single slashes."""
    if name == "UTC":
        return True
    if not name or name[0] == "/" or name[-1] == "/" or "//" in name:
        return False
    if not re.fullmatch(r"[0-9A-Za-z_+/-]+", name):
        return False
    return name in _zones()


def calendar_problem(expression: str) -> str | None:
    """None when systemd accepts EXPRESSION as a calendar event, else what is wrong with it."""
    try:
        _parse(expression)
    except CalendarError as err:
        return f"a systemd OnCalendar expression such as {EXAMPLE} (systemd.time(7)): expected {err}"
    return None


def _parse(expression: str) -> None:
    text = expression
    if "\0" in text:
        raise CalendarError("no NUL character")
    if text.lower().endswith(" utc"):
        text = text[:-4]
    elif " " in text and _timezone_is_valid(text.rsplit(" ", 1)[1]):
        text = text.rsplit(" ", 1)[0]
    if not text:
        raise CalendarError("a date, a time or a weekday")
    spec = _Spec()
    if text.lower() in SHORTHANDS:
        return
    cursor = _Text(text)
    _weekdays(cursor, spec)
    if not _date(cursor, spec):
        _time(cursor, spec)
    if cursor.rest():
        raise CalendarError(f"nothing more, found {cursor.rest()[:10]!r}")
    year = spec.year
    for c in year or []:  # fix_year: 12 -> 2012, 89 -> 1989
        for attr in ("start", "stop"):
            value = getattr(c, attr)
            if 0 <= value < 70:
                setattr(c, attr, value + 2000)
            elif 70 <= value < 100:
                setattr(c, attr, value + 1900)
    end_of_month = spec.end_of_month and spec.day is not None
    _valid_chain(year, MIN_YEAR, MAX_YEAR, False, "a year")
    _valid_chain(spec.month, 1, 12, False, "a month")
    _valid_chain(spec.day, 1, 31, end_of_month, "a day")
    _valid_chain(spec.hour, 0, 23, False, "an hour")
    _valid_chain(spec.minute, 0, 59, False, "a minute")
    _valid_chain(spec.second, 0, 60 * USEC_PER_SEC - 1, False, "a second")
