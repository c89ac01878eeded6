"""The planner: fills every session of a station's slots with airings (docs/radio.md).

A plan is computed in memory from the station's slots and candidates, then compared with the
future airings in the database; only a difference is written (delete + bulk insert of the future
part). Airings that have started are history and never touched. Keys are stable,
"<slot id>:<local date>:<bulletin id>" or "…:filler", so devices and proof of play can follow an
item across re-plans.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from huey import crontab
from huey.contrib.djhuey import db_task

from thongtincoso.bulletins.models import (
    PRIORITY_RANK,
    Bulletin,
    Channel,
    Delivery,
    DeliveryStatus,
    Priority,
    Status,
)
from thongtincoso.jobs.services import register_periodic
from thongtincoso.units.models import UnitKind

from .models import (
    Airing,
    AiringKind,
    Device,
    Filler,
    OverflowRule,
    QueueOrder,
    Slot,
    Station,
)
from .schedule import local_date, local_zone, occurrences

log = logging.getLogger(__name__)

PLAN_DAYS = 8
# How far back keys of aired sessions are remembered (a local day, and a session crossing it).
KEY_MEMORY = dt.timedelta(hours=26)


@dataclass
class Candidate:
    """A bulletin the station may air, with what the planner needs to place it."""

    bulletin: Bulletin
    delivery: Delivery | None
    priority: str
    duration: float
    audio_sha256: str
    audio_size: int
    zone_codes: list[str]
    own_order: tuple[int, int]
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    air_from: dt.datetime | None

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (
            PRIORITY_RANK.get(self.priority, 9),  # type: ignore[call-overload]
            self.own_order,
            self.valid_from,
            self.bulletin.pk,
        )

    def available_at(self, moment: dt.datetime) -> bool:
        if self.valid_from > moment:
            return False
        if self.valid_until is not None and self.valid_until <= moment:
            return False
        return self.air_from is None or self.air_from <= moment


@dataclass
class Session:
    slot: Slot
    start: dt.datetime
    end: dt.datetime

    @property
    def day(self) -> dt.date:
        return local_date(self.start)


@dataclass
class Plan:
    """A station's future plan: the airings to have, and what fitted nowhere."""

    airings: list[Airing] = field(default_factory=list)
    overflow: list[Candidate] = field(default_factory=list)
    placed: dict[int, Airing] = field(default_factory=dict)  # bulletin id → its first airing


def candidates(station: Station, *, now: dt.datetime) -> list[Candidate]:
    """What the station may air from now on, in airing order (before session constraints)."""
    commune_id = station.unit_id
    queue = dict(
        QueueOrder.objects.filter(station=station).order_by().values_list("bulletin_id", "position")
    )
    own = list(
        Bulletin.objects.filter(unit_id=commune_id, status=Status.PUBLISHED)
        .exclude(valid_until__lte=now)
        .select_related("speech_audio__asset")
        .order_by()
    )
    deliveries = list(
        Delivery.objects.filter(
            commune_id=commune_id,
            status__in=[DeliveryStatus.ACCEPTED, DeliveryStatus.SCHEDULED],
            bulletin__status=Status.PUBLISHED,
        )
        .exclude(bulletin__valid_until__lte=now)
        .select_related("bulletin__speech_audio__asset")
        .order_by()
    )
    ids = [b.pk for b in own] + [d.bulletin_id for d in deliveries]
    # An airing that has started counts as aired (each item airs once on a station).
    aired = set(
        Airing.objects.filter(station=station, bulletin_id__in=ids, starts_at__lte=now)
        .order_by()
        .values_list("bulletin_id", flat=True)
        if ids
        else []
    )
    own_ids = {b.pk for b in own}
    own_zones = _own_zones(sorted(own_ids), commune_id)
    found: list[Candidate] = []
    for bulletin, delivery in [(b, None) for b in own] + [(d.bulletin, d) for d in deliveries]:
        if bulletin.pk in aired or Channel.RADIO not in (bulletin.channels or []):
            continue
        if delivery is not None and delivery.local_copy_id in own_ids:
            continue  # the commune airs its own published adaptation instead
        audio = _fresh_audio(bulletin)
        if audio is None:
            continue
        position = queue.get(bulletin.pk)
        if position is not None:
            own_order = (0, position)
        else:
            own_order = (1, delivery.position if delivery is not None else 0)
        found.append(
            Candidate(
                bulletin=bulletin,
                delivery=delivery,
                priority=delivery.priority if delivery is not None else bulletin.priority,
                duration=float(audio.duration),
                audio_sha256=audio.sha256,
                audio_size=int(audio.mp3_size),
                zone_codes=(
                    list(delivery.zone_codes or [])
                    if delivery is not None
                    else own_zones.get(bulletin.pk, [])
                ),
                own_order=own_order,
                valid_from=bulletin.valid_from,
                valid_until=bulletin.valid_until,
                air_from=(
                    delivery.air_from
                    if delivery is not None and delivery.priority == Priority.NORMAL
                    else None
                ),
            )
        )
    found.sort(key=lambda c: c.sort_key)
    return found


