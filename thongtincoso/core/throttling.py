"""Rate limits for the API, read from settings at request time (so operators and tests can tune
them without rebuilding the API object). Anonymous callers are limited per client address,
authenticated callers per user."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from ninja.throttling import AnonRateThrottle, UserRateThrottle


class _SettingsRate:
    setting_name = ""

    def allow_request(self, request: HttpRequest) -> bool:
        rate = getattr(settings, self.setting_name)
        self.rate = rate  # type: ignore[attr-defined]
        self.num_requests, self.duration = self.parse_rate(rate)  # type: ignore[attr-defined]
        return super().allow_request(request)  # type: ignore[misc]


class PublicRateThrottle(_SettingsRate, AnonRateThrottle):
    setting_name = "TTCS_API_ANON_RATE"


class StaffRateThrottle(_SettingsRate, UserRateThrottle):
    setting_name = "TTCS_API_USER_RATE"

    def get_cache_key(self, request: HttpRequest) -> str | None:  # type: ignore[override]
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # anonymous callers are PublicRateThrottle's
        return super().get_cache_key(request)


def api_throttles() -> list:
    return [PublicRateThrottle("1/s"), StaffRateThrottle("1/s")]


class PortalRateThrottle(_SettingsRate, AnonRateThrottle):
    """Public pages and feeds, per client address (staff who are logged in are not counted)."""

    setting_name = "TTCS_PORTAL_RATE"
    scope = "portal"


def public_rate_limit(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Limit a public (no login) page or feed per client address; 429 with Retry-After beyond."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            throttle = PortalRateThrottle("1/s")
            if not throttle.allow_request(request):
                from django.utils.translation import gettext as _

                response = HttpResponse(
                    _("Too many requests. Wait a moment and try again."),
                    status=429,
                    content_type="text/plain; charset=utf-8",
                )
                wait = throttle.wait()
                if wait:
                    response["Retry-After"] = str(int(wait) + 1)
                return response
        return view(request, *args, **kwargs)

    return wrapped
