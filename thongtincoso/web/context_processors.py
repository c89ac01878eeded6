from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action


def shell(request: HttpRequest) -> dict:
    """What the base layout needs to draw the menu: only entries the user may use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        # The lockout page is shown to people who are not logged in.
        return {"lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)}
    return {
        "nav_manage_users": policy.may_anywhere(user, Action.MANAGE_USERS),
        "nav_audit": policy.may_anywhere(user, Action.VIEW_AUDIT),
        "nav_admin": user.is_staff or policy.may_anywhere(user, Action.MANAGE_USERS),
    }
