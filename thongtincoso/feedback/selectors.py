"""Reading feedback for staff. Every query starts from the permission policy.

Who sees what: feedback officers (handle_feedback), approvers (approve) and unit administrators
(manage_users) see the feedback of their subtree; the sender's contact details are a further step
(`services.contact_for`, audited). Aggregate statistics need only `view`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action

from .models import OPEN_STATUSES, Feedback

STAFF_ACTIONS = (Action.HANDLE_FEEDBACK, Action.APPROVE, Action.MANAGE_USERS)


def feedback_visible(user: Any) -> QuerySet[Feedback]:
    """Feedback the user may read as staff (handle, approve answers, or administer the unit)."""
    base = Feedback.objects.all()
    visible = policy.restrict(base, user, STAFF_ACTIONS[0])
    for action in STAFF_ACTIONS[1:]:
        visible = visible | policy.restrict(base, user, action)
    return visible


def may_see_feedback_menu(user: Any) -> bool:
    return any(policy.may_anywhere(user, action) for action in STAFF_ACTIONS)


def feedback_for(user: Any, code: str) -> Feedback | None:
    """One feedback by tracking code, or None when it does not exist or is out of scope."""
    from .services import normalise_code

    return (
        feedback_visible(user)
        .select_related(
            "category", "commune", "unit", "assignee", "recorded_by", "duplicate_of", "bulletin"
        )
        .filter(code=normalise_code(code))
        .first()
    )


@dataclass
class FeedbackFilters:
    status: str = ""  # a Status value, "open", or "overdue"
    category: str = ""
    unit: str = ""  # a unit code: that unit's subtree
    assignee: str = ""  # "me", "none"
    q: str = ""  # tracking code or words of the description or place
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def feedback_list(user: Any, filters: FeedbackFilters | None = None) -> QuerySet[Feedback]:
    f = filters or FeedbackFilters()
    rows = feedback_visible(user).select_related("category", "commune", "unit", "assignee")
    today = timezone.localdate()
    if f.status == "open":
        rows = rows.filter(status__in=OPEN_STATUSES)
    elif f.status == "overdue":
        rows = overdue(rows, today)
    elif f.status:
        rows = rows.filter(status=f.status)
    if f.category:
        rows = rows.filter(category__code=f.category)
    if f.unit:
        from thongtincoso.units.models import Unit, path_upper_bound

        unit = Unit.objects.filter(code=f.unit).first()
        rows = (
            rows.filter(unit__path__gte=unit.path, unit__path__lt=path_upper_bound(unit.path))
            if unit
            else rows.none()
        )
    if f.assignee == "me":
        rows = rows.filter(assignee_id=getattr(user, "pk", None))
    elif f.assignee == "none":
        rows = rows.filter(assignee__isnull=True)
    if f.q:
        from thongtincoso.core.search import fold

        from .services import normalise_code

        # The tracking code, or every word of the query in the folded description and place.
        words = Q()
        for word in fold(f.q).split()[:10]:
            words &= Q(search_text__contains=word)
        rows = rows.filter(Q(code=normalise_code(f.q)) | words)
    if f.date_from:
        rows = rows.filter(received_at__date__gte=f.date_from)
    if f.date_to:
        rows = rows.filter(received_at__date__lte=f.date_to)
    return (
        rows.order_by("due_date", "received_at", "id") if f.status in ("open", "overdue") else rows
    )


def overdue(rows: QuerySet[Feedback], today: dt.date | None = None) -> QuerySet[Feedback]:
    """Still owed an answer after the day it was due (merged duplicates follow their master)."""
    today = today or timezone.localdate()
    return rows.filter(status__in=OPEN_STATUSES, due_date__lt=today, duplicate_of__isnull=True)
