"""Reads on accounts, always through the policy."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from thongtincoso.units.models import Unit, path_upper_bound

from . import policy
from .models import ApiToken, RoleAssignment, User
from .roles import Action


def users_manageable(actor: Any) -> QuerySet[User]:
    """Accounts the actor administers (home unit in their manage_users scope)."""
    return policy.restrict(User.objects.all(), actor, Action.MANAGE_USERS).select_related("unit")


def users_of_unit(actor: Any, unit: Unit, *, include_lower: bool = True) -> QuerySet[User]:
    qs = users_manageable(actor)
    if include_lower:
        qs = qs.filter(unit__path__gte=unit.path, unit__path__lt=path_upper_bound(unit.path))
    else:
        qs = qs.filter(unit=unit)
    return qs.prefetch_related(
        Prefetch(
            "role_assignments",
            queryset=RoleAssignment.objects.select_related("unit").order_by("role"),
        )
    )


def role_assignments_visible(actor: Any) -> QuerySet[RoleAssignment]:
    return policy.restrict(RoleAssignment.objects.all(), actor, Action.MANAGE_USERS).select_related(
        "user", "unit"
    )


def tokens_of(user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")
