"""Recurrence rules and time zones: slots are local (Hà Nội, UTC+7), sessions are UTC."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.utils import translation

from thongtincoso.core.errors import ServiceError
from thongtincoso.radio.models import Slot
from thongtincoso.radio.schedule import local_date, occurrences, parse_rrule

UTC = dt.UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def slot(
    rule: str = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    start: str = "06:00",
    minutes: int = 30,
    starts_on: dt.date = dt.date(2026, 5, 1),
    ends_on: dt.date | None = None,
    is_active: bool = True,
) -> Slot:
    # Unsaved: occurrences() reads only the slot's own fields.
    return Slot(
        rrule=rule,
        start_time=dt.time.fromisoformat(start),
        duration_minutes=minutes,
        starts_on=starts_on,
        ends_on=ends_on,
        is_active=is_active,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("FREQ=WEEKLY;BYDAY=MO,TU", "FREQ=WEEKLY;BYDAY=MO,TU", id="plain"),
        pytest.param("rrule:freq=daily", "FREQ=DAILY", id="prefix-lowercase"),
        pytest.param(" BYDAY=SA;FREQ=WEEKLY ", "FREQ=WEEKLY;BYDAY=SA", id="freq-first"),
        pytest.param("FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=MONTHLY;BYMONTHDAY=-1", id="month-end"),
        pytest.param("FREQ=DAILY;UNTIL=20261231", "FREQ=DAILY;UNTIL=20261231", id="until"),
    ],
)
def test_parse_rrule_accepts_and_normalises(text: str, expected: str) -> None:
    assert parse_rrule(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("", "Enter a recurrence rule", id="empty"),
        pytest.param("FREQ=HOURLY", "at most daily", id="hourly"),
        pytest.param("FREQ=MINUTELY", "at most daily", id="minutely"),
        pytest.param("FREQ=DAILY;BYHOUR=6", "BYHOUR", id="byhour"),
        pytest.param("FREQ=DAILY;BYMINUTE=30", "BYMINUTE", id="byminute"),
        pytest.param("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "DTSTART", id="dtstart"),
        pytest.param("FREQ=DAILY;COUNT=3;UNTIL=20261231", "COUNT or UNTIL", id="count-until"),
        pytest.param("BYDAY=MO", "frequency", id="no-freq"),
        pytest.param("FREQ=WEEKLY;BYDAY=XX", "not valid", id="bad-day"),
        pytest.param("FREQ=FORTNIGHTLY", "not valid", id="bad-freq"),
        pytest.param("FREQ=DAILY;FREQ=WEEKLY", "twice", id="twice"),
        pytest.param("FREQ=DAILY;<script>", "not a part", id="garbage"),
    ],
)
def test_parse_rrule_refuses_with_a_reason(text: str, fragment: str) -> None:
    # The reason is read in English here; the Vietnamese catalog is checked for completeness.
    with translation.override("en"), pytest.raises(ServiceError) as caught:
        parse_rrule(text)
    assert caught.value.field == "rrule"
    assert fragment in str(caught.value)


def test_weekday_mornings_and_evenings_are_the_right_utc_instants() -> None:
    # Monday 4 May 2026 to Sunday 10 May (local).
    start, end = utc(2026, 5, 3, 17), utc(2026, 5, 10, 17)
    mornings = occurrences(slot(start="06:00"), start, end)
    evenings = occurrences(slot(start="17:00"), start, end)
    # 06:00 in Hà Nội is 23:00 UTC the previous day; 17:00 is 10:00 UTC the same day.
    assert [s for s, _ in mornings] == [utc(2026, 5, d, 23) for d in (3, 4, 5, 6, 7)]
    assert [s for s, _ in evenings] == [utc(2026, 5, d, 10) for d in (4, 5, 6, 7, 8)]
    assert all(e - s == dt.timedelta(minutes=30) for s, e in mornings)
    assert [local_date(s) for s, _ in mornings] == [dt.date(2026, 5, d) for d in range(4, 9)]


def test_month_ends() -> None:
    rule = slot("FREQ=MONTHLY;BYMONTHDAY=-1", start="07:00", starts_on=dt.date(2026, 1, 1))
    found = occurrences(rule, utc(2026, 1, 1), utc(2026, 5, 1))
    assert [local_date(s) for s, _ in found] == [
        dt.date(2026, 1, 31),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
    ]


def test_first_and_last_day_are_honoured_and_inclusive() -> None:
    daily = slot("FREQ=DAILY", starts_on=dt.date(2026, 5, 5), ends_on=dt.date(2026, 5, 7))
    found = occurrences(daily, utc(2026, 5, 1), utc(2026, 5, 20))
    assert [local_date(s) for s, _ in found] == [dt.date(2026, 5, d) for d in (5, 6, 7)]


def test_inactive_slot_has_no_sessions() -> None:
    assert occurrences(slot(is_active=False), utc(2026, 5, 1), utc(2026, 6, 1)) == []


def test_a_session_overlapping_the_window_start_is_included() -> None:
    daily = slot("FREQ=DAILY", start="06:00", minutes=60)
    # 06:00–07:00 local on 5 May is 23:00–00:00 UTC; the window opens halfway through.
    found = occurrences(daily, utc(2026, 5, 4, 23, 30), utc(2026, 5, 5, 1))
    assert found == [(utc(2026, 5, 4, 23), utc(2026, 5, 5, 0))]


def test_a_session_crossing_midnight() -> None:
    late = slot("FREQ=DAILY", start="23:30", minutes=60)
    found = occurrences(late, utc(2026, 5, 4), utc(2026, 5, 5))
    assert (utc(2026, 5, 4, 16, 30), utc(2026, 5, 4, 17, 30)) in found


@contextmanager
def _process_zone(name: str) -> Iterator[None]:
    """The process believes it is elsewhere (as a misconfigured host might)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_occurrences_do_not_depend_on_the_process_time_zone() -> None:
    start, end = utc(2026, 3, 1), utc(2026, 3, 20)  # spans New York's DST change (8 March)
    early = slot(starts_on=dt.date(2026, 1, 1))
    expected = occurrences(early, start, end)
    assert len(expected) == 15  # three working weeks
    assert expected[0][0] == utc(2026, 3, 1, 23)  # Monday 2 March, 06:00 local
    with _process_zone("America/New_York"):
        assert time.strftime("%Z") in {"EST", "EDT"}
        assert occurrences(early, start, end) == expected
    with _process_zone("Pacific/Kiritimati"):  # UTC+14: a device far off would not matter either
        assert occurrences(early, start, end) == expected


def test_a_utc_until_is_read_as_that_instant_not_as_local_time() -> None:
    # Sessions at 06:00 local = 23:00 UTC the day before. UNTIL 2026-05-05 00:30 UTC is 07:30 on
    # 5 May in Hà Nội: the 06:00 session of 5 May is inside the rule (read as local 00:30, it
    # would not be), the one of 6 May is not.
    weekly = slot(rule="FREQ=DAILY;UNTIL=20260505T003000Z")
    starts = [start for start, _end in occurrences(weekly, utc(2026, 4, 30), utc(2026, 5, 10))]
    assert starts[-1] == utc(2026, 5, 4, 23)
    assert len(starts) == 5  # 1 to 5 May