def _fresh_audio(bulletin: Bulletin) -> Any:
    from thongtincoso.speech.services import is_stale

    try:
        row = bulletin.speech_audio  # type: ignore[attr-defined]
    except Exception:  # no programme audio row
        return None
    if row is None or row.asset is None or is_stale(bulletin, row):
        return None
    if not row.asset.duration or row.asset.duration <= 0:
        return None
    return row.asset


def _own_zones(bulletin_ids: list[int], commune_id: int) -> dict[int, list[str]]:
    """Own bulletins aimed at zones of the commune only: those zones; otherwise everyone."""
    if not bulletin_ids:
        return {}
    through = Bulletin.targets.through
    zones: dict[int, list[str]] = defaultdict(list)
    whole: set[int] = set()
    for bulletin_id, kind, code, parent_id in (
        through.objects.filter(bulletin_id__in=bulletin_ids)
        .order_by()
        .values_list("bulletin_id", "unit__kind", "unit__code", "unit__parent_id")
    ):
        if kind == UnitKind.ZONE and parent_id == commune_id:
            zones[bulletin_id].append(code)
        else:
            whole.add(bulletin_id)
    return {pk: sorted(codes) for pk, codes in zones.items() if pk not in whole}


def sessions(station: Station, start: dt.datetime, end: dt.datetime) -> list[Session]:
    """The station's sessions overlapping [start, end), in time order."""
    found = [
        Session(slot, begin, finish)
        for slot in Slot.objects.filter(station=station, is_active=True).order_by()
        for begin, finish in occurrences(slot, start, end)
    ]
    found.sort(key=lambda s: (s.start, s.slot.pk))
    return found


class _Current(NamedTuple):
    """An airing of a session not over yet, as much of it as planning needs."""

    slot_id: int | None
    occurrence_start: dt.datetime
    occurrence_end: dt.datetime
    starts_at: dt.datetime
    ends_at: dt.datetime
    kind: str
    key: str
    audio_sha256: str
    position: int
    zone_codes: list[str]


def _current_airings(station: Station, now: dt.datetime) -> list[_Current]:
    """Airings of sessions not over yet: those started (kept) and the future (replaceable);
    and today's past ones, whose keys a moved slot must not reuse."""
    rows = (
        Airing.objects.filter(
            Q(occurrence_end__gt=now) | Q(occurrence_start__gte=now - KEY_MEMORY),
            station=station,
        )
        .order_by()
        .values_list(*_Current._fields)
    )
    return [_Current(*row) for row in rows]


def build_plan(
    station: Station, *, now: dt.datetime | None = None, current: list[_Current] | None = None
) -> Plan:
    """The station's plan from `now` to now + PLAN_DAYS, in memory (nothing written)."""
    now = now or timezone.now()
    horizon = now + dt.timedelta(days=PLAN_DAYS)
    plan = Plan()
    started: dict[tuple[int | None, dt.datetime], list[_Current]] = defaultdict(list)
    taken: set[str] = set()  # keys of airings that have started: history, never reused
    for airing in current if current is not None else _current_airings(station, now):
        if airing.starts_at <= now:
            taken.add(airing.key)
            if airing.occurrence_end > now:
                started[(airing.slot_id, airing.occurrence_start)].append(airing)
    pending = candidates(station, now=now)
    carry = station.overflow_rule == OverflowRule.CARRY
    filler = _filler_audio(station)
    overflowed: dict[int, Candidate] = {}
    planned_sessions = list(sessions(station, now, horizon))
    # An item holds back the ones after it only if some session is long enough for it.
    longest = max(((s.end - s.start).total_seconds() for s in planned_sessions), default=0.0)
    for session in planned_sessions:
        kept = started.get((session.slot.pk, session.start), [])
        if any(a.kind == AiringKind.FILLER for a in kept):
            continue  # the filler runs to the session's end: nothing more fits
        cursor = max([session.start, *(a.ends_at for a in kept)])
        if session.start <= now:
            cursor = max(cursor, now)
        position = len(kept)
        waiting: list[Candidate] = []
        blocked = False
        for candidate in pending:
            if blocked or not candidate.available_at(session.start):
                waiting.append(candidate)
                continue
            ends = cursor + dt.timedelta(seconds=candidate.duration)
            if ends <= session.end:
                plan.airings.append(_airing(station, session, candidate, cursor, ends, position))
                plan.placed.setdefault(candidate.bulletin.pk, plan.airings[-1])
                overflowed.pop(candidate.bulletin.pk, None)
                cursor, position = ends, position + 1
                continue
            overflowed[candidate.bulletin.pk] = candidate
            if carry:
                waiting.append(candidate)
                # Order is kept: what comes after waits too, unless the item could never fit
                # any session (then it must not hold the others back).
                blocked = candidate.duration <= longest
        pending = waiting
        if cursor < session.end:
            plan.airings.append(_filler_airing(station, session, cursor, position, filler))
    plan.overflow = sorted(overflowed.values(), key=lambda c: c.sort_key)
    for planned in plan.airings:
        if planned.key in taken:
            # A slot moved within a day that already aired: its new session gets its own key.
            moved = planned.occurrence_start.astimezone(local_zone())
            planned.key = f"{planned.key}@{moved:%H%M}"
    return plan


