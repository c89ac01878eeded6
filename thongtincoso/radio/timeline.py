"""What one device plays, in order: the planned items with emergencies laid over them.

Pure (no Django, no database): given the scheduled items of a device's station and the
emergencies that reach the device, `resolve` returns the final timeline under the rules in
docs/radio.md ("Emergency pre-emption"). The manifest builder and proof-of-play reconciliation
both use it, and the table-driven tests pin every rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Resume = Literal["restart", "skip"]
# planned: plays as listed; preempted: starts (or started) but an emergency cuts it at `end`;
# dropped: would have played but no longer fits its session after an emergency.
EntryStatus = Literal["planned", "preempted", "dropped"]


@dataclass(frozen=True)
class Item:
    """A scheduled item: an airing of the station's plan."""

    key: str
    start: dt.datetime  # aware, UTC
    duration: float  # seconds of audio
    session_end: dt.datetime  # nothing of this session may play after it
    priority: str = "normal"
    kind: str = "bulletin"  # "bulletin" or "filler" (a filler loops until its `end`)
    end: dt.datetime | None = None  # a filler's planned end; bulletins end at start + duration
    payload: Any = None
    position: int = 0  # planned order among items with the same start


@dataclass(frozen=True)
class EmergencyWindow:
    """An emergency reaching the device: `repeat` plays of `duration` s, `interval` s apart."""

    key: str
    start: dt.datetime
    duration: float
    repeat: int
    interval: float
    stopped_at: dt.datetime | None = None
    payload: Any = None


@dataclass(frozen=True)
class Entry:
    key: str  # the item's key; a restart after an emergency is "<key>#r"; an emergency
    #           repetition is "<emergency key>:<n>" (n from 1)
    kind: str  # "bulletin", "filler" or "emergency"
    start: dt.datetime
    end: dt.datetime
    status: EntryStatus
    priority: str = "normal"
    payload: Any = None
    # Seconds into the audio at which this entry starts (0 unless a later rule resumes mid-way).
    offset: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def resolve(
    items: list[Item], emergencies: list[EmergencyWindow], *, resume: Resume = "restart"
) -> list[Entry]:
    """The device's timeline, sorted by start (then key).

    Emergency repetitions come first; the periods they occupy (pauses included) are then cut out
    of the plan: an item playing when one begins is pre-empted (restarted after it with
    `restart`, if it still fits its session), items due during one move to after it in order
    while they fit, the rest of that session is dropped. A filler is only ever shortened or cut.
    Dropped entries keep the times they would have had; they never play.
    """
    entries, busy = _emergencies(emergencies)
    entries.extend(_scheduled(items, busy, resume))
    entries.sort(key=lambda e: (e.start, e.end, e.key))
    return entries


@dataclass
class _Run:
    """An emergency on the stack: the next repetition to play and when it may start."""

    window: EmergencyWindow
    rep: int
    at: dt.datetime
    restart: bool = False


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


def _emergencies(
    windows: list[EmergencyWindow],
) -> tuple[list[Entry], list[tuple[dt.datetime, dt.datetime]]]:
    """Emergency entries and the busy periods (start, end) they occupy, sorted."""
    pending = sorted(windows, key=lambda w: (w.start, w.key))
    entries: list[Entry] = []
    busy: list[tuple[dt.datetime, dt.datetime]] = []
    stack: list[_Run] = []
    clock: dt.datetime | None = None
    busy_start: dt.datetime | None = None
    index = 0

    def playable(w: EmergencyWindow) -> bool:
        return w.repeat > 0 and w.duration > 0 and (w.stopped_at is None or w.stopped_at > w.start)

    while index < len(pending) or stack:
        if not stack:
            window = pending[index]
            index += 1
            if playable(window):
                stack.append(_Run(window, 1, window.start))
                clock = busy_start = window.start
            continue
        assert clock is not None
        assert busy_start is not None
        top = stack[-1]
        window = top.window
        newer = pending[index].start if index < len(pending) else None
        stop = window.stopped_at
        top.at = max(top.at, clock)
        interrupted = False
        while top.rep <= window.repeat:
            start = top.at
            if stop is not None and start >= stop and (newer is None or stop <= newer):
                # Stopped during a pause (or while a newer one played): it held the device until
                # the stop, not after.
                clock = max(clock, stop)
                break
            if newer is not None and start >= newer:
                interrupted = True
                break
            end = start + _seconds(window.duration)
            cuts = [t for t in (newer, stop) if t is not None and t < end]
            if cuts:
                cut = min(cuts)
                entries.append(_emergency_entry(top, start, cut, "preempted"))
                clock = cut
                if newer is not None and cut == newer and (stop is None or newer < stop):
                    top.at, top.restart = cut, True
                    interrupted = True
                else:
                    top.rep = window.repeat + 1
                break
            entries.append(_emergency_entry(top, start, end, "planned"))
            clock = end
            top.rep += 1
            top.restart = False
            top.at = end + _seconds(window.interval)
        if interrupted:
            incoming = pending[index]
            index += 1
            if playable(incoming):
                stack.append(_Run(incoming, 1, incoming.start))
                clock = max(clock, incoming.start)
            continue
        stack.pop()
        if not stack:
            busy.append((busy_start, clock))
    return entries, busy


