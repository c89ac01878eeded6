"""Limits on anonymous submissions: per client address, per phone or e-mail, per Open311 key.

Fixed windows counted in the cache (Redis in production, so every app server shares the counts;
per process otherwise). A submission *reserves* its place before it is validated: every counter
is incremented first, atomically, so parallel requests cannot all slip through a check made
before any of them is counted. A submission refused for bad input gives its place back
(`release`), so a person correcting a form is not punished for their typos.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[:1] or "m"]


@dataclass(frozen=True)
class Limit:
    key: str
    rate: str

    def _cache_key(self) -> tuple[str, int]:
        _allowed, seconds = parse_rate(self.rate)
        window = int(time.time()) // seconds
        return f"ttcs:fbrate:{self.key}:{seconds}:{window}", seconds

    @property
    def allowed(self) -> int:
        return parse_rate(self.rate)[0]

    def exceeded(self) -> bool:
        """Is the window full? (A reading only: `reserve` is what admits a request.)"""
        key, _ = self._cache_key()
        return int(cache.get(key, 0)) >= self.allowed

    def take(self) -> int:
        """Count one request; the count in this window, this one included."""
        key, seconds = self._cache_key()
        if cache.add(key, 1, timeout=seconds + 5):
            return 1
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=seconds + 5)
            return 1

    def give_back(self) -> None:
        """Uncount one request. At a window boundary the give-back lands in the new window,
        which at worst forgives one request there."""
        key, _ = self._cache_key()
        try:
            left = int(cache.decr(key))
        except ValueError:  # expired (or a new window): nothing to give back
            return
        if left < 0:
            cache.incr(key, -left)


def submission_limits(*, ip: str | None, phone_key: str = "", email_key: str = "") -> list[Limit]:
    limits = []
    if ip:
        limits.append(Limit(f"ip:{ip}", settings.TTCS_FEEDBACK_RATE_IP))
    if phone_key:
        limits.append(Limit(f"phone:{phone_key}", settings.TTCS_FEEDBACK_RATE_CONTACT))
    if email_key:
        limits.append(Limit(f"email:{email_key}", settings.TTCS_FEEDBACK_RATE_CONTACT))
    return limits


def open311_limit(client_id: int) -> Limit:
    return Limit(f"open311:{client_id}", settings.TTCS_OPEN311_RATE_KEY)


def reserve(limits: list[Limit]) -> bool:
    """Take a place in every limit, or in none: False (and nothing kept) when any is full.

    Counting first and checking the result is what makes this safe under concurrency: of N
    parallel requests, at most the allowed number see a count within the limit.
    """
    counts = [(limit, limit.take()) for limit in limits]
    if all(count <= limit.allowed for limit, count in counts):
        return True
    release(limits)
    return False


def release(limits: list[Limit]) -> None:
    """Give back a reservation (the request was refused for its content, not its rate)."""
    for limit in limits:
        limit.give_back()
