"""Reads on background jobs, through the permission policy."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action

from .models import JobStatus


def jobs_visible(user: Any) -> QuerySet[JobStatus]:
    """Jobs the user started, and jobs of units the user may view."""
    return JobStatus.objects.filter(created_by=user) | policy.restrict(
        JobStatus.objects.all(), user, Action.VIEW
    )
