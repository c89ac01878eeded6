"""What should be playing now: pure functions over the manifest and emergency notices.

Rules (docs/device-protocol.md §2, docs/radio.md "Emergency pre-emption"):

- `planned` and `preempted` items play from `start` to `end`; `dropped` items never play.
- An item whose start has passed but whose end has not starts at once from
  `offset + (now - start)`: a rebooted device catches up, as the protocol says.
- EXCEPT emergencies: a repetition the device learns of (or gets the audio of) more than
  `LATE_EMERGENCY_S` after its start plays FROM THE BEGINNING at once, and runs its whole
  duration even past its listed `end`. A warning must be heard whole; joining it half-way
  would broadcast half an evacuation order. A repetition never heard may start late until the
  next repetition of the same emergency starts (the last one: until `LATE_EMERGENCY_GRACE_S`
  after its end), so a device that hears of the emergency after the first repetition ended (a
  poll, a slow download) still plays it at once instead of staying silent until the next one.
  Nothing of an emergency starts after it was stopped.
- An emergency always pre-empts a non-emergency item; a newer emergency (later start) pre-empts
  an older one. Repetitions of the same emergency never cut each other.
- An item whose key is in `done` (completed, or stopped by command) is not played again.

Times are server-time epoch seconds (the agent corrects its clock before calling these).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .clock import parse_iso

log = logging.getLogger(__name__)

LATE_EMERGENCY_S = 0.5
# How long after its end the last repetition of an emergency may still start for a device that
# learns of it late: a poll interval (60 s by default) plus a re-render, with room to spare.
LATE_EMERGENCY_GRACE_S = 120.0
EMERGENCY = "emergency"
TERMINAL_NOTICE_STATES = frozenset({"stopped", "cancelled"})


@dataclass(frozen=True)
class PlayItem:
    key: str
    kind: str
    title: str
    priority: str
    start: float
    end: float
    loop: bool = False
    sha256: str | None = None
    duration: float = 0.0
    size: int = 0
    url: str | None = None
    offset: float = 0.0
    status: str = "planned"
    emergency_id: int | None = None
    repetition: int | None = None
    of: int | None = None
    # Emergencies: the moment after which a repetition not yet heard may no longer start late
    # (set by merge_items; None means its `end`).
    late_until: float | None = None

    @property
    def is_emergency(self) -> bool:
        return self.kind == EMERGENCY or self.emergency_id is not None

    @property
    def last_start(self) -> float:
        """The latest moment at which this item may (still) start."""
        if self.is_emergency and self.late_until is not None:
            return max(self.end, self.late_until)
        return self.end


@dataclass(frozen=True)
class Current:
    """The item the agent is playing: which one, and until when (server time)."""

    key: str
    until: float


@dataclass(frozen=True)
class Choice:
    item: PlayItem | None  # what should play now (None: silence)
    offset: float  # seconds into the audio to start from (ignored when `keep`)
    until: float  # server time at which to stop it at the latest
    keep: bool  # True: `item` is the one already playing, leave it alone
    wake_at: float | None  # decide again at this server time at the latest


def item_from_dict(raw: Mapping[str, Any]) -> PlayItem:
    audio = raw.get("audio") or {}
    emergency = raw.get("emergency") or {}
    return PlayItem(
        key=str(raw["id"]),
        kind=str(raw.get("kind", "bulletin")),
        title=str(raw.get("title", "")),
        priority=str(raw.get("priority", "normal")),
        start=parse_iso(raw["start"]),
        end=parse_iso(raw["end"]),
        loop=bool(raw.get("loop", False)),
        sha256=audio.get("sha256"),
        duration=float(audio.get("duration") or 0.0),
        size=int(audio.get("size") or 0),
        url=audio.get("url"),
        offset=float(raw.get("offset") or 0.0),
        status=str(raw.get("status", "planned")),
        emergency_id=emergency.get("id"),
        repetition=emergency.get("repetition"),
        of=emergency.get("of"),
    )


# What a malformed entry raises when parsed (a missing key, a bad time, a wrong type).
BAD_ENTRY = (KeyError, TypeError, ValueError, AttributeError, OverflowError)


def _entries(document: Mapping[str, Any] | None, name: str) -> list[Any]:
    entries = document.get(name) if isinstance(document, Mapping) else None
    return entries if isinstance(entries, list) else []


def items_from_manifest(manifest: Mapping[str, Any] | None) -> list[PlayItem]:
    """The manifest's items; an entry that does not parse is skipped (and logged), so one
    bad entry cannot silence the whole schedule."""
    items = []
    for raw in _entries(manifest, "items"):
        try:
            items.append(item_from_dict(raw))
        except BAD_ENTRY as exc:
            log.error("manifest item skipped (%s: %s): %.200r", type(exc).__name__, exc, raw)
    return items


def manifest_stops(manifest: Mapping[str, Any] | None) -> dict[int, float]:
    """Emergencies the manifest lists as `stopped`, with the moment they stopped."""
    stops: dict[int, float] = {}
    for raw in _entries(manifest, "emergencies"):
        try:
            if raw.get("state") == "stopped":
                moment = raw.get("stopped_at") or raw.get("ends_at") or raw.get("started_at")
                stops[int(raw["id"])] = parse_iso(moment) if moment else 0.0
        except BAD_ENTRY as exc:
            log.error("manifest emergency skipped (%s): %.200r", exc, raw)
    return stops


def notice_ok(notice: Any) -> bool:
    """Whether an emergency notice parses (a malformed one is ignored, not fatal)."""
    try:
        if not isinstance(notice, Mapping):
            raise TypeError("not an object")
        int(notice["id"])
        notice_stop(notice, 0.0)
        notice_items(notice)
        targets = notice.get("targets") or {}
        if not isinstance(targets, Mapping):
            raise TypeError("bad targets")
        for key in ("zones", "communes", "provinces"):
            list(targets.get(key) or [])
    except BAD_ENTRY as exc:
        log.error("emergency notice ignored (%s: %s): %.200r", type(exc).__name__, exc, notice)
        return False
    return True


def notice_reaches(notice: Mapping[str, Any], codes: Iterable[str | None]) -> bool:
    """A notice reaches the device when its zone, commune or province code is targeted."""
    targets = notice.get("targets") or {}
    wanted: set[str] = set()
    for key in ("zones", "communes", "provinces"):
        wanted.update(str(code) for code in targets.get(key) or [])
    return any(code is not None and code in wanted for code in codes)


def notice_items(notice: Mapping[str, Any]) -> list[PlayItem]:
    """The repetitions of an active notice, keyed like the manifest's ("emergency:<id>:<n>")."""
    if notice.get("state") != "active" or not notice.get("audio"):
        return []
    audio = notice["audio"]
    duration = float(audio.get("duration") or 0.0)
    interval = float(notice.get("interval") or 0.0)
    repeat = max(1, int(notice.get("repeat") or 1))
    first = parse_iso(notice["started_at"])
    items = []
    for n in range(1, repeat + 1):
        start = first + (n - 1) * (duration + interval)
        items.append(
            PlayItem(
                key=f"emergency:{notice['id']}:{n}",
                kind=EMERGENCY,
                title=str(notice.get("title", "")),
                priority=EMERGENCY,
                start=start,
                end=start + duration,
                sha256=audio.get("sha256"),
                duration=duration,
                size=int(audio.get("size") or 0),
                url=audio.get("url"),
                emergency_id=int(notice["id"]),
                repetition=n,
                of=repeat,
            )
        )
    return items


