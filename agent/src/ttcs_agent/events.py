"""Play events (protocol §6) and their ULID-like ids."""

from __future__ import annotations

import secrets
from typing import Any

from .clock import format_iso
from .schedule import PlayItem

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MAX_PLAYED_SECONDS = 86400.0


class UlidFactory:
    """26-character ids: 48-bit milliseconds + 80 random bits, Crockford base32.

    Time-ordered (the time comes first) and unique: within one millisecond (or when the clock
    goes backwards) the previous id's random part is incremented instead of redrawn, so ids
    from one factory strictly increase.
    """

    def __init__(self) -> None:
        self._last_ms = -1
        self._last_random = 0

    def new(self, epoch_seconds: float) -> str:
        ms = max(0, int(epoch_seconds * 1000))
        if ms <= self._last_ms:
            ms = self._last_ms
            self._last_random = (self._last_random + 1) % (1 << 80)
        else:
            self._last_ms = ms
            self._last_random = int.from_bytes(secrets.token_bytes(10), "big")
        value = ((ms & ((1 << 48) - 1)) << 80) | self._last_random
        return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def play_event(
    event_id: str, item: PlayItem, started_at: float, ended_at: float, outcome: str
) -> dict[str, Any]:
    """One play-log event, dated in server time."""
    ended_at = max(ended_at, started_at)
    event: dict[str, Any] = {
        "event_id": event_id,
        "item_key": item.key,
        "started_at": format_iso(started_at),
        "ended_at": format_iso(ended_at),
        "played_seconds": round(min(ended_at - started_at, MAX_PLAYED_SECONDS), 3),
        "outcome": outcome,
        "title": item.title[:300],
    }
    if item.sha256:
        event["audio_sha256"] = item.sha256
    return event
