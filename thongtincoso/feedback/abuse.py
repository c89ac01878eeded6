"""Limits on anonymous submissions: per client address, per phone or e-mail, per Open311 key.

Fixed windows counted in the cache (Redis in production, so every app server shares the counts;
per process otherwise). A submission is checked before it is validated and counted only once it is
stored, so a person correcting a form is not punished for their typos.
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

    def exceeded(self) -> bool:
        allowed, _seconds = parse_rate(self.rate)
        key, _ = self._cache_key()
        return int(cache.get(key, 0)) >= allowed

    def count(self) -> None:
        key, seconds = self._cache_key()
        if cache.add(key, 1, timeout=seconds + 5):
            return
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=seconds + 5)


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


def any_exceeded(limits: list[Limit]) -> bool:
    return any(limit.exceeded() for limit in limits)


def count_all(limits: list[Limit]) -> None:
    for limit in limits:
        limit.count()
