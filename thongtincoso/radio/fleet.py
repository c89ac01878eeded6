"""Fleet monitoring: device status from heartbeats, summaries, remote commands, offline alerts.

A device is online while its last heartbeat is younger than its commune's rules'
`offline_after_seconds`; it raises an alert (once) after `alert_after_minutes` offline, and
coming back clears that so the next outage alerts again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import NotFoundError, PermissionDeniedError, ServiceError
from thongtincoso.units.models import Unit

from .models import BroadcastRules, CommandKind, CommandState, Device, DeviceCommand

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User

ONLINE = "online"
OFFLINE = "offline"
NEVER = "never"
REVOKED = "revoked"
STATUSES = (ONLINE, OFFLINE, NEVER, REVOKED)

CLOCK_DRIFT_MS = 2000  # a device whose clock is further off than this is shown as drifting
LOW_STORAGE_MB = 200  # about three hours of programme audio at 128 kbit/s
COMMAND_TTL = dt.timedelta(hours=24)
COMMAND_ACTIONS = (Action.MANAGE_DEVICES, Action.BROADCAST)


def rules_for(unit: Unit) -> BroadcastRules:
    """The broadcast rules in force for a unit (nearest own row up the tree, else defaults)."""
    from .slots import broadcast_rules_for

    return broadcast_rules_for(unit)


def _rules_by_commune(devices: list[Device]) -> dict[int, BroadcastRules]:
    """The rules of every commune of these devices, in one query (the alert check runs every
    minute over the whole fleet)."""
    from .slots import broadcast_rules_by_unit

    return broadcast_rules_by_unit({d.commune_id: d.commune for d in devices}.values())


def device_status(device: Device, *, now: dt.datetime, rules: BroadcastRules) -> str:
    """ "online", "offline", "never" (never heard from) or "revoked"."""
    if device.revoked_at is not None:
        return REVOKED
    if device.last_seen_at is None:
        return NEVER
    age = (now - device.last_seen_at).total_seconds()
    return ONLINE if age < rules.offline_after_seconds else OFFLINE


def is_drifting(device: Device) -> bool:
    return device.clock_offset_ms is not None and abs(device.clock_offset_ms) > CLOCK_DRIFT_MS


def is_low_storage(device: Device) -> bool:
    return device.free_storage_mb is not None and device.free_storage_mb < LOW_STORAGE_MB


def fleet_summary(devices: Iterable[Device], *, now: dt.datetime) -> dict[str, int]:
    """Counts per status, plus devices whose clock drifts or whose storage runs low."""
    devices = list(devices)
    rules = _rules_by_commune(devices)
    summary = dict.fromkeys(STATUSES, 0)
    summary.update(total=0, clock_drift=0, low_storage=0)
    for device in devices:
        summary["total"] += 1
        summary[device_status(device, now=now, rules=rules[device.commune_id])] += 1
        if device.revoked_at is None:
            summary["clock_drift"] += is_drifting(device)
            summary["low_storage"] += is_low_storage(device)
    return summary


@dataclass(frozen=True)
class FleetRow:
    """A device as the list and the map show it."""

    device: Device
    status: str
    offline_after_seconds: int
    alert_after_minutes: int
    clock_drift: bool
    low_storage: bool


def fleet_rows(
    user: User | None,
    unit: Unit | None = None,
    status: str = "",
    kind: str = "",
    *,
    now: dt.datetime | None = None,
) -> list[FleetRow]:
    """Devices the user may see (optionally under `unit`, of one status and kind)."""
    from thongtincoso.units.models import path_upper_bound

    now = now or timezone.now()
    devices = policy.restrict(Device.objects.select_related("commune", "zone"), user)
    if unit is not None:
        devices = devices.filter(
            Q(commune=unit)
            | Q(zone=unit)
            | Q(commune__path__gt=unit.path, commune__path__lt=path_upper_bound(unit.path))
        )
    if kind:
        devices = devices.filter(kind=kind)
    listed = list(devices)
    rules = _rules_by_commune(listed)
    rows = []
    for device in listed:
        own = rules[device.commune_id]
        state = device_status(device, now=now, rules=own)
        if status and state != status:
            continue
        rows.append(
            FleetRow(
                device=device,
                status=state,
                offline_after_seconds=own.offline_after_seconds,
                alert_after_minutes=own.alert_after_minutes,
                clock_drift=is_drifting(device),
                low_storage=is_low_storage(device),
            )
        )
    return rows


# --- Remote commands ----------------------------------------------------------------------------


def _require_command(actor: User | None, device: Device) -> None:
    if any(policy.may(actor, a, device.commune) for a in COMMAND_ACTIONS):
        return
    if policy.may(actor, Action.VIEW, device):
        raise PermissionDeniedError(_("You are not allowed to send commands to this device."))
    raise NotFoundError(_("Device not found."))


def _clean_params(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    if kind not in CommandKind.values:
        raise ServiceError(_("Choose a command from the list."), field="kind")
    if kind != CommandKind.VOLUME:
        return {}
    level = (params or {}).get("level")
    if isinstance(level, str) and level.strip().isascii() and level.strip().isdigit():
        level = int(level)
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 100:
        raise ServiceError(_("The volume must be a whole number from 0 to 100."), field="level")
    return {"level": level}


def command_send(
    *, actor: User | None, device: Device, kind: str, params: dict[str, Any] | None = None
) -> DeviceCommand:
    """Queue a command; the device finds it in its next manifest (and a push says so at once)."""
    _require_command(actor, device)
    clean = _clean_params(kind, params)
    if device.revoked_at is not None:
        raise ServiceError(_("This device has been revoked."))
    with transaction.atomic():
        command = DeviceCommand.objects.create(
            device=device, kind=kind, params=clean, created_by=actor
        )
        audit_record(
            actor=actor,
            action="radio.command.send",
            obj=command,
            unit=device.commune,
            after={"device": device.code, "kind": kind, "params": clean},
        )
        pk = device.pk
        # Re-rendering pushes the changed manifest (manifests.refresh → push.manifests_changed).
        transaction.on_commit(lambda: _refresh([pk]))
    return command


def command_ack(
    *, device: Device, command_id: int, ok: bool = True, result: str = "", at: Any = None
) -> DeviceCommand | None:
    """The device reports a command done (or failed). Unknown or other devices' ids: None."""
    with transaction.atomic():
        command = (
            DeviceCommand.objects.select_for_update()
            .filter(pk=command_id, device=device, state=CommandState.QUEUED)
            .first()
        )
        if command is None:
            return None
        command.state = CommandState.ACKNOWLEDGED if ok else CommandState.FAILED
        command.acked_at = at or timezone.now()
        command.result = (result or "")[:300]
        command.save(update_fields=["state", "acked_at", "result"])
        audit_record(
            actor=None,
            action="radio.command.ack",
            obj=command,
            unit=device.commune,
            after={"device": device.code, "state": command.state, "result": command.result},
        )
        # The caller (ingest.heartbeat_ingest) re-renders the manifest once for all its acks.
    return command


