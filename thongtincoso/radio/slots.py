"""Services for a station, its broadcast rules, its slots and its own queue order.

Every change is checked against the permission policy, audited in its transaction, and followed
(after commit) by a re-plan of the station, so the airings and the devices' manifests follow.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import (
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    full_clean_or_raise,
)
from thongtincoso.units.models import PATH_SEGMENT_WIDTH, Unit, UnitKind

from .models import BroadcastRules, Enforcement, Filler, QueueOrder, Slot, Station
from .schedule import local_date, occurrences, parse_rrule

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User

# How far ahead slot_check looks for overlaps and rule breaks.
CHECK_WEEKS = 8
STATION_FIELDS = ("name", "overflow_rule", "resume_rule", "filler", "filler_asset", "volume")
RULES_FIELDS = (
    "max_sessions_per_day",
    "max_session_minutes",
    "weekdays",
    "quiet_start",
    "quiet_end",
    "enforcement",
    "offline_after_seconds",
    "alert_after_minutes",
    "poll_interval_seconds",
    "province_emergency_confirmation",
)
SLOT_FIELDS = (
    "name",
    "rrule",
    "start_time",
    "duration_minutes",
    "starts_on",
    "ends_on",
    "is_active",
)
STATION_NAME_PREFIX = "Đài truyền thanh "


def _replan(station_ids: list[int]) -> None:
    from .planner import replan_on_commit

    replan_on_commit(station_ids)


def _require(actor: User | None, actions: tuple[str, ...], unit: Unit, missing: str) -> None:
    """Denied and invisible answers like missing; visible but not allowed is a refusal."""
    if any(policy.may(actor, a, unit) for a in actions):
        return
    if policy.may(actor, Action.VIEW, unit):
        raise PermissionDeniedError(_("You are not allowed to operate this station's broadcasts."))
    raise NotFoundError(missing)


# --- Stations ------------------------------------------------------------------------------


def station_for(commune: Unit, *, create: bool = True) -> Station | None:
    """The commune's station, created on first use ("Đài truyền thanh <commune>")."""
    if commune.kind != UnitKind.COMMUNE:
        raise ServiceError(_("Only a commune has a radio station."), field="unit")
    station = Station.objects.filter(unit=commune).first()
    if station is not None or not create:
        return station
    with transaction.atomic():
        station, created = Station.objects.get_or_create(
            unit=commune, defaults={"name": (STATION_NAME_PREFIX + commune.name)[:200]}
        )
        if created:
            audit_record(
                actor=None,
                action="radio.station.create",
                obj=station,
                unit=commune,
                after={"name": station.name},
            )
    return station


def _station_snapshot(station: Station) -> dict[str, Any]:
    return {
        "name": station.name,
        "overflow_rule": station.overflow_rule,
        "resume_rule": station.resume_rule,
        "filler": station.filler,
        "filler_asset": station.filler_asset_id,
        "volume": station.volume,
    }


def station_update(*, actor: User | None, station: Station, **fields: Any) -> Station:
    """Change a station's rules (overflow, resume, filler) or its name and volume."""
    _require(actor, (Action.BROADCAST,), station.unit, _("Station not found."))
    unknown = set(fields) - set(STATION_FIELDS)
    if unknown:
        raise ServiceError(_("Unknown field: %(name)s") % {"name": sorted(unknown)[0]})
    with transaction.atomic():
        current = Station.objects.select_for_update().get(pk=station.pk)
        before = _station_snapshot(current)
        for name, value in fields.items():
            if name == "name":
                value = str(value or "").strip()
                if not value:
                    raise ServiceError(_("Give the station a name."), field="name")
            setattr(current, name, value)
        if current.filler == Filler.AUDIO and current.filler_asset_id is None:
            raise ServiceError(
                _("Choose the filler audio, or fill the rest of a session with silence."),
                field="filler_asset",
            )
        full_clean_or_raise(current, exclude=["unit"])
        current.save()
        after = _station_snapshot(current)
        if after != before:
            audit_record(
                actor=actor,
                action="radio.station.update",
                obj=current,
                unit=current.unit,
                before=before,
                after=after,
            )
            _replan([current.pk])
    return current


