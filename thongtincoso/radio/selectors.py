"""Reading stations, their calendar and their queue, always through the permission policy."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action

from .models import Airing, AiringKind, Station
from .planner import build_plan, candidates, sessions
from .schedule import local_zone


def stations_visible(user: Any, action: str = Action.VIEW) -> QuerySet[Station]:
    """The stations the user may see (or act on, with `action`)."""
    return policy.restrict(Station.objects.select_related("unit"), user, action)


def station_for_user(user: Any, code: str, action: str = Action.VIEW) -> Station | None:
    """The station of the commune with this code, or None when the user may not `action` it."""
    return stations_visible(user, action).filter(unit__code=code).first()


def station_calendar(station: Station, start_date: dt.date, days: int) -> list[dict[str, Any]]:
    """Day by day from `start_date` (local): each session with its airings and free time."""
    zone = local_zone()
    start = dt.datetime.combine(start_date, dt.time(), tzinfo=zone)
    end = start + dt.timedelta(days=days)
    by_session: dict[tuple[int | None, dt.datetime], list[Airing]] = defaultdict(list)
    for airing in Airing.objects.filter(
        station=station,
        occurrence_start__gte=start - dt.timedelta(days=1),
        occurrence_start__lt=end,
    ).select_related("bulletin"):
        by_session[(airing.slot_id, airing.occurrence_start)].append(airing)
    calendar: dict[dt.date, list[dict[str, Any]]] = {
        start_date + dt.timedelta(days=n): [] for n in range(days)
    }
    for session in sessions(station, start, end):
        local_start = session.start.astimezone(zone)
        if local_start.date() not in calendar:
            continue
        airings = by_session.get((session.slot.pk, session.start), [])
        filled = sum(
            (a.ends_at - a.starts_at).total_seconds()
            for a in airings
            if a.kind == AiringKind.BULLETIN
        )
        length = (session.end - session.start).total_seconds()
        calendar[local_start.date()].append(
            {
                "slot": session.slot,
                "start": local_start,
                "end": session.end.astimezone(zone),
                "airings": airings,
                "filled_seconds": filled,
                "free_seconds": max(0.0, length - filled),
            }
        )
    return [{"date": day, "sessions": found} for day, found in calendar.items()]


def station_queue(station: Station, *, now: dt.datetime | None = None) -> dict[str, list[Any]]:
    """What waits to air, in airing order, and what fits nowhere in the planning window."""
    now = now or timezone.now()
    plan = build_plan(station, now=now)
    overflow = {c.bulletin.pk for c in plan.overflow}
    waiting = [
        {
            "bulletin": candidate.bulletin,
            "delivery": candidate.delivery,
            "priority": candidate.priority,
            "duration": candidate.duration,
            "position": number,
            "next_airing": plan.placed.get(candidate.bulletin.pk),
            "overflow": candidate.bulletin.pk in overflow,
        }
        for number, candidate in enumerate(candidates(station, now=now), start=1)
    ]
    return {
        "waiting": waiting,
        "overflow": [
            {
                "bulletin": c.bulletin,
                "delivery": c.delivery,
                "priority": c.priority,
                "duration": c.duration,
            }
            for c in plan.overflow
        ],
    }
