"""Proof of play: what the devices say they played, reconciled with what was scheduled.

Each bulletin airing that has ended gets one AiringResult per device it was meant for:
- played: the device's play events for the item (its key, or key + "#r" when it restarted
  after an emergency) add up to at least 90% of the audio;
- preempted: an emergency interrupted it and it never completed;
- partial: some of it played;
- missed: nothing was reported.
Airing and AiringResult copy the title and audio hash, so the record stays when the bulletin
or its audio is deleted. Filler is not reconciled (it is whatever fills the rest of a session).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from thongtincoso.units.models import PATH_SEGMENT_WIDTH, Unit, UnitKind

from .models import (
    Airing,
    AiringKind,
    AiringResult,
    AiringStatus,
    Device,
    DeviceKind,
    Emergency,
    EmergencyState,
    PlayEvent,
    PlayOutcome,
    Station,
)

if TYPE_CHECKING:
    from thongtincoso.bulletins.models import Bulletin

RESTART_SUFFIX = "#r"
PLAYED_SHARE = 0.9
SETTLE = dt.timedelta(minutes=5)  # devices report a little after the fact
LOOKBACK = dt.timedelta(days=7)  # late events are taken into account this long
UNSETTLED = (AiringStatus.MISSED, AiringStatus.PARTIAL, AiringStatus.PREEMPTED)


def classify(events: Iterable[PlayEvent], duration: float) -> tuple[str, float]:
    """(status, seconds played) of one airing on one device from its play events."""
    played = 0.0
    completed = preempted = False
    for event in events:
        played += max(0.0, event.played_seconds)
        completed = completed or event.outcome == PlayOutcome.COMPLETED
        preempted = preempted or event.outcome == PlayOutcome.PREEMPTED
    # Length unknown: the device's word for it.
    full = played >= PLAYED_SHARE * duration if duration > 0 else completed
    if full:
        return AiringStatus.PLAYED, played
    if preempted and not completed:
        return AiringStatus.PREEMPTED, played
    if played > 0 or completed:
        return AiringStatus.PARTIAL, played
    return AiringStatus.MISSED, played


def devices_for_airing(airing: Airing, devices: Iterable[Device]) -> list[Device]:
    """Of the station's devices, those the airing was meant for.

    Loudspeaker clusters only (e-boards show text, they do not play the programme); enrolled
    before the airing started and not revoked by then; in one of its zones when it has any.
    """
    zones = set(airing.zone_codes or [])
    chosen = []
    for device in devices:
        if device.kind != DeviceKind.CLUSTER:
            continue
        if device.enrolled_at is None or device.enrolled_at > airing.starts_at:
            continue
        if device.revoked_at is not None and device.revoked_at <= airing.starts_at:
            continue
        if zones and (device.zone is None or device.zone.code not in zones):
            continue
        chosen.append(device)
    return chosen


def _due_airings(now: dt.datetime) -> QuerySet[Airing]:
    settled = Airing.objects.filter(
        kind=AiringKind.BULLETIN, ends_at__lte=now - SETTLE, ends_at__gte=now - LOOKBACK
    ).filter(
        # A station without loudspeaker clusters has nothing to reconcile (and would be looked
        # at again every run for a week).
        Exists(
            Device.objects.filter(commune_id=OuterRef("station__unit_id"), kind=DeviceKind.CLUSTER)
        )
    )
    never = settled.filter(~Exists(AiringResult.objects.filter(airing=OuterRef("pk"))))
    # A result short of "played" with an event for it received after it was written.
    late_event = PlayEvent.objects.filter(
        device_code=OuterRef("device_code"), received_at__gt=OuterRef("reconciled_at")
    ).filter(
        Q(item_key=OuterRef("airing__key"))
        | Q(item_key__startswith=Concat(OuterRef("airing__key"), Value(RESTART_SUFFIX)))
    )
    upgradable = AiringResult.objects.filter(airing__in=settled, status__in=UNSETTLED).filter(
        Exists(late_event)
    )
    return Airing.objects.filter(
        Q(pk__in=never.values("pk")) | Q(pk__in=upgradable.values("airing_id"))
    ).select_related("station", "delivery")


def reconcile(*, now: dt.datetime | None = None) -> int:
    """Reconcile ended airings (new ones, and earlier ones with late events). Returns how many."""
    now = now or timezone.now()
    airings = list(_due_airings(now).order_by("station_id", "starts_at", "pk"))
    station_devices: dict[int, list[Device]] = {}
    count = 0
    for airing in airings:
        devices = station_devices.get(airing.station_id)
        if devices is None:
            devices = list(
                Device.objects.filter(commune_id=airing.station.unit_id).select_related("zone")
            )
            station_devices[airing.station_id] = devices
        if _reconcile_airing(airing, devices_for_airing(airing, devices)):
            count += 1
    return count


def _reconcile_airing(airing: Airing, devices: list[Device]) -> bool:
    if not devices:
        return False
    codes = [d.code for d in devices]
    events: dict[str, list[PlayEvent]] = defaultdict(list)
    # The item itself and its restarts after emergencies ("#r", "#r2", … in timeline.resolve).
    for event in PlayEvent.objects.filter(device_code__in=codes).filter(
        Q(item_key=airing.key) | Q(item_key__startswith=airing.key + RESTART_SUFFIX)
    ):
        events[event.device_code].append(event)
    first_played: dt.datetime | None = None
    with transaction.atomic():
        existing = {r.device_code: r for r in AiringResult.objects.filter(airing=airing)}
        for device in devices:
            status, seconds = classify(events[device.code], airing.audio_duration)
            if status == AiringStatus.PLAYED:
                start = min(e.started_at for e in events[device.code])
                first_played = start if first_played is None else min(first_played, start)
            row = existing.get(device.code)
            if row is None:
                AiringResult.objects.create(
                    airing=airing,
                    device=device,
                    device_code=device.code,
                    status=status,
                    played_seconds=seconds,
                )
            else:
                # Saved even when unchanged: reconciled_at records that these events were seen.
                row.status, row.played_seconds, row.device = status, seconds, device
                row.save(update_fields=["status", "played_seconds", "device", "reconciled_at"])
        if first_played is not None and airing.delivery is not None:
            _mark_aired(airing, first_played)
    return True


def _mark_aired(airing: Airing, at: dt.datetime) -> None:
    """Tell the origin of a relayed bulletin that it aired in this commune."""
    from thongtincoso.bulletins.models import DeliveryStatus
    from thongtincoso.bulletins.services import delivery_mark
    from thongtincoso.core.errors import ConflictError

    delivery = airing.delivery
    assert delivery is not None
    if delivery.status == DeliveryStatus.AIRED and delivery.aired_at and delivery.aired_at <= at:
        return
    # Declined since: the commune's decision stands, the results still record the play.
    with contextlib.suppress(ConflictError):
        delivery_mark(actor=None, delivery=delivery, status=DeliveryStatus.AIRED, at=at)


# --- Reports ------------------------------------------------------------------------------------


def _ancestor_ids(unit: Unit) -> list[int]:
    width = PATH_SEGMENT_WIDTH
    paths = [unit.path[:i] for i in range(width, len(unit.path) + 1, width)]
    return list(Unit.objects.filter(path__in=paths).values_list("pk", flat=True))


def station_report(
    stations: Iterable[Station],
    start: dt.datetime,
    end: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Per station, for airings starting in [start, end) (DOMAIN.md "Reports a province expects").

    - clusters, speakers, eboards: the station's devices now (not revoked);
    - bulletins_aired: bulletin airings that played on at least one device;
    - plays, successful_plays: reconciled (airing, device) pairs, and those played;
    - emergency_broadcasts: emergencies on air in the period that reached the commune;
    - airtime_requested / airtime_played: seconds over all (airing, device) pairs, the audio's
      length and what was played (at most the length);
    - success_ratio: successful_plays / plays (None without plays);
    - devices_online, devices_offline, devices_never: status now.
    """
    from .fleet import NEVER, OFFLINE, ONLINE, device_status, rules_for

    now = now or timezone.now()
    rows = []
    for station in stations:
        commune = station.unit
        devices = list(Device.objects.filter(commune=commune, revoked_at__isnull=True))
        clusters = [d for d in devices if d.kind == DeviceKind.CLUSTER]
        rules = rules_for(commune)
        statuses = [device_status(d, now=now, rules=rules) for d in devices]
        results = AiringResult.objects.filter(
            airing__station=station,
            airing__kind=AiringKind.BULLETIN,
            airing__starts_at__gte=start,
            airing__starts_at__lt=end,
        )
        plays = requested = played = 0.0
        successful = 0
        aired: set[int] = set()
        for status, seconds, duration, airing_id in results.values_list(
            "status", "played_seconds", "airing__audio_duration", "airing_id"
        ):
            plays += 1
            requested += duration
            played += min(seconds, duration) if duration > 0 else seconds
            if status == AiringStatus.PLAYED:
                successful += 1
                aired.add(airing_id)
        reached = [commune.pk, *_ancestor_ids(commune)]
        zones = Unit.objects.filter(parent=commune, kind=UnitKind.ZONE).values_list("pk", flat=True)
        emergencies = (
            Emergency.objects.filter(
                Q(targets__in=reached) | Q(targets__in=list(zones)),
                started_at__gte=start,
                started_at__lt=end,
                state__in=[
                    EmergencyState.ACTIVE,
                    EmergencyState.STOPPED,
                    EmergencyState.FINISHED,
                ],
            )
            .distinct()
            .count()
        )
        rows.append(
            {
                "station": station,
                "commune_code": commune.code,
                "commune": commune.name,
                "clusters": len(clusters),
                "speakers": sum(d.speakers for d in clusters),
                "eboards": len(devices) - len(clusters),
                "bulletins_aired": len(aired),
                "plays": int(plays),
                "successful_plays": successful,
                "emergency_broadcasts": emergencies,
                "airtime_requested": round(requested, 1),
                "airtime_played": round(played, 1),
                "success_ratio": round(successful / plays, 4) if plays else None,
                "devices_online": statuses.count(ONLINE),
                "devices_offline": statuses.count(OFFLINE),
                "devices_never": statuses.count(NEVER),
            }
        )
    return rows


