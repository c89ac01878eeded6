"""Readable names of the counts a background job returns (shown on the job page)."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

JOB_RESULT_LABELS: dict[str, Promise] = {
    # units.tasks.units_reload
    "created": pgettext_lazy("job result", "Created"),
    "updated": pgettext_lazy("job result", "Updated"),
    "unchanged": pgettext_lazy("job result", "Unchanged"),
    "total": pgettext_lazy("job result", "Total"),
}


def job_result_items(result: Any) -> list[tuple[str, Any]]:
    """A job's result as (label, value) rows when it is a mapping of counts; else nothing.

    Known keys come in the order above, others after them by name: PostgreSQL's jsonb does not
    keep the order a task returned its keys in.
    """
    if not isinstance(result, dict):
        return []
    order = list(JOB_RESULT_LABELS)
    keys = sorted(result, key=lambda k: (order.index(k) if k in order else len(order), k))
    return [(str(JOB_RESULT_LABELS.get(key, key)), result[key]) for key in keys]