def notice_stop(notice: Mapping[str, Any], now: float) -> float | None:
    """When a stopped or cancelled notice stopped (its `stopped_at`, else now); else None."""
    if notice.get("state") not in TERMINAL_NOTICE_STATES:
        return None
    stopped_at = notice.get("stopped_at")
    return parse_iso(stopped_at) if stopped_at else now


def merge_items(
    manifest_items: list[PlayItem],
    notices: Iterable[Mapping[str, Any]],
    stops: Mapping[int, float],
    now: float,
) -> list[PlayItem]:
    """Manifest items + overlays of active notices, minus what stopped emergencies cut.

    Once the manifest carries an emergency, its items replace that emergency's overlay: the
    keys are the same, so a repetition already played or playing is not played again.
    A stopped emergency loses every repetition that had not ended when it stopped.
    """
    notices = [notice for notice in notices if notice_ok(notice)]
    stopped = emergency_stops(notices, stops, now)
    in_manifest = {i.emergency_id for i in manifest_items if i.emergency_id is not None}
    merged = list(manifest_items)
    for notice in notices:
        if notice_stop(notice, now) is None and int(notice["id"]) not in in_manifest:
            merged.extend(notice_items(notice))
    kept = [
        item
        for item in merged
        if item.emergency_id is None
        or item.emergency_id not in stopped
        or item.end <= stopped[item.emergency_id]
    ]
    return sorted(_late_windows(kept, stopped), key=lambda item: (item.start, item.key))


