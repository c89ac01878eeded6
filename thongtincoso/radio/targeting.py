"""Which devices a set of target units reaches, and which emergencies reach a device.

Targets are units of any level: a zone reaches the devices placed in it, a commune all its devices,
a province (or the nation) every device below it. One rule, used by emergencies, manifests and
push, so "who hears this" is never computed two ways.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from thongtincoso.units.models import PATH_SEGMENT_WIDTH, Unit, UnitKind, path_upper_bound

from .models import Device, Emergency, EmergencyState


def devices_in(targets: Iterable[Unit]) -> QuerySet[Device]:
    """Devices (not revoked) reached by any of the target units."""
    condition = Q()
    for unit in targets:
        if unit.kind == UnitKind.ZONE:
            condition |= Q(zone_id=unit.pk)
        elif unit.kind == UnitKind.COMMUNE:
            condition |= Q(commune_id=unit.pk)
        else:
            condition |= Q(
                commune__path__gt=unit.path, commune__path__lt=path_upper_bound(unit.path)
            )
    if not condition:
        return Device.objects.none()
    return Device.objects.filter(condition, revoked_at__isnull=True)


def reaches(device: Device, targets: Iterable[Unit]) -> bool:
    """Whether one device is reached by the targets (the in-memory twin of devices_in)."""
    commune = device.commune
    for unit in targets:
        if unit.kind == UnitKind.ZONE:
            if device.zone_id == unit.pk:
                return True
        elif unit.kind == UnitKind.COMMUNE:
            if device.commune_id == unit.pk:
                return True
        elif commune.path.startswith(unit.path) and commune.pk != unit.pk:
            return True
    return False


def emergencies_for(device: Device, *, now: dt.datetime) -> list[Emergency]:
    """Emergencies on air, or stopped/finished within the last day, that reach this device.

    Recent past ones are included so the device's manifest can say an emergency was stopped (the
    device stops it even if it missed the push).
    """
    commune = device.commune
    width = PATH_SEGMENT_WIDTH
    ancestors = [commune.path[:i] for i in range(width, len(commune.path), width)]
    unit_ids = list(Unit.objects.filter(path__in=ancestors).values_list("pk", flat=True))
    unit_ids.append(commune.pk)
    if device.zone_id:
        unit_ids.append(device.zone_id)
    recent = now - dt.timedelta(days=1)
    return list(
        Emergency.objects.filter(targets__in=unit_ids)
        .filter(
            Q(state=EmergencyState.ACTIVE)
            | Q(state__in=[EmergencyState.STOPPED, EmergencyState.FINISHED], ends_at__gte=recent)
        )
        .distinct()
        .order_by("started_at", "id")
    )
