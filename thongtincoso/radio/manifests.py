"""Device manifests: what one device plays from local midnight today for three days, as a file.

Manifests are rendered when something changes, never when a device asks: `refresh(devices)`
writes each device's manifest to its capability file (credentials.manifest_path) only when the
bytes differ, so the file's ETag (nginx's "<mtime hex>-<size hex>") changes exactly when that
device's schedule changes. nginx, or the app's own fast path (device_views.py), answers polls from
the file with ETag/304 and no database.

The content depends only on the database and the local date, never on the time of rendering, so
rendering twice with nothing changed gives the same bytes. Format: docs/device-protocol.md.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import strip_tags

from thongtincoso.units.models import Unit

from .credentials import capability_for_hash, manifest_path
from .models import (
    DEFAULT_VOLUME,
    Airing,
    AiringKind,
    CommandState,
    Device,
    DeviceCommand,
    DeviceKind,
    Emergency,
    Station,
)
from .targeting import emergencies_shown, reaches
from .timeline import EmergencyWindow, Entry, Item

MANIFEST_VERSION = 1
WINDOW_DAYS = 3
DEFAULT_POLL_INTERVAL = 60
AUDIO_URL = "/api/device/v1/audio/{sha}.mp3"
REFRESH_CHUNK = 1000
_UPDATE_ETAG = "UPDATE {table} SET {etag} = %s, {rendered} = %s WHERE {pk} = %s"


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def utc_iso(value: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with "Z"; milliseconds only when the time has a fraction of a second."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC)
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def etag_for(stat: os.stat_result) -> str:
    """nginx's ETag for a static file: "<mtime seconds hex>-<size hex>"."""
    return f'"{int(stat.st_mtime):x}-{stat.st_size:x}"'


