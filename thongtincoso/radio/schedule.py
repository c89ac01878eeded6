"""Recurrence: a slot's RFC 5545 rule, read in local time, turned into UTC sessions.

Slots are written as people think of them ("06:00, Monday to Friday" in Hà Nội); the rule gives
the days, `start_time` the time of day. Everything computed here is aware UTC, from the server's
own clock and zone database, so neither the process's TZ nor any device's clock matters.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr  # type: ignore[import-untyped]
from django.conf import settings
from django.utils.translation import gettext as _

from thongtincoso.core.errors import ServiceError

if TYPE_CHECKING:
    from .models import Slot

_FORBIDDEN_FREQ = {"HOURLY", "MINUTELY", "SECONDLY"}
_FORBIDDEN_PARTS = {"BYHOUR", "BYMINUTE", "BYSECOND"}
_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-T:]+$")


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_date(moment: dt.datetime) -> dt.date:
    """The local (Vietnam) calendar date of an aware instant."""
    return moment.astimezone(local_zone()).date()


def local_datetime(day: dt.date, time: dt.time) -> dt.datetime:
    """An aware instant from a local date and time of day."""
    return dt.datetime.combine(day, time, tzinfo=local_zone())


def parse_rrule(text: str) -> str:
    """Validate an RRULE body (optionally "RRULE:"-prefixed) and return it normalised."""
    body = (text or "").strip().upper()
    if body.startswith("RRULE:"):
        body = body[len("RRULE:") :].strip()
    if not body:
        raise ServiceError(
            _("Enter a recurrence rule, e.g. FREQ=WEEKLY;BYDAY=MO,WE,FR."), field="rrule"
        )
    if "\n" in body or "DTSTART" in body:
        raise ServiceError(
            _("The rule may not set a start (DTSTART): the slot's first day and time do."),
            field="rrule",
        )
    parts: dict[str, str] = {}
    for raw in body.split(";"):
        part = raw.strip()
        if not part:
            continue
        if not _PART.match(part):
            raise ServiceError(
                _("“%(part)s” is not a part of a recurrence rule.") % {"part": part[:40]},
                field="rrule",
            )
        name, value = part.split("=", 1)
        if name in parts:
            raise ServiceError(
                _("“%(name)s” appears twice in the rule.") % {"name": name}, field="rrule"
            )
        parts[name] = value
    if "FREQ" not in parts:
        raise ServiceError(_("The rule needs a frequency (FREQ=DAILY or WEEKLY…)."), field="rrule")
    if parts["FREQ"] in _FORBIDDEN_FREQ:
        raise ServiceError(
            _("A slot recurs at most daily; hourly or finer rules are not allowed."), field="rrule"
        )
    forbidden = sorted(_FORBIDDEN_PARTS & parts.keys())
    if forbidden:
        raise ServiceError(
            _("%(parts)s cannot be used: the time of day is the slot's start time.")
            % {"parts": ", ".join(forbidden)},
            field="rrule",
        )
    if "COUNT" in parts and "UNTIL" in parts:
        raise ServiceError(_("Use COUNT or UNTIL, not both."), field="rrule")
    normalised = ";".join(
        [f"FREQ={parts['FREQ']}"] + [f"{k}={v}" for k, v in parts.items() if k != "FREQ"]
    )
    try:
        rrulestr(normalised, dtstart=dt.datetime(2026, 1, 1))
    except (ValueError, TypeError) as exc:
        raise ServiceError(
            _("The recurrence rule is not valid: %(error)s") % {"error": str(exc)[:200]},
            field="rrule",
        ) from exc
    return normalised


def _local_until(match: re.Match[str]) -> str:
    utc = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    return "UNTIL=" + utc.astimezone(local_zone()).strftime("%Y%m%dT%H%M%S")


def _rule(text: str, first: dt.datetime) -> rrule:
    # UNTIL in a stored rule may be a date or a UTC time; the rule is read against a naive local
    # start, so a UTC UNTIL is first turned into local wall time (RFC 5545 §3.3.10).
    body = re.sub(r"UNTIL=(\d{8}T\d{6})Z", _local_until, text)
    rule = rrulestr(body, dtstart=first)
    assert isinstance(rule, rrule)
    return rule


def occurrences(
    slot: Slot, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The slot's sessions (aware UTC start, end) that overlap [start, end)."""
    if not slot.is_active:
        return []
    zone = local_zone()
    length = dt.timedelta(minutes=slot.duration_minutes)
    # Naive local wall times: Vietnam has no DST, and the rule then counts days, not hours.
    first = dt.datetime.combine(slot.starts_on, slot.start_time)
    window_from = (start - length).astimezone(zone).replace(tzinfo=None)
    window_to = end.astimezone(zone).replace(tzinfo=None)
    if slot.ends_on is not None:
        last = dt.datetime.combine(slot.ends_on, slot.start_time)
        window_to = min(window_to, last + dt.timedelta(microseconds=1))
    if window_to <= window_from:
        return []
    try:
        rule = _rule(slot.rrule, first)
    except (ValueError, TypeError):
        return []
    result = []
    for local in rule.between(
        max(window_from, first - dt.timedelta(seconds=1)), window_to, inc=True
    ):
        begin = local.replace(tzinfo=zone).astimezone(dt.UTC)
        finish = begin + length
        if finish > start and begin < end:
            result.append((begin, finish))
    return result
