"""Template helpers of the radio pages: device status labels, durations."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def device_status_label(status: str) -> str:
    labels = {
        "online": _("Online"),
        "offline": _("Offline"),
        "never": _("Never connected"),
        "revoked": _("Revoked"),
    }
    return labels.get(status, status)


@register.filter
def minutes(seconds: Any) -> str:
    """Seconds as "m:ss" (or "h:mm:ss" from one hour)."""
    try:
        total = round(float(seconds or 0))
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(total, 3600)
    mins, secs = divmod(rest, 60)
    return f"{hours}:{mins:02d}:{secs:02d}" if hours else f"{mins}:{secs:02d}"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if hasattr(mapping, "get") else None