def station_filler_upload(
    *, actor: User | None, station: Station, stream: IO[bytes], name: str = ""
) -> Station:
    """Use an uploaded file (music or a jingle) as the station's filler, at the unit's loudness.

    The rest of every session then loops it; the file is decoded and normalised like any upload,
    and a refusal (not audio, too long, too large) says so on the "filler_file" field.
    """
    from thongtincoso.speech.models import AudioSource
    from thongtincoso.speech.services import upload_asset

    _require(actor, (Action.BROADCAST,), station.unit, _("Station not found."))
    try:
        asset = upload_asset(unit=station.unit, stream=stream, source=AudioSource.JINGLE, name=name)
    except ServiceError as exc:
        raise ServiceError(exc.message, field="filler_file") from exc
    return station_update(actor=actor, station=station, filler_asset=asset, filler=Filler.AUDIO)


# --- Broadcast rules -----------------------------------------------------------------------


def broadcast_rules_for(unit: Unit) -> BroadcastRules:
    """The rules in force: the unit's own row, else its nearest ancestor's, else defaults."""
    own = (
        BroadcastRules.objects.filter(unit__in=unit.ancestors(include_self=True))
        .select_related("unit")
        .order_by("-unit__depth")
        .first()
    )
    return own if own is not None else BroadcastRules(unit=unit)


def broadcast_rules_by_unit(units: Iterable[Unit]) -> dict[int, BroadcastRules]:
    """`broadcast_rules_for` of many units in one query: {unit id: rules in force}.

    Every ancestor path of every unit is looked up at once; the deepest row wins, as above.
    """
    units = list(units)
    width = PATH_SEGMENT_WIDTH
    paths = {u.path[:i] for u in units for i in range(width, len(u.path) + 1, width)}
    rows = {
        r.unit.path: r
        for r in BroadcastRules.objects.filter(unit__path__in=paths).select_related("unit")
    }
    result: dict[int, BroadcastRules] = {}
    for unit in units:
        found = None
        for i in range(len(unit.path), 0, -width):
            found = rows.get(unit.path[:i])
            if found is not None:
                break
        result[unit.pk] = found if found is not None else BroadcastRules(unit=unit)
    return result


def _rules_snapshot(rules: BroadcastRules) -> dict[str, Any]:
    return {name: getattr(rules, name) for name in RULES_FIELDS}


def broadcast_rules_update(*, actor: User | None, unit: Unit, **fields: Any) -> BroadcastRules:
    """Set the unit's own broadcast rules (starting from what it inherits)."""
    _require(actor, (Action.MANAGE_USERS, Action.BROADCAST), unit, _("Unit not found."))
    unknown = set(fields) - set(RULES_FIELDS)
    if unknown:
        raise ServiceError(_("Unknown field: %(name)s") % {"name": sorted(unknown)[0]})
    if "weekdays" in fields:
        fields["weekdays"] = _weekdays(fields["weekdays"])
    with transaction.atomic():
        inherited = broadcast_rules_for(unit)
        rules = BroadcastRules.objects.select_for_update().filter(unit=unit).first()
        if rules is None:
            rules = BroadcastRules(unit=unit)
            for name in RULES_FIELDS:
                setattr(rules, name, getattr(inherited, name))
        before = _rules_snapshot(rules)
        for name, value in fields.items():
            setattr(rules, name, value)
        if (rules.quiet_start is None) != (rules.quiet_end is None):
            raise ServiceError(
                _("Give both ends of the quiet hours, or neither."), field="quiet_start"
            )
        if rules.quiet_start is not None and rules.quiet_start == rules.quiet_end:
            raise ServiceError(_("Quiet hours must not start and end at once."), field="quiet_end")
        if rules.province_emergency_confirmation != before[
            "province_emergency_confirmation"
        ] and not policy.may(actor, Action.MANAGE_USERS, unit):
            # The second person is a control on operators: an operator cannot lift it alone.
            raise PermissionDeniedError(
                _("Only the unit's administrator may change who confirms an emergency."),
            )
        full_clean_or_raise(rules, exclude=["unit"])
        rules.save()
        audit_record(
            actor=actor,
            action="radio.rules.update",
            obj=rules,
            unit=unit,
            before=before,
            after=_rules_snapshot(rules),
        )
        # Devices below carry the poll interval: their stations re-plan and re-render.
        below = Station.objects.filter(unit__in=Unit.objects.subtree_of(unit)).values_list(
            "pk", flat=True
        )
        _replan(list(below))
    return rules