def window_for(now: dt.datetime) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """Local date, and local midnight today to local midnight WINDOW_DAYS later (UTC-aware)."""
    today = timezone.localdate(now)
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(today, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(today + dt.timedelta(days=WINDOW_DAYS), dt.time(0), tzinfo=tz)
    return today, start, end


# --- What a batch of devices needs, fetched once -------------------------------------------------


@dataclass
class _Batch:
    now: dt.datetime
    today: dt.date
    start: dt.datetime
    end: dt.datetime
    stations: dict[int, Station] = field(default_factory=dict)  # by commune id
    airings: dict[int, list[Airing]] = field(default_factory=lambda: defaultdict(list))
    emergencies: list[Emergency] = field(default_factory=list)
    commands: dict[int, list[DeviceCommand]] = field(default_factory=lambda: defaultdict(list))
    poll_intervals: dict[int, int] = field(default_factory=dict)  # by commune id
    eboard: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by commune id


def _live_emergencies(now: dt.datetime) -> list[Emergency]:
    # Fetched once for a whole batch, matched to each device with targeting.reaches.
    return list(emergencies_shown(now=now).prefetch_related("targets").order_by("started_at", "id"))


def _plain_text(body: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|li|h[1-6]|tr)>", "\n", body or "")
    text = html.unescape(strip_tags(text))
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def _eboard_items(commune: Unit, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Published e-board bulletins of the commune (its own and accepted relayed ones) valid at
    some time in the window; the kiosk shows each between its valid_from and valid_until."""
    from thongtincoso.bulletins.models import Bulletin, Channel, Delivery, DeliveryStatus, Status

    relayed = Delivery.objects.filter(
        commune=commune,
        status__in=[DeliveryStatus.ACCEPTED, DeliveryStatus.SCHEDULED, DeliveryStatus.AIRED],
    ).values("bulletin_id")
    rows = (
        Bulletin.objects.filter(status=Status.PUBLISHED, valid_from__lt=end)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=start))
        .filter(Q(unit=commune) | Q(pk__in=relayed))
        .only("id", "title", "summary", "body", "priority", "valid_from", "valid_until", "channels")
        .order_by("valid_from", "id")
    )
    # Channels are a JSON list: containment is not portable to SQLite, so filter here.
    return [
        {
            "id": b.pk,
            "title": b.title,
            "summary": b.summary,
            "body": _plain_text(b.body),
            "priority": b.priority,
            "valid_from": utc_iso(b.valid_from),
            "valid_until": utc_iso(b.valid_until),
        }
        for b in rows
        if Channel.EBOARD in (b.channels or [])
    ]


def _batch(devices: Sequence[Device], now: dt.datetime) -> _Batch:
    today, start, end = window_for(now)
    batch = _Batch(now=now, today=today, start=start, end=end)
    communes = {d.commune_id: d.commune for d in devices}
    batch.stations = {
        s.unit_id: s for s in Station.objects.filter(unit_id__in=communes).select_related(None)
    }
    station_ids = [s.pk for s in batch.stations.values()]
    if station_ids:
        airings = (
            Airing.objects.filter(station_id__in=station_ids, starts_at__lt=end, ends_at__gt=start)
            .only(
                "id",
                "station_id",
                "key",
                "occurrence_start",
                "occurrence_end",
                "starts_at",
                "ends_at",
                "position",
                "kind",
                "title",
                "priority",
                "audio_sha256",
                "audio_size",
                "audio_duration",
                "zone_codes",
            )
            .order_by("starts_at", "position", "id")
        )
        for airing in airings:
            batch.airings[airing.station_id].append(airing)
    batch.emergencies = _live_emergencies(now)
    for command in DeviceCommand.objects.filter(
        device_id__in=[d.pk for d in devices], state=CommandState.QUEUED
    ).order_by("created_at", "id"):
        batch.commands[command.device_id].append(command)
    from .slots import broadcast_rules_by_unit

    for commune_id, rules in broadcast_rules_by_unit(communes.values()).items():
        batch.poll_intervals[commune_id] = int(rules.poll_interval_seconds)
    for commune_id in {d.commune_id for d in devices if d.kind == DeviceKind.EBOARD}:
        batch.eboard[commune_id] = _eboard_items(communes[commune_id], start, end)
    return batch


# --- One device's manifest -----------------------------------------------------------------------


def _audio(sha: str, size: int, duration: float) -> dict[str, Any] | None:
    if not sha:
        return None  # silence
    return {
        "sha256": sha,
        "size": size,
        "duration": duration,
        "url": AUDIO_URL.format(sha=sha),
    }


def _item(airing: Airing) -> Item:
    filler = airing.kind == AiringKind.FILLER
    return Item(
        key=airing.key,
        start=airing.starts_at,
        duration=airing.audio_duration,
        session_end=airing.occurrence_end,
        priority=airing.priority,
        kind=airing.kind,
        end=airing.ends_at if filler else None,
        payload=airing,
    )


def _window(emergency: Emergency) -> EmergencyWindow | None:
    if emergency.started_at is None:
        return None
    return EmergencyWindow(
        key=f"emergency:{emergency.pk}",
        start=emergency.started_at,
        duration=emergency.audio_duration,
        repeat=emergency.repeat_count,
        interval=float(emergency.interval_seconds),
        stopped_at=emergency.stopped_at,
        payload=emergency,
    )


def _entry_dict(entry: Entry) -> dict[str, Any]:
    payload = entry.payload
    out: dict[str, Any] = {
        "id": entry.key,
        "kind": entry.kind,
        "priority": entry.priority,
        "start": utc_iso(entry.start),
        "end": utc_iso(entry.end),
        "status": entry.status,
        "offset": entry.offset,
        "loop": entry.kind == AiringKind.FILLER,
    }
    if isinstance(payload, Emergency):
        repetition = entry.extra.get("repetition")
        if repetition is None:
            tail = entry.key.rsplit(":", 1)[-1]
            repetition = int(tail) if tail.isascii() and tail.isdigit() else 1
        out["title"] = payload.title
        out["priority"] = "emergency"
        out["audio"] = _audio(payload.audio_sha256, payload.audio_size, payload.audio_duration)
        out["emergency"] = {
            "id": payload.pk,
            "repetition": repetition,
            "of": payload.repeat_count,
        }
    elif isinstance(payload, Airing):
        out["title"] = payload.title
        out["audio"] = _audio(payload.audio_sha256, payload.audio_size, payload.audio_duration)
    else:
        out["title"] = ""
        out["audio"] = None
    return out


def _timeline(
    device: Device, batch: _Batch, station: Station | None, emergencies: list[Emergency]
) -> list[Entry]:
    zone_code = device.zone.code if device.zone_id and device.zone else None
    airings = batch.airings.get(station.pk, []) if station else []
    mine = [a for a in airings if not a.zone_codes or (zone_code and zone_code in a.zone_codes)]
    items = [_item(a) for a in mine]
    windows = [w for e in emergencies if (w := _window(e)) is not None]
    if not windows:
        # Nothing to lay over the plan: the timeline is the plan itself.
        return [
            Entry(
                key=i.key,
                kind=i.kind,
                start=i.start,
                end=i.end or i.start + dt.timedelta(seconds=i.duration),
                status="planned",
                priority=i.priority,
                payload=i.payload,
            )
            for i in items
        ]
    from .timeline import resolve

    resume = station.resume_rule if station else "restart"
    return resolve(items, windows, resume=resume)  # type: ignore[arg-type]


def _build(device: Device, batch: _Batch) -> dict[str, Any]:
    station = batch.stations.get(device.commune_id)
    emergencies = [e for e in batch.emergencies if reaches(device, e.targets.all())]
    entries = _timeline(device, batch, station, emergencies)
    volume = device.volume
    if volume is None:
        volume = station.volume if station else DEFAULT_VOLUME
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "device": device.code,
        "kind": device.kind,
        "commune": device.commune.code,
        "zone": device.zone.code if device.zone_id and device.zone else None,
        "generated_for": batch.today.isoformat(),
        "window": {"start": utc_iso(batch.start), "end": utc_iso(batch.end)},
        "volume": volume,
        "poll_interval": batch.poll_intervals.get(device.commune_id, DEFAULT_POLL_INTERVAL),
        "items": [_entry_dict(e) for e in entries],
        "commands": [
            {"id": c.pk, "kind": c.kind, "params": c.params}
            for c in batch.commands.get(device.pk, [])
        ],
        "emergencies": [
            {
                "id": e.pk,
                "title": e.title,
                "state": e.state,
                "started_at": utc_iso(e.started_at),
                "ends_at": utc_iso(e.ends_at),
                "stopped_at": utc_iso(e.stopped_at),
            }
            for e in emergencies
        ],
    }
    if device.kind == DeviceKind.EBOARD:
        manifest["eboard"] = batch.eboard.get(device.commune_id, [])
    return manifest


def build_manifest(device: Device, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The device's manifest as a dict (see docs/device-protocol.md)."""
    return _build(device, _batch([device], now or timezone.now()))


# --- Writing the files ---------------------------------------------------------------------------


@dataclass
class StagedFile:
    """New bytes written beside `path` (at `tmp`), ready to be put in place with os.replace."""

    tmp: str
    path: Path


@dataclass
class _Staged(StagedFile):
    device: Device = field(kw_only=True)


# Up to this many new files in a chunk are each fsync'ed; beyond it one os.sync() is far cheaper
# than thousands of fsyncs (a full render of a large fleet).
_FSYNC_EACH_UP_TO = 16


def stage_file(path: Path, data: bytes, *, last_etag: str | None = None) -> StagedFile | str:
    """Write `data` beside `path` (not yet in place), or return the current ETag when the bytes
    on disk are already these.

    `last_etag` is the ETag a client may still hold when the file went missing: the new file
    avoids it. Shared by manifests and the alerts files (alerts.py).
    """
    try:
        previous: os.stat_result | None = path.stat()
    except FileNotFoundError:
        previous = None
    if previous is not None and previous.st_size == len(data) and path.read_bytes() == data:
        return etag_for(previous)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)  # served by nginx, which runs as another user
        # The ETag is mtime-seconds + size: a rewrite within the same second with the same size
        # would keep the old ETag and clients would never see the change.
        seconds = int(os.stat(tmp).st_mtime)
        last = int(previous.st_mtime) if previous is not None else None
        if last is None and last_etag:
            # The file went missing: avoid the ETag the client may still hold.
            last = _etag_seconds(last_etag)
        if last is not None and seconds <= last:
            os.utime(tmp, (last + 1, last + 1))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return StagedFile(tmp, path)


def _stage(device: Device, data: bytes) -> _Staged | str:
    """The device's new manifest staged beside the current one, or the current ETag."""
    assert device.credential_hash
    path = manifest_path(capability_for_hash(device.credential_hash))
    staged = stage_file(path, data, last_etag=device.manifest_etag)
    if isinstance(staged, str):
        return staged
    return _Staged(staged.tmp, staged.path, device=device)


def _etag_seconds(etag: str) -> int | None:
    try:
        return int(etag.strip('"').split("-", 1)[0], 16)
    except ValueError:
        return None


def install_files(staged: Sequence[StagedFile]) -> list[str]:
    """Make the staged files durable, then put each in place atomically; their new ETags."""
    try:
        if len(staged) > _FSYNC_EACH_UP_TO and hasattr(os, "sync"):
            os.sync()
        else:
            for item in staged:
                fd = os.open(item.tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        etags: list[str] = []
        for item in staged:
            os.replace(item.tmp, item.path)
            etags.append(etag_for(item.path.stat()))
        return etags
    finally:
        for item in staged:
            Path(item.tmp).unlink(missing_ok=True)


def write_if_changed(path: Path, data: bytes) -> str:
    """Atomically replace the file at `path` with `data` unless it already holds these bytes;
    its ETag, which changes whenever the bytes do."""
    staged = stage_file(path, data)
    if isinstance(staged, str):
        return staged
    return install_files([staged])[0]


def _install(staged: list[_Staged]) -> dict[int, str]:
    """Put the staged manifests in place; new ETags by device."""
    etags = install_files(staged)
    return {item.device.pk: etag for item, etag in zip(staged, etags, strict=True)}


def _notify(devices: list[Device]) -> None:
    try:
        from .push import manifests_changed
    except ImportError:
        return
    manifests_changed(devices)


def refresh(devices: Iterable[Device], *, now: dt.datetime | None = None) -> list[Device]:
    """Render the devices' manifests and rewrite the files whose bytes changed.

    Returns the devices whose manifest changed; the push channel hears of them after commit.
    Devices without a credential (not enrolled, revoked) have no file and are skipped.
    """
    now = now or timezone.now()
    devices = list(devices)
    changed: list[Device] = []
    # Chunks keep each IN list under SQLite's variable limit and memory flat for large fleets.
    for i in range(0, len(devices), REFRESH_CHUNK):
        changed.extend(_refresh_chunk(devices[i : i + REFRESH_CHUNK], now))
    if changed:
        transaction.on_commit(lambda: _notify(changed))
    return changed


def _refresh_chunk(devices: list[Device], now: dt.datetime) -> list[Device]:
    rows = list(
        Device.objects.filter(
            pk__in=[d.pk for d in devices], credential_hash__isnull=False, revoked_at__isnull=True
        )
        .select_related("commune", "zone")
        .order_by("pk")
    )
    if not rows:
        return []
    batch = _batch(rows, now)
    staged: list[_Staged] = []
    to_save: list[Device] = []
    try:
        for device in rows:
            result = _stage(device, canonical_json(_build(device, batch)))
            if isinstance(result, _Staged):
                staged.append(result)
            elif device.manifest_etag != result:
                device.manifest_etag = result
                to_save.append(device)
        etags = _install(staged)
    except BaseException:
        for item in staged:
            Path(item.tmp).unlink(missing_ok=True)
        raise
    changed = _still_valid(staged)
    for device in changed:
        device.manifest_etag = etags[device.pk]
        device.manifest_rendered_at = now
    to_save.extend(changed)
    _save_etags(to_save)
    # Callers holding the same objects see the new ETag too.
    by_id = {d.pk: d for d in to_save}
    for original in devices:
        fresh = by_id.get(original.pk)
        if fresh is not None and fresh is not original:
            original.manifest_etag = fresh.manifest_etag
            original.manifest_rendered_at = fresh.manifest_rendered_at
    return changed


def _still_valid(staged: list[_Staged]) -> list[Device]:
    """The devices whose new files may stay; the others' files are removed again.

    A device revoked or rotated while its manifest was being rendered must not get its file back
    (nginx and the fast path would serve it without asking anyone). Revocation deletes the file
    after it commits and this check runs after the files are in place, so whichever comes last
    removes it.
    """
    if not staged:
        return []
    current = dict(
        Device.objects.filter(
            pk__in=[item.device.pk for item in staged], revoked_at__isnull=True
        ).values_list("pk", "credential_hash")
    )
    valid = []
    for item in staged:
        if current.get(item.device.pk) == item.device.credential_hash:
            valid.append(item.device)
        else:
            item.path.unlink(missing_ok=True)
    return valid


def _save_etags(devices: list[Device]) -> None:
    # One executemany rather than bulk_update: its CASE … WHEN over thousands of rows costs
    # seconds to build, and this runs for every device of a re-planned commune.
    if not devices:
        return
    meta = Device._meta
    etag_field: Any = meta.get_field("manifest_etag")
    rendered_field: Any = meta.get_field("manifest_rendered_at")
    quote = connection.ops.quote_name
    sql = _UPDATE_ETAG.format(
        table=quote(meta.db_table),
        etag=quote(etag_field.column),
        rendered=quote(rendered_field.column),
        pk=quote(meta.pk.column),  # type: ignore[union-attr]
    )
    rows = [
        (
            etag_field.get_db_prep_save(d.manifest_etag, connection),
            rendered_field.get_db_prep_save(d.manifest_rendered_at, connection),
            d.pk,
        )
        for d in devices
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def refresh_stations(station_ids: Iterable[int], *, now: dt.datetime | None = None) -> list[Device]:
    """Re-render every enrolled device of the stations' communes."""
    communes = Station.objects.filter(pk__in=list(station_ids)).values("unit_id")
    devices = list(
        Device.objects.filter(
            commune_id__in=communes, credential_hash__isnull=False, revoked_at__isnull=True
        ).only("pk")
    )
    return refresh(devices, now=now)