REPORT_COLUMNS = (
    "commune_code",
    "commune",
    "clusters",
    "speakers",
    "eboards",
    "bulletins_aired",
    "plays",
    "successful_plays",
    "success_ratio",
    "airtime_requested",
    "airtime_played",
    "emergency_broadcasts",
    "devices_online",
    "devices_offline",
    "devices_never",
)


def report_headers() -> list[str]:
    """Column names in the active language."""
    return [
        _("Commune code"),
        _("Commune"),
        _("Loudspeaker clusters"),
        _("Speakers"),
        _("E-boards"),
        _("Bulletins aired"),
        _("Plays scheduled"),
        _("Successful plays"),
        _("Success ratio"),
        _("Airtime requested (seconds)"),
        _("Airtime played (seconds)"),
        _("Emergency broadcasts"),
        _("Devices online"),
        _("Devices offline"),
        _("Devices never seen"),
    ]


def report_csv_rows(
    stations: Iterable[Station],
    start: dt.datetime,
    end: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> Iterator[list[Any]]:
    """The station report as CSV rows, the header first."""
    from thongtincoso.core.csvsafe import safe_row

    yield report_headers()
    for row in station_report(stations, start, end, now=now):
        # Station names are typed by people: never a formula in the officials' spreadsheet.
        yield safe_row(["" if row[c] is None else row[c] for c in REPORT_COLUMNS])


report_rows = report_csv_rows  # the name docs/radio.md uses


def airing_status_for_bulletin(bulletin: Bulletin) -> list[dict[str, Any]]:
    """Per commune where the bulletin is (or was) on the radio: first scheduled airing and
    whether it aired, on how many of the devices it was meant for."""
    from thongtincoso.bulletins.models import Delivery

    airings = (
        Airing.objects.filter(Q(bulletin=bulletin) | Q(delivery__bulletin=bulletin))
        .select_related("station__unit")
        .order_by("starts_at", "pk")
    )
    per_commune: dict[int, dict[str, Any]] = {}
    airing_commune: dict[int, int] = {}
    for airing in airings:
        commune = airing.station.unit
        airing_commune[airing.pk] = commune.pk
        entry = per_commune.setdefault(
            commune.pk,
            {"commune": commune, "scheduled_at": airing.starts_at, "_played": set(), "_all": set()},
        )
        entry["scheduled_at"] = min(entry["scheduled_at"], airing.starts_at)
    for airing_id, code, status in AiringResult.objects.filter(
        airing_id__in=list(airing_commune)
    ).values_list("airing_id", "device_code", "status"):
        entry = per_commune[airing_commune[airing_id]]
        entry["_all"].add(code)
        if status == AiringStatus.PLAYED:
            entry["_played"].add(code)
    for delivery in Delivery.objects.filter(bulletin=bulletin).select_related("commune"):
        per_commune.setdefault(
            delivery.commune_id,
            {"commune": delivery.commune, "scheduled_at": None, "_played": set(), "_all": set()},
        )
    rows = []
    for entry in sorted(per_commune.values(), key=lambda e: e["commune"].path):
        played, reached = entry.pop("_played"), entry.pop("_all")
        entry.update(aired=bool(played), played_devices=len(played), devices=len(reached))
        rows.append(entry)
    return rows
