"""Template filters of the staff pages: `{% load ttcs %}`."""

from __future__ import annotations

from typing import Any

from django import template

from thongtincoso.web import audit_labels, job_labels

register = template.Library()


@register.filter
def action_label(code: str) -> str:
    """`{{ record.action|action_label }}`: "units.zone.retire" -> "Zone retired"."""
    return audit_labels.action_label(code)


@register.filter
def job_result_items(result: Any) -> list[tuple[str, Any]]:
    """`{% for label, value in job.result|job_result_items %}`."""
    return job_labels.job_result_items(result)
