"""Feedback's periodic work: reminders before deadlines, closing answered items, purging
personal data after the retention period, seeding next year's holidays ahead of time."""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from huey import crontab
from huey.contrib.djhuey import task

from thongtincoso.jobs.services import register_periodic

log = logging.getLogger(__name__)


@register_periodic(
    crontab(minute="30", hour="7"),
    name="feedback.remind_due",
    description=_("Remind feedback handlers of answers due within the next working days."),
    human=_("07:30 every day"),
)
def remind_due_feedback() -> int:
    from .services import send_due_reminders

    sent = send_due_reminders()
    log.info("feedback reminders sent: %d", sent)
    return sent


@register_periodic(
    crontab(minute="10", hour="3"),
    name="feedback.close_and_purge",
    description=_(
        "Close answered feedback after the reopening window; delete senders' contact details "
        "once the retention period after closing has passed."
    ),
    human=_("03:10 every day"),
)
def close_and_purge_feedback() -> tuple[int, int]:
    from .services import close_answered, purge_personal_data

    closed = close_answered()
    purged = purge_personal_data()
    log.info("feedback closed: %d, personal data purged: %d", closed, purged)
    return closed, purged


@register_periodic(
    crontab(minute="20", hour="3", day="1"),
    name="feedback.seed_holidays",
    description=_("Add this year's and next year's public holidays to the working-day calendar."),
    human=_("03:20 on the 1st of every month"),
)
def seed_holidays() -> None:
    from . import calendar

    year = timezone.localdate().year
    calendar.ensure_years([year, year + 1])


@task(retries=5, retry_delay=60)
def email_sender(feedback_id: int, kind: str) -> int:
    """E-mail the sender their receipt or the answer; retried while the mail server is away."""
    from django.core.mail import send_mail

    from .services import sender_email

    message = sender_email(feedback_id, kind)
    if message is None:
        return 0
    address, subject, body = message
    return send_mail(subject, body, None, [address])
