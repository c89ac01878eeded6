from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("speech/_bulletin_audio.html", takes_context=True)
def bulletin_audio_panel(context: Any, bulletin: Any) -> dict[str, Any]:
    """`{% bulletin_audio_panel bulletin %}` on the bulletin and compose pages."""
    from ..views import panel_context

    data = panel_context(context["request"], bulletin)
    data["request"] = context["request"]
    data["csrf_token"] = context.get("csrf_token")
    return data


@register.filter
def mmss(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"
