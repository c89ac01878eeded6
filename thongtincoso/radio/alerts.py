"""Alerts files: the emergencies on air in a province, one small public file per province.

An emergency must reach every device it targets within seconds, however large the fleet.
Re-rendering each reached device's manifest costs work per device (and, for large fleets, a
background task), so before any manifest is touched the emergency goes out by two O(1) paths:

- `<TTCS_MANIFEST_ROOT>/alerts/<province code>.json`, rewritten here for the few provinces an
  emergency touches, served like manifests (nginx or fastpath.py, ETag/304, no database) at
  `/device-alerts/<province code>.json`; devices poll it with their manifest;
- the MQTT emergency event (push.py), whose payload carries the same `notice`.

Every province in force has a file (with an empty list when nothing is on air there): the
files are written on each emergency change and once a minute by `emergencies_finish_due`, and a
missing one is written when it is first asked for (device_views.alerts_file), so the fast path
answers almost every poll. Format and rules: docs/device-protocol.md, "Alerts file".
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from thongtincoso.units.models import PATH_SEGMENT_WIDTH, Unit, UnitKind

from .manifests import _audio, canonical_json, utc_iso, write_if_changed
from .models import Emergency
from .push import _topic_units
from .targeting import emergencies_shown

ALERTS_VERSION = 1
ALERTS_DIR = "alerts"
# Province codes today are two digits; digits and dots leave room for other unit codes.
CODE_RE = re.compile(r"^[0-9][0-9.]{0,19}$")
_TARGET_KEYS = {
    UnitKind.PROVINCE: "provinces",
    UnitKind.COMMUNE: "communes",
    UnitKind.ZONE: "zones",
}


def alerts_dir() -> Path:
    return Path(settings.TTCS_MANIFEST_ROOT) / ALERTS_DIR


def alerts_path(code: str) -> Path:
    """The file of one province; ValueError for a code that is not a unit code."""
    if not CODE_RE.match(code):
        raise ValueError(f"not a unit code: {code!r}")
    return alerts_dir() / f"{code}.json"


# --- What a device is told ----------------------------------------------------------------------


def _targets(units: Iterable[Unit]) -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {"provinces": [], "communes": [], "zones": []}
    for unit in units:
        codes[_TARGET_KEYS[UnitKind(unit.kind)]].append(unit.code)
    return {key: sorted(values) for key, values in codes.items()}


def _notice(emergency: Emergency, units: list[Unit]) -> dict[str, Any]:
    return {
        "id": emergency.pk,
        "state": emergency.state,
        "title": emergency.title,
        "started_at": utc_iso(emergency.started_at),
        "ends_at": utc_iso(emergency.ends_at),
        "stopped_at": utc_iso(emergency.stopped_at),
        "repeat": emergency.repeat_count,
        "interval": float(emergency.interval_seconds),
        "audio": _audio(emergency.audio_sha256, emergency.audio_size, emergency.audio_duration),
        "targets": _targets(units),
    }


def notice(emergency: Emergency) -> dict[str, Any]:
    """What a device needs to play the emergency without its manifest (docs/device-protocol.md).

    Targets are the codes devices know (their zone, commune, province): the nation becomes its
    provinces and a pre-2025 district its communes, as on the MQTT topics.
    """
    return _notice(emergency, _topic_units(emergency.targets.all()))


def _provinces_of_units(units: Iterable[Unit]) -> list[str]:
    """Province codes of zones, communes and provinces (each the province above it, or itself)."""
    prefixes: set[str] = set()
    for unit in units:
        path = unit.path
        prefixes.update(
            path[:i] for i in range(PATH_SEGMENT_WIDTH, len(path) + 1, PATH_SEGMENT_WIDTH)
        )
    if not prefixes:
        return []
    found = Unit.objects.filter(path__in=prefixes, kind=UnitKind.PROVINCE).values_list(
        "code", flat=True
    )
    return sorted(set(found))


def provinces_of(emergency: Emergency) -> list[str]:
    """The codes of the provinces an emergency touches (every province for the nation)."""
    return _provinces_of_units(_topic_units(emergency.targets.all()))


# --- The files ----------------------------------------------------------------------------------


@contextmanager
def _writing() -> Iterator[None]:
    """One writer at a time (across processes): each reads the database after the previous one
    wrote, so an older state can never overwrite a newer one (a start and a stop a moment apart
    in two requests)."""
    directory = alerts_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _province_codes(provinces: Iterable[str | Unit] | None) -> list[str]:
    if provinces is None:
        current = Unit.objects.current().filter(kind=UnitKind.PROVINCE)
        return sorted(current.values_list("code", flat=True))
    codes = {p.code if isinstance(p, Unit) else str(p) for p in provinces}
    return sorted(code for code in codes if CODE_RE.match(code))


def alerts_by_province(now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """The notices of the emergencies shown to devices, by the province codes they touch."""
    shown = emergencies_shown(now=now).prefetch_related("targets").order_by("started_at", "id")
    result: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for emergency in shown:
        units = _topic_units(emergency.targets.all())
        entry = _notice(emergency, units)
        for code in _provinces_of_units(units):
            result[code].append(entry)
    return result


def write_alerts(
    provinces: Iterable[str | Unit] | None = None, *, now: dt.datetime | None = None
) -> dict[str, str]:
    """Rewrite the alerts files of these provinces (codes or units; every province in force when
    None) whose bytes changed. Returns each file's ETag by province code."""
    codes = _province_codes(provinces)
    if not codes:
        return {}
    etags: dict[str, str] = {}
    with _writing():
        notices = alerts_by_province(now or timezone.now())
        for code in codes:
            data = {
                "version": ALERTS_VERSION,
                "province": code,
                "emergencies": notices.get(code, []),
            }
            etags[code] = write_if_changed(alerts_path(code), canonical_json(data))
    return etags


def write_alerts_for(emergency: Emergency) -> dict[str, str]:
    """Rewrite the files of the provinces this emergency touches (after its change committed)."""
    return write_alerts(provinces_of(emergency))


def is_province(code: str) -> bool:
    """Whether a province in force has this code (its file may be written on demand)."""
    return (
        bool(CODE_RE.match(code))
        and Unit.objects.current().filter(kind=UnitKind.PROVINCE, code=code).exists()
    )
