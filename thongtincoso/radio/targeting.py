"""Which devices a set of target units reaches, and which emergencies reach a device.

Targets are units of any level: a zone reaches the devices placed in it, a commune all its devices,
a province (or the nation) every device below it. One rule, used by emergencies, manifests and
push, so "who hears this" is never computed two ways.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from thongtincoso.units.models import Unit, UnitKind, path_upper_bound

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


def emergencies_shown(*, now: dt.datetime) -> QuerySet[Emergency]:
    """Emergencies that belong in manifests: on air, or stopped/finished within the last day.

    Recent past ones stay so a device's manifest can say an emergency was stopped (the device
    stops it even if it missed the push). Which devices each one reaches is `reaches`.
    """
    recent = now - dt.timedelta(days=1)
    return Emergency.objects.filter(
        Q(state=EmergencyState.ACTIVE)
        | Q(state__in=[EmergencyState.STOPPED, EmergencyState.FINISHED], ends_at__gte=recent)
    )
