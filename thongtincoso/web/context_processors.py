from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.bulletins.selectors import approval_queue, inbox_undecided_count
from thongtincoso.feedback import selectors as feedback_selectors
from thongtincoso.notifications.selectors import unread_count


def shell(request: HttpRequest) -> dict:
    """What the base layout needs to draw the menu: only entries the user may use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        # The lockout page is shown to people who are not logged in.
        return {"lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)}
    may_approve = policy.may_anywhere(user, Action.APPROVE)
    return {
        # Bulletins and the inbox: anyone with a role somewhere (each list is scoped anyway).
        "nav_bulletins": policy.may_anywhere(user, Action.VIEW),
        # Counted only when a full page draws the menu (templates call these), not for the
        # htmx fragments. None hides the entry; 0 shows it without a badge.
        "nav_queue_count": (lambda: approval_queue(user).count()) if may_approve else None,
        "nav_unread": lambda: unread_count(user),
        "nav_inbox_count": lambda: inbox_undecided_count(user),
        # Feedback: handlers, approvers and unit admins; the badge counts overdue items in scope.
        "nav_feedback_overdue": (
            (lambda: feedback_selectors.overdue(feedback_selectors.feedback_visible(user)).count())
            if feedback_selectors.may_see_feedback_menu(user)
            else None
        ),
        "nav_config": policy.is_system_admin(user),
        "nav_manage_users": policy.may_anywhere(user, Action.MANAGE_USERS),
        "nav_audit": policy.may_anywhere(user, Action.VIEW_AUDIT),
        "nav_admin": user.is_staff or policy.may_anywhere(user, Action.MANAGE_USERS),
    }