def emergency_stops(
    notices: Iterable[Mapping[str, Any]], stops: Mapping[int, float], now: float
) -> dict[int, float]:
    """Every stopped emergency (manifest `stops` + stopped/cancelled notices) -> its stop."""
    stopped = dict(stops)
    for notice in notices:
        if not notice_ok(notice):
            continue
        moment = notice_stop(notice, now)
        if moment is not None:
            stopped[int(notice["id"])] = min(moment, stopped.get(int(notice["id"]), moment))
    return stopped


def _late_windows(items: list[PlayItem], stopped: Mapping[int, float]) -> list[PlayItem]:
    """Give each emergency repetition its `late_until`: the next repetition's start, or the
    last one's end + LATE_EMERGENCY_GRACE_S, and never past the emergency's stop."""
    starts: dict[int, list[float]] = {}
    for item in items:
        if item.emergency_id is not None:
            starts.setdefault(item.emergency_id, []).append(item.start)
    result = []
    for item in items:
        if item.emergency_id is None:
            result.append(item)
            continue
        later = [s for s in starts[item.emergency_id] if s > item.start]
        until = min(later) if later else item.end + LATE_EMERGENCY_GRACE_S
        if item.emergency_id in stopped:
            until = min(until, stopped[item.emergency_id])
        result.append(replace(item, late_until=until))
    return result


def _audio_offset(item: PlayItem, now: float) -> float:
    offset = item.offset + (now - item.start)
    if item.loop and item.duration > 0:
        offset %= item.duration
    return max(0.0, offset)


def _eligible(item: PlayItem, now: float, done: set[str], ready: set[str] | None) -> bool:
    if item.status == "dropped" or item.key in done or not item.sha256:
        return False
    if ready is not None and item.sha256 not in ready:
        return False
    if not item.start <= now < item.last_start:
        return False
    if item.is_emergency or item.loop or item.duration <= 0:
        return True
    return _audio_offset(item, now) < item.duration  # the audio has not already run out


def _start_choice(item: PlayItem, now: float) -> tuple[float, float]:
    """(audio offset, until) for starting `item` now."""
    if not item.is_emergency:
        return _audio_offset(item, now), item.end
    lateness = now - item.start
    offset = 0.0 if lateness > LATE_EMERGENCY_S else item.offset + max(0.0, lateness)
    return offset, max(item.end, now + item.duration - offset)


def _newest(items: list[PlayItem]) -> PlayItem | None:
    return max(items, key=lambda item: (item.start, item.key)) if items else None


def choose(
    items: list[PlayItem],
    now: float,
    done: set[str],
    current: Current | None = None,
    ready: set[str] | None = None,
) -> Choice:
    """Decide what plays at `now`. `ready`: audio hashes present (None: assume all)."""
    by_key = {item.key: item for item in items}
    eligible = [item for item in items if _eligible(item, now, done, ready)]
    emergencies = [item for item in eligible if item.is_emergency]
    wake_at = _next_start(items, now, done)

    playing = by_key.get(current.key) if current is not None else None
    if current is not None and playing is not None and playing.status != "dropped":
        until = current.until if playing.is_emergency else min(current.until, playing.end)
        if now < until:
            rivals = [
                e
                for e in emergencies
                if e.emergency_id != playing.emergency_id
                and (not playing.is_emergency or e.start > playing.start)
            ]
            if not rivals:
                return Choice(playing, 0.0, until, True, _earliest(wake_at, until))
            eligible = rivals

    pick = _newest([item for item in eligible if item.is_emergency]) or _newest(eligible)
    if pick is None:
        return Choice(None, 0.0, now, False, wake_at)
    offset, until = _start_choice(pick, now)
    return Choice(pick, offset, until, False, _earliest(wake_at, until))


def _next_start(items: list[PlayItem], now: float, done: set[str]) -> float | None:
    starts = [
        item.start
        for item in items
        if item.start > now and item.status != "dropped" and item.key not in done
    ]
    return min(starts) if starts else None


def _earliest(a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


def needed_audio(items: list[PlayItem], now: float) -> list[PlayItem]:
    """Items whose audio must be on disk, soonest first, emergencies ahead of everything.

    One entry per hash (its most urgent item); items already over are left out.
    """
    upcoming = [i for i in items if i.sha256 and i.last_start > now and i.status != "dropped"]
    upcoming.sort(key=lambda i: (not i.is_emergency, i.start))
    seen: set[str] = set()
    result = []
    for item in upcoming:
        if item.sha256 not in seen:
            seen.add(item.sha256 or "")
            result.append(item)
    return result


def with_status(item: PlayItem, status: str) -> PlayItem:
    return replace(item, status=status)
