"""What devices report: heartbeats (health), play logs (proof of play), faults, command acks.

Called by device_views.py with input already validated; each function trusts its types but
checks every rule that depends on the database or the clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import CommandState, Device, DeviceCommand, PlayEvent

# Events a device may still send late (it was offline), and how far ahead of our clock one may be
# dated (a device's clock is corrected by the HTTP Date header, so only a little drift remains).
PLAYLOG_MAX_AGE = dt.timedelta(days=30)
PLAYLOG_MAX_AHEAD = dt.timedelta(minutes=5)
_INSERT_IGNORING_DUPLICATES = (
    "INSERT INTO {table} ({columns}) VALUES {rows} "
    "ON CONFLICT ({key}) DO NOTHING RETURNING {returning}"
)
HEARTBEAT_FIELDS = [
    "status",
    "volume",
    "firmware",
    "free_storage_mb",
    "clock_offset_ms",
    "current_item",
]


def record_fault(device: Device, message: str) -> None:
    """Count a bad request from the device in its health (fleet monitoring shows it)."""
    now = timezone.now()
    Device.objects.filter(pk=device.pk).update(
        fault_count=F("fault_count") + 1, last_fault=str(message)[:300], last_fault_at=now
    )


def command_ack(device: Device, command_id: int, ok: bool, message: str = "") -> bool:
    """Mark one of the device's own queued commands acknowledged or failed; False if it is not
    one of its queued commands (another device's command is never touched)."""
    try:
        from .fleet import command_ack as fleet_command_ack
    except ImportError:  # fleet.py audits acks; without it, record the state alone
        state = CommandState.ACKNOWLEDGED if ok else CommandState.FAILED
        updated = DeviceCommand.objects.filter(
            pk=command_id, device_id=device.pk, state=CommandState.QUEUED
        ).update(state=state, acked_at=timezone.now(), result=(message or "")[:300])
        return bool(updated)
    return (
        fleet_command_ack(device=device, command_id=command_id, ok=ok, result=message) is not None
    )


def heartbeat_ingest(device: Device, data: dict[str, Any]) -> dict[str, Any]:
    """Store a heartbeat's health fields and command acks; answer what the device should know."""
    now = timezone.now()
    acks = data.get("commands") or []
    acked = [a["id"] for a in acks if command_ack(device, a["id"], a["ok"], a.get("message") or "")]
    heartbeat = {k: data.get(k) for k in HEARTBEAT_FIELDS}
    heartbeat["received_at"] = now.isoformat()
    updates: dict[str, Any] = {"last_seen_at": now, "last_heartbeat": heartbeat}
    if data.get("volume") is not None:
        updates["reported_volume"] = data["volume"]
    if data.get("firmware") is not None:
        updates["firmware"] = data["firmware"]
    if data.get("free_storage_mb") is not None:
        updates["free_storage_mb"] = data["free_storage_mb"]
    if data.get("clock_offset_ms") is not None:
        updates["clock_offset_ms"] = data["clock_offset_ms"]
    if data.get("current_item") is not None:
        updates["current_item"] = data["current_item"]
    Device.objects.filter(pk=device.pk).update(**updates)
    for name, value in updates.items():
        setattr(device, name, value)
    try:
        from .fleet import heartbeat_seen
    except ImportError:
        pass
    else:
        heartbeat_seen(device)
    if acked:
        # Acknowledged commands leave the manifest.
        from .manifests import refresh

        refresh([device])
    return {"acknowledged": acked}


def _event_problem(event: dict[str, Any], now: dt.datetime) -> str | None:
    from django.utils.translation import gettext as _

    started, ended = event["started_at"], event["ended_at"]
    if ended < started:
        return _("ended_at is before started_at.")
    if ended > now + PLAYLOG_MAX_AHEAD or started > now + PLAYLOG_MAX_AHEAD:
        return _("The event is dated in the future; correct the device's clock.")
    if started < now - PLAYLOG_MAX_AGE:
        return _("The event is older than 30 days and is no longer accepted.")
    return None


def playlog_ingest(device: Device, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Store a batch of play events, idempotent by (device code, event id).

    Late and out-of-order events are accepted; events dated in the future or older than 30 days,
    and repeats of an id within the batch, are rejected one by one. Returns {"accepted",
    "duplicates", "rejected": [{"index", "event_id", "detail"}]}.
    """
    from django.utils.translation import gettext as _

    now = timezone.now()
    rejected: list[dict[str, Any]] = []
    fresh: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    duplicates = 0
    for index, event in enumerate(events):
        problem = _event_problem(event, now)
        if problem is not None:
            rejected.append({"index": index, "event_id": event["event_id"], "detail": problem})
            continue
        if event["event_id"] in seen:
            duplicates += 1  # the same id twice in one batch: the first one counts
            continue
        seen.add(event["event_id"])
        fresh.append((index, event))
    inserted = _insert(device, [e for _i, e in fresh], now) if fresh else 0
    duplicates += len(fresh) - inserted
    if rejected:
        record_fault(
            device,
            _("%(n)s play events rejected: %(d)s")
            % {"n": len(rejected), "d": rejected[0]["detail"]},
        )
    return {"accepted": inserted, "duplicates": duplicates, "rejected": rejected}


def _insert(device: Device, events: list[dict[str, Any]], now: dt.datetime) -> int:
    """Insert the events, skipping ids already stored; the number actually inserted.

    One INSERT … ON CONFLICT DO NOTHING RETURNING (PostgreSQL, SQLite ≥ 3.35): exact even when
    the same batch is posted twice at once, where counting before and after would not be.
    """
    meta = PlayEvent._meta
    names = [
        "device",
        "device_code",
        "event_id",
        "item_key",
        "title",
        "audio_sha256",
        "started_at",
        "ended_at",
        "played_seconds",
        "outcome",
        "received_at",
    ]
    fields: list[Any] = [meta.get_field(n) for n in names]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    rows_sql: list[str] = []
    params: list[Any] = []
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    for event in events:
        values = {
            "device": device.pk,
            "device_code": device.code,
            "event_id": event["event_id"],
            "item_key": event["item_key"],
            "title": event.get("title") or "",
            "audio_sha256": event.get("audio_sha256") or "",
            "started_at": event["started_at"],
            "ended_at": event["ended_at"],
            "played_seconds": float(event["played_seconds"]),
            "outcome": event["outcome"],
            "received_at": now,
        }
        rows_sql.append(placeholder)
        params.extend(
            f.get_db_prep_save(values[n], connection) for n, f in zip(names, fields, strict=True)
        )
    quote = connection.ops.quote_name
    # Only quoted model names are formatted in; every value is a parameter.
    sql = _INSERT_IGNORING_DUPLICATES.format(
        table=quote(meta.db_table),
        columns=columns,
        rows=", ".join(rows_sql),
        key=f"{quote('device_code')}, {quote('event_id')}",
        returning=quote("event_id"),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())
