"""Logins, logouts and failed logins are on record too."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from thongtincoso.audit.services import audit_record


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    with transaction.atomic():
        audit_record(actor=user, action="accounts.session.login", obj=user, unit=user.unit)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        with transaction.atomic():
            audit_record(actor=user, action="accounts.session.logout", obj=user, unit=user.unit)


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # Only the attempted user name is kept (never the password), so abuse can be traced.
    with transaction.atomic():
        audit_record(
            actor=None,
            action="accounts.session.login_failed",
            object_type="accounts.user",
            object_repr=str(credentials.get("username", ""))[:150],
        )