def _emergency_entry(run: _Run, start: dt.datetime, end: dt.datetime, status: EntryStatus) -> Entry:
    window = run.window
    return Entry(
        key=f"{window.key}:{run.rep}",
        kind="emergency",
        start=start,
        end=end,
        status=status,
        priority="emergency",
        payload=window.payload,
        extra={"restarted": True} if run.restart else {},
    )


def _busy_at(
    busy: list[tuple[dt.datetime, dt.datetime]], moment: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    for period in busy:
        if period[0] <= moment < period[1]:
            return period
    return None


def _next_busy(
    busy: list[tuple[dt.datetime, dt.datetime]], moment: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    for period in busy:
        if period[0] > moment:
            return period
    return None


def _scheduled(
    items: list[Item], busy: list[tuple[dt.datetime, dt.datetime]], resume: Resume
) -> list[Entry]:
    out: list[Entry] = []
    cursor: dt.datetime | None = None  # the device is free from here on
    closed: set[dt.datetime] = set()  # sessions (by end) where an item no longer fitted
    for item in sorted(items, key=lambda i: (i.start, i.position, i.key)):
        start = item.start if cursor is None else max(item.start, cursor)
        if item.kind == "filler":
            end = item.end or item.session_end
            out.extend(_filler(item, start, min(end, item.session_end), busy))
            continue
        length = _seconds(item.duration)
        if item.session_end in closed:
            out.append(_entry(item, start, start + length, "dropped"))
            continue
        key = item.key
        restarts = 0
        while True:
            period = _busy_at(busy, start)
            while period is not None:
                start = period[1]
                period = _busy_at(busy, start)
            end = start + length
            if end > item.session_end:
                out.append(_entry(item, start, end, "dropped", key=key))
                closed.add(item.session_end)
                break
            coming = _next_busy(busy, start)
            if coming is None or coming[0] >= end:
                out.append(_entry(item, start, end, "planned", key=key))
                cursor = end
                break
            # An emergency begins while it plays: cut there.
            out.append(_entry(item, start, coming[0], "preempted", key=key))
            cursor = coming[0]
            if resume == "skip":
                break
            restarts += 1
            key = f"{item.key}#r" if restarts == 1 else f"{item.key}#r{restarts}"
            start = coming[1]
    return out


def _filler(
    item: Item, start: dt.datetime, end: dt.datetime, busy: list[tuple[dt.datetime, dt.datetime]]
) -> list[Entry]:
    period = _busy_at(busy, start)
    while period is not None:
        start = period[1]
        period = _busy_at(busy, start)
    if start >= end:
        return [_entry(item, end, end, "dropped")]
    coming = _next_busy(busy, start)
    if coming is not None and coming[0] < end:
        return [_entry(item, start, coming[0], "preempted")]
    return [_entry(item, start, end, "planned")]


def _entry(
    item: Item,
    start: dt.datetime,
    end: dt.datetime,
    status: EntryStatus,
    *,
    key: str | None = None,
) -> Entry:
    extra: dict[str, Any] = {}
    if start != item.start:
        extra["planned_start"] = item.start
    return Entry(
        key=key or item.key,
        kind=item.kind,
        start=start,
        end=end,
        status=status,
        priority=item.priority,
        payload=item.payload,
        extra=extra,
    )
