"""Sending notifications: a row per recipient in the app, and an e-mail when mail is configured."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from thongtincoso.jobs.services import enqueue_on_commit

from .models import Notification

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User


def notify(*, recipients: Iterable[User], message: str, url: str = "") -> int:
    """Notify each active recipient once; call inside the transaction that caused it."""
    people = {u.pk: u for u in recipients if u.is_active}
    Notification.objects.bulk_create(
        [Notification(recipient_id=pk, message=message[:300], url=url[:300]) for pk in people]
    )
    addresses = sorted({u.email for u in people.values() if u.email})
    if addresses and settings.NOTIFY_BY_EMAIL:
        from .tasks import send_notification_email

        enqueue_on_commit(send_notification_email, addresses, message, url)
    return len(people)


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when `ids` is None)."""
    rows = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())
