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
    """The device's timeline, sorted by start (then key)."""
    raise NotImplementedError