def _filler_audio(station: Station) -> Any:
    if station.filler == Filler.AUDIO and station.filler_asset_id:
        return station.filler_asset
    return None


def _key(session: Session, suffix: str | int) -> str:
    return f"{session.slot.pk}:{session.day.isoformat()}:{suffix}"


def _airing(
    station: Station,
    session: Session,
    candidate: Candidate,
    start: dt.datetime,
    end: dt.datetime,
    position: int,
) -> Airing:
    bulletin = candidate.bulletin
    return Airing(
        station=station,
        slot=session.slot,
        key=_key(session, bulletin.pk),
        occurrence_start=session.start,
        occurrence_end=session.end,
        starts_at=start,
        ends_at=end,
        position=position,
        kind=AiringKind.BULLETIN,
        bulletin=bulletin,
        delivery=candidate.delivery,
        title=bulletin.title[:300],
        priority=candidate.priority,
        audio_sha256=candidate.audio_sha256,
        audio_size=candidate.audio_size,
        audio_duration=candidate.duration,
        zone_codes=candidate.zone_codes,
    )


def _filler_airing(
    station: Station, session: Session, start: dt.datetime, position: int, asset: Any
) -> Airing:
    return Airing(
        station=station,
        slot=session.slot,
        key=_key(session, "filler"),
        occurrence_start=session.start,
        occurrence_end=session.end,
        starts_at=start,
        ends_at=session.end,
        position=position,
        kind=AiringKind.FILLER,
        title=str(_("Filler") if asset is not None else _("Silence")),
        priority=Priority.NORMAL,
        audio_sha256=asset.sha256 if asset is not None else "",
        audio_size=int(asset.mp3_size) if asset is not None else 0,
        audio_duration=float(asset.duration) if asset is not None else 0.0,
        zone_codes=[],
    )


def _signature(airing: Airing | _Current) -> tuple[Any, ...]:
    return (
        airing.key,
        airing.starts_at,
        airing.ends_at,
        airing.audio_sha256,
        airing.position,
        tuple(airing.zone_codes or []),
    )


def plan_station(station: Station, *, now: dt.datetime | None = None) -> bool:
    """Re-plan the station's future; True if anything a device plays changed."""
    now = now or timezone.now()
    with transaction.atomic():
        # One planner per station at a time (a re-plan racing another would double-insert).
        station = (
            Station.objects.select_for_update(of=("self",))
            .select_related("filler_asset")
            .get(pk=station.pk)
        )
        current = _current_airings(station, now)
        plan = build_plan(station, now=now, current=current)
        before = {_signature(a) for a in current if a.starts_at > now}
        after = {_signature(a) for a in plan.airings}
        _report_scheduled(plan)
        if before == after:
            return False
        Airing.objects.filter(station=station, starts_at__gt=now).delete()
        Airing.objects.bulk_create(plan.airings, batch_size=500)
    return True


def _report_scheduled(plan: Plan) -> None:
    """Tell the origin of each relayed item that it now has an airing (once)."""
    from thongtincoso.bulletins.services import delivery_mark

    for airing in plan.placed.values():
        delivery = airing.delivery
        if delivery is not None and delivery.status == DeliveryStatus.ACCEPTED:
            delivery_mark(
                actor=None, delivery=delivery, status=DeliveryStatus.SCHEDULED, at=airing.starts_at
            )


def replan(station_ids: Iterable[int], *, now: dt.datetime | None = None) -> set[int]:
    """Re-plan the stations, then refresh their devices' manifests; returns the stations whose
    plan changed.

    Every device of these stations is re-rendered, not only those whose plan changed: a manifest
    also carries the station's volume and resume rule, the unit's poll interval and the
    e-board's bulletins. Unchanged manifests cost a render and no write (their ETags stay).
    """
    from .manifests import refresh_stations

    now = now or timezone.now()
    ids = sorted({int(pk) for pk in station_ids})
    changed = {
        station.pk
        for station in Station.objects.filter(pk__in=ids)
        if plan_station(station, now=now)
    }
    refresh_stations(ids, now=now)
    return changed


@db_task(retries=3, retry_delay=10)
def replan_task(station_ids: list[int]) -> list[int]:
    return sorted(replan(station_ids))


def replan_on_commit(station_ids: Iterable[int]) -> None:
    """Re-plan the stations in the background once the current transaction commits."""
    ids = sorted({int(pk) for pk in station_ids})
    if ids:
        transaction.on_commit(lambda: replan_task(ids))


@register_periodic(
    crontab(hour="0", minute="5"),
    name="radio.replan_all",
    description=gettext_lazy("Plan every station's next eight days (the window rolls forward)."),
    human=gettext_lazy("00:05 every day"),
)
def replan_all() -> int:
    """The window rolls at local midnight: every station re-planned, every device re-rendered
    (devices of communes without a station too: their manifests still carry the date)."""
    from .manifests import refresh

    changed = replan(Station.objects.values_list("pk", flat=True))
    refresh(Device.objects.filter(credential_hash__isnull=False, revoked_at__isnull=True))
    return len(changed)
