"""Devices (loudspeaker clusters and e-boards): creating and changing them.

Enrolment, credentials and revocation are in credentials.py.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from thongtincoso.audit.services import audit_record, model_snapshot
from thongtincoso.core.errors import (
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    full_clean_or_raise,
)
from thongtincoso.units.models import Unit, UnitKind

from .credentials import _set_enrolment_code
from .models import Connectivity, Device, DeviceKind

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User

CODE_RE = re.compile(r"^[A-Za-z0-9._-]{3,40}$")
EDITABLE_FIELDS = [
    "name",
    "zone",
    "latitude",
    "longitude",
    "connectivity",
    "speakers",
    "notes",
    "volume",
]
_SNAPSHOT = ["code", "kind", "commune", *EDITABLE_FIELDS]


def _require_manage(actor: User | None, commune: Unit) -> None:
    from thongtincoso.accounts import policy
    from thongtincoso.accounts.roles import Action

    if actor is None:
        return
    if not policy.may(actor, Action.VIEW, commune):
        raise NotFoundError(_("No such commune."))
    if not policy.may(actor, Action.MANAGE_DEVICES, commune):
        raise PermissionDeniedError(_("You may not manage this commune's devices."))


def _coordinate(value: Any, *, field: str, limit: int) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ServiceError(_("Enter a number."), field=field) from exc
    if not number.is_finite() or not -limit <= number <= limit:
        raise ServiceError(
            _("Enter a number between -%(limit)s and %(limit)s.") % {"limit": limit}, field=field
        )
    return number.quantize(Decimal("0.000001"))


def _is_volume(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100


def _zone(commune: Unit, zone: Unit | None) -> Unit | None:
    if zone is None:
        return None
    if zone.kind != UnitKind.ZONE or zone.parent_id != commune.pk:
        raise ServiceError(_("Choose a zone of this commune."), field="zone")
    return zone


def _clean(device: Device) -> None:
    if device.connectivity not in Connectivity.values:
        raise ServiceError(_("Choose 4G, Wi-Fi or LAN."), field="connectivity")
    if not isinstance(device.speakers, int) or isinstance(device.speakers, bool):
        raise ServiceError(_("Enter a whole number."), field="speakers")
    full_clean_or_raise(
        device,
        exclude=[
            "credential_hash",
            "enrolment_code_hash",
            "manifest_etag",
            "created_by",
            "zone",
            "commune",
        ],
    )


def device_create(
    *,
    actor: User | None,
    commune: Unit,
    kind: str,
    code: str,
    zone: Unit | None = None,
    name: str = "",
    latitude: Any = None,
    longitude: Any = None,
    connectivity: str = Connectivity.CELLULAR,
    speakers: int = 0,
    notes: str = "",
) -> tuple[Device, str]:
    """Add a device to a commune; returns it and its one-time enrolment code ("XXXX-XXXX-XXXX").

    The code is shown once and stored only as a hash (see credentials.py).
    """
    _require_manage(actor, commune)
    if commune.kind != UnitKind.COMMUNE:
        raise ServiceError(_("Devices belong to a commune."), field="commune")
    if kind not in DeviceKind.values:
        raise ServiceError(_("Choose a loudspeaker cluster or an e-board."), field="kind")
    code = (code or "").strip()
    if not CODE_RE.match(code):
        raise ServiceError(
            _("A device code is 3 to 40 letters, digits, dots, dashes or underscores."),
            field="code",
        )
    device = Device(
        code=code,
        kind=kind,
        commune=commune,
        zone=_zone(commune, zone),
        name=(name or "").strip(),
        latitude=_coordinate(latitude, field="latitude", limit=90),
        longitude=_coordinate(longitude, field="longitude", limit=180),
        connectivity=connectivity,
        speakers=speakers,
        notes=notes or "",
        created_by=actor if actor is not None and actor.pk else None,
    )
    taken = _("Another device already has the code “%(code)s”.") % {"code": code}
    if Device.objects.filter(code=code).exists():
        raise ServiceError(taken, field="code")
    from django.utils import timezone

    enrolment_code = _set_enrolment_code(device, now=timezone.now())
    _clean(device)
    from .slots import station_for

    try:
        with transaction.atomic():
            # A commune with devices has a station: its devices' manifests are re-rendered
            # through it (nightly roll, bulletins, rules), even before anyone plans a slot.
            station_for(commune)
            device.save()
            audit_record(
                actor=actor,
                action="radio.device.create",
                obj=device,
                unit=commune,
                after=model_snapshot(device, _SNAPSHOT),
            )
    except IntegrityError as exc:  # created by someone else in the meantime
        raise ServiceError(taken, field="code") from exc
    return device, enrolment_code


def device_update(*, actor: User | None, device: Device, **fields: Any) -> Device:
    """Change a device's details (EDITABLE_FIELDS); the manifest follows a zone or volume change."""
    _require_manage(actor, device.commune)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ServiceError(
            _("These fields cannot be changed: %(f)s.") % {"f": ", ".join(sorted(unknown))}
        )
    before = model_snapshot(device, _SNAPSHOT)
    for name, value in fields.items():
        if name == "zone":
            value = _zone(device.commune, value)
        elif name == "latitude":
            value = _coordinate(value, field="latitude", limit=90)
        elif name == "longitude":
            value = _coordinate(value, field="longitude", limit=180)
        elif name in ("name", "notes"):
            value = (value or "").strip() if name == "name" else (value or "")
        elif name == "volume" and value is not None and not _is_volume(value):
            raise ServiceError(_("Enter a volume from 0 to 100."), field="volume")
        setattr(device, name, value)
    _clean(device)
    after = model_snapshot(device, _SNAPSHOT)
    changed = [name for name in EDITABLE_FIELDS if before[name] != after[name]]
    if not changed:
        return device
    with transaction.atomic():
        device.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action="radio.device.update",
            obj=device,
            unit=device.commune,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    if {"zone", "volume"} & set(changed) and device.credential_hash:
        from .manifests import refresh

        refresh([device])
    return device