def commands_expire(now: dt.datetime | None = None) -> int:
    """Commands queued for more than a day are given up on (and leave the manifests)."""
    now = now or timezone.now()
    stale = DeviceCommand.objects.filter(
        state=CommandState.QUEUED, created_at__lt=now - COMMAND_TTL
    )
    device_ids = sorted(set(stale.values_list("device_id", flat=True)))
    if not device_ids:
        return 0
    with transaction.atomic():
        count = stale.filter(device_id__in=device_ids).update(
            state=CommandState.EXPIRED, result="expired"
        )
        audit_record(
            actor=None,
            action="radio.command.expire",
            object_type="radio.devicecommand",
            object_repr=_("%(n)d commands") % {"n": count},
            after={"count": count, "devices": len(device_ids)},
        )
        transaction.on_commit(lambda: _refresh(device_ids))
    return count


def _refresh(device_ids: list[int]) -> None:
    from .manifests import refresh

    refresh(list(Device.objects.filter(pk__in=device_ids)))


# --- Offline alerts -----------------------------------------------------------------------------


def heartbeat_seen(device: Device) -> None:
    """A heartbeat arrived: a device that had raised an offline alert may raise the next one."""
    if device.offline_alerted_at is not None:
        Device.objects.filter(pk=device.pk).update(offline_alerted_at=None)
        device.offline_alerted_at = None


def _recipients(commune: Unit) -> list[User]:
    from thongtincoso.accounts.models import RoleAssignment, User
    from thongtincoso.accounts.roles import ROLE_ACTIONS

    roles = [r for r, actions in ROLE_ACTIONS.items() if actions & set(COMMAND_ACTIONS)]
    assignments = RoleAssignment.objects.filter(role__in=roles, user__is_active=True).filter(
        Q(unit=commune) | Q(unit__in=commune.ancestors(), covers_descendants=True)
    )
    return list(User.objects.filter(pk__in=assignments.values("user_id")).order_by("pk"))


def offline_alerts(*, now: dt.datetime | None = None) -> int:
    """Alert once per commune about devices offline longer than its rules allow.

    Returns the number of devices newly alerted.
    """
    from thongtincoso.notifications.services import notify

    now = now or timezone.now()
    # The smallest allowed threshold is a minute; each device's own is checked below.
    candidates = Device.objects.filter(
        revoked_at__isnull=True,
        offline_alerted_at__isnull=True,
        last_seen_at__lt=now - dt.timedelta(minutes=1),
    ).select_related("commune")
    found = list(candidates)
    rules = _rules_by_commune(found)
    by_commune: dict[int, list[Device]] = defaultdict(list)
    for device in found:
        own = rules[device.commune_id]
        threshold = max(own.offline_after_seconds, own.alert_after_minutes * 60)
        assert device.last_seen_at is not None
        if (now - device.last_seen_at).total_seconds() >= threshold:
            by_commune[device.commune_id].append(device)
    count = 0
    for devices in by_commune.values():
        commune = devices[0].commune
        with transaction.atomic():
            # Only devices nobody alerted about in the meantime (two schedulers, a heartbeat).
            ids = list(
                Device.objects.select_for_update()
                .filter(pk__in=[d.pk for d in devices], offline_alerted_at__isnull=True)
                .values_list("pk", flat=True)
            )
            if not ids:
                continue
            Device.objects.filter(pk__in=ids).update(offline_alerted_at=now)
            codes = sorted(d.code for d in devices if d.pk in ids)
            with override("vi"):
                message = _("%(n)d devices of %(commune)s are offline: %(codes)s") % {
                    "n": len(codes),
                    "commune": commune.name,
                    "codes": ", ".join(codes[:20]) + (" …" if len(codes) > 20 else ""),
                }
            notify(recipients=_recipients(commune), message=message, url=_fleet_url(commune))
            audit_record(
                actor=None,
                action="radio.device.offline_alert",
                obj=commune,
                unit=commune,
                after={"devices": codes},
            )
            count += len(ids)
    return count


def _fleet_url(commune: Unit) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("radio:devices") + f"?unit={commune.pk}&status=offline"
    except NoReverseMatch:  # the pages are mounted by the web app
        return ""