def _weekdays(value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise ServiceError(_("Choose at least one weekday."), field="weekdays")
    days = set()
    for day in value:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ServiceError(
                _("Weekdays are numbers from 0 (Monday) to 6 (Sunday)."), field="weekdays"
            )
        days.add(day)
    return sorted(days)


# --- Slots ---------------------------------------------------------------------------------

_WEEKDAY_NAMES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _day(value: dt.date) -> str:
    return date_format(value, "SHORT_DATE_FORMAT")


def _in_quiet_hours(
    begin: dt.datetime, end: dt.datetime, quiet_start: dt.time, quiet_end: dt.time
) -> bool:
    """Does the local session [begin, end) touch the quiet hours (which may cross midnight)?"""
    day = begin.date() - dt.timedelta(days=1)
    while day <= end.date():
        q_from = dt.datetime.combine(day, quiet_start, tzinfo=begin.tzinfo)
        q_to = dt.datetime.combine(day, quiet_end, tzinfo=begin.tzinfo)
        if q_to <= q_from:
            q_to += dt.timedelta(days=1)
        if q_from < end and begin < q_to:
            return True
        day += dt.timedelta(days=1)
    return False


def slot_check(
    station: Station,
    *,
    rrule: str,
    start_time: dt.time,
    duration_minutes: int,
    starts_on: dt.date,
    ends_on: dt.date | None,
    exclude: Slot | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Check a slot against the station's other slots and the broadcast rules.

    An overlap with another slot is always refused. Rule breaks are refused or returned as
    warnings, as the rules in force say.
    """
    from .schedule import local_zone

    candidate = Slot(
        station=station,
        rrule=rrule,
        start_time=start_time,
        duration_minutes=duration_minutes,
        starts_on=starts_on,
        ends_on=ends_on,
        is_active=True,
    )
    zone = local_zone()
    today = local_date(now or timezone.now())
    first = max(today, starts_on)
    last = first + dt.timedelta(weeks=CHECK_WEEKS)
    if ends_on is not None:
        last = min(last, ends_on + dt.timedelta(days=1))
    window = (
        dt.datetime.combine(first, dt.time(), tzinfo=zone),
        dt.datetime.combine(max(last, first + dt.timedelta(days=1)), dt.time(), tzinfo=zone),
    )
    mine = occurrences(candidate, *window)
    others = Slot.objects.filter(station=station, is_active=True)
    if exclude is not None and exclude.pk:
        others = others.exclude(pk=exclude.pk)
    theirs = [(slot, span) for slot in others for span in occurrences(slot, *window)]
    for begin, end in mine:
        for slot, (o_begin, o_end) in theirs:
            if begin < o_end and o_begin < end:
                raise ServiceError(
                    _("This slot overlaps the slot “%(name)s” on %(date)s.")
                    % {"name": slot.name, "date": _day(local_date(begin))},
                    field="start_time",
                )

    rules = broadcast_rules_for(station.unit)
    problems: list[str] = []
    if duration_minutes > rules.max_session_minutes:
        problems.append(
            _("A session may last at most %(minutes)d minutes.")
            % {"minutes": rules.max_session_minutes}
        )
    local = [(b.astimezone(zone), e.astimezone(zone)) for b, e in mine]
    off_days = sorted({b.weekday() for b, _e in local} - set(rules.weekdays))
    if off_days:
        problems.append(
            _("Broadcasting is not allowed on %(days)s.")
            % {"days": ", ".join(_WEEKDAY_NAMES[d] for d in off_days)}
        )
    if rules.quiet_start is not None and rules.quiet_end is not None:
        quiet = [b for b, e in local if _in_quiet_hours(b, e, rules.quiet_start, rules.quiet_end)]
        if quiet:
            problems.append(
                _("The session falls in the quiet hours (%(start)s–%(end)s).")
                % {
                    "start": rules.quiet_start.strftime("%H:%M"),
                    "end": rules.quiet_end.strftime("%H:%M"),
                }
            )
    per_day: dict[dt.date, int] = defaultdict(int)
    for _slot, (o_begin, _o_end) in theirs:
        per_day[local_date(o_begin)] += 1
    crowded = sorted(
        {local_date(b) for b, _e in mine if per_day[local_date(b)] + 1 > rules.max_sessions_per_day}
    )
    if crowded:
        problems.append(
            _("At most %(count)d sessions a day are allowed; %(date)s would have more.")
            % {"count": rules.max_sessions_per_day, "date": _day(crowded[0])}
        )
    if problems and rules.enforcement == Enforcement.REFUSE:
        raise ServiceError(" ".join(problems), field="rrule")
    return problems


def _slot_snapshot(slot: Slot) -> dict[str, Any]:
    return {
        "name": slot.name,
        "rrule": slot.rrule,
        "start_time": slot.start_time.strftime("%H:%M") if slot.start_time else None,
        "duration_minutes": slot.duration_minutes,
        "starts_on": slot.starts_on.isoformat() if slot.starts_on else None,
        "ends_on": slot.ends_on.isoformat() if slot.ends_on else None,
        "is_active": slot.is_active,
    }


def _validate_slot(slot: Slot) -> None:
    slot.name = str(slot.name or "").strip()
    if not slot.name:
        raise ServiceError(_("Give the slot a name."), field="name")
    slot.rrule = parse_rrule(slot.rrule)
    if not isinstance(slot.start_time, dt.time):
        raise ServiceError(_("Give the time the slot starts."), field="start_time")
    if not isinstance(slot.starts_on, dt.date):
        raise ServiceError(_("Give the slot's first day."), field="starts_on")
    if slot.ends_on is not None and slot.ends_on < slot.starts_on:
        raise ServiceError(_("The last day comes before the first day."), field="ends_on")
    full_clean_or_raise(slot, exclude=["station"])


def _check_and_confirm(slot: Slot, *, confirm: bool, exclude: Slot | None) -> list[str]:
    if not slot.is_active:
        return []
    warnings = slot_check(
        slot.station,
        rrule=slot.rrule,
        start_time=slot.start_time,
        duration_minutes=slot.duration_minutes,
        starts_on=slot.starts_on,
        ends_on=slot.ends_on,
        exclude=exclude,
    )
    if warnings and not confirm:
        raise ServiceError(
            _("Confirm to save this slot despite the warnings: %(warnings)s")
            % {"warnings": " ".join(warnings)},
            field="confirm",
        )
    return warnings


def slot_create(
    *,
    actor: User | None,
    station: Station,
    name: str,
    rrule: str,
    start_time: dt.time,
    duration_minutes: int,
    starts_on: dt.date,
    ends_on: dt.date | None = None,
    confirm: bool = False,
) -> tuple[Slot, list[str]]:
    """A new recurring slot. Rule warnings (enforcement "warn") need `confirm=True`."""
    _require(actor, (Action.BROADCAST,), station.unit, _("Station not found."))
    slot = Slot(
        station=station,
        name=name,
        rrule=rrule,
        start_time=start_time,
        duration_minutes=duration_minutes,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    _validate_slot(slot)
    with transaction.atomic():
        Station.objects.select_for_update().filter(pk=station.pk).first()  # one writer at once
        warnings = _check_and_confirm(slot, confirm=confirm, exclude=None)
        slot.save()
        audit_record(
            actor=actor,
            action="radio.slot.create",
            obj=slot,
            unit=station.unit,
            after={**_slot_snapshot(slot), **({"warnings": warnings} if warnings else {})},
        )
        _replan([station.pk])
    return slot, warnings


def slot_update(
    *, actor: User | None, slot: Slot, confirm: bool = False, **fields: Any
) -> tuple[Slot, list[str]]:
    """Change a slot; checked again like a new one (its own sessions aside)."""
    station = slot.station
    _require(actor, (Action.BROADCAST,), station.unit, _("Slot not found."))
    unknown = set(fields) - set(SLOT_FIELDS)
    if unknown:
        raise ServiceError(_("Unknown field: %(name)s") % {"name": sorted(unknown)[0]})
    with transaction.atomic():
        Station.objects.select_for_update().filter(pk=station.pk).first()
        current = Slot.objects.select_related("station__unit").get(pk=slot.pk)
        before = _slot_snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_slot(current)
        warnings = _check_and_confirm(current, confirm=confirm, exclude=current)
        current.save()
        after = _slot_snapshot(current)
        if after != before:
            audit_record(
                actor=actor,
                action="radio.slot.update",
                obj=current,
                unit=station.unit,
                before=before,
                after={**after, **({"warnings": warnings} if warnings else {})},
            )
            _replan([station.pk])
    return current, warnings


def slot_delete(*, actor: User | None, slot: Slot) -> None:
    """Remove a slot. Airings already started stay (history); future ones go at the re-plan."""
    station = slot.station
    _require(actor, (Action.BROADCAST,), station.unit, _("Slot not found."))
    with transaction.atomic():
        before = _slot_snapshot(slot)
        pk = slot.pk
        audit_record(
            actor=actor, action="radio.slot.delete", obj=slot, unit=station.unit, before=before
        )
        Slot.objects.filter(pk=pk).delete()
        _replan([station.pk])


# --- The commune's own order ---------------------------------------------------------------


def airable_bulletin_ids(station: Station) -> set[int]:
    """Bulletins this station could air: its commune's own, and those relayed to it."""
    from thongtincoso.bulletins.models import Bulletin, Delivery, DeliveryStatus

    own = Bulletin.objects.filter(unit=station.unit_id).values_list("pk", flat=True)
    relayed = (
        Delivery.objects.filter(commune=station.unit_id)
        .exclude(status=DeliveryStatus.DECLINED)
        .values_list("bulletin_id", flat=True)
    )
    return set(own) | set(relayed)


def queue_reorder(*, actor: User | None, station: Station, bulletin_ids: list[int]) -> int:
    """The commune's own order among same-priority items: the first listed airs first."""
    _require(actor, (Action.BROADCAST,), station.unit, _("Station not found."))
    ids = [int(pk) for pk in bulletin_ids]
    if len(set(ids)) != len(ids):
        raise ServiceError(_("An item appears twice in the order."), field="bulletin_ids")
    if set(ids) - airable_bulletin_ids(station):
        raise ServiceError(
            _("Some items are not bulletins this station can air."), field="bulletin_ids"
        )
    with transaction.atomic():
        existing = {
            row.bulletin_id: row
            for row in QueueOrder.objects.select_for_update().filter(
                station=station, bulletin_id__in=ids
            )
        }
        changed, created = [], []
        for position, pk in enumerate(ids, start=1):
            row = existing.get(pk)
            if row is None:
                created.append(QueueOrder(station=station, bulletin_id=pk, position=position))
            elif row.position != position:
                row.position = position
                changed.append(row)
        QueueOrder.objects.bulk_create(created)
        QueueOrder.objects.bulk_update(changed, ["position"])
        audit_record(
            actor=actor,
            action="radio.queue.reorder",
            unit=station.unit,
            object_type="radio.station",
            object_id=str(station.pk),
            object_repr=station.name,
            after={"order": ids},
        )
        _replan([station.pk])
    return len(ids)
