from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.units.models import Unit, path_upper_bound

from .models import AuditRecord


def audit_records_visible(
    actor: Any,
    *,
    action: str = "",
    actor_username: str = "",
    unit_code: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    within: Unit | None = None,
) -> QuerySet[AuditRecord]:
    """Audit records of units in the actor's view_audit scope, newest first, filtered."""
    qs = policy.restrict(AuditRecord.objects.all(), actor, Action.VIEW_AUDIT)
    if within is not None:
        qs = qs.filter(unit_path__gte=within.path, unit_path__lt=path_upper_bound(within.path))
    if action:
        qs = qs.filter(action__startswith=action)
    if actor_username:
        qs = qs.filter(actor_username__iexact=actor_username)
    if unit_code:
        qs = qs.filter(unit_code=unit_code)
    if date_from:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__date__lte=date_to)
    return qs.order_by("-seq")
