"""Periodic housekeeping. Huey's consumer imports `tasks` modules of every installed app."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from huey import crontab

from .models import JobStatus
from .services import register_periodic

log = logging.getLogger(__name__)
FINISHED_JOB_RETENTION = dt.timedelta(days=30)


@register_periodic(
    crontab(minute="17", hour="3"),
    name="jobs.prune_finished",
    description=_("Delete finished job records older than 30 days."),
    human=_("03:17 every day"),
)
def prune_finished_jobs() -> int:
    cutoff = timezone.now() - FINISHED_JOB_RETENTION
    deleted, _ = JobStatus.objects.filter(finished_at__lt=cutoff).delete()
    return deleted


@register_periodic(
    crontab(minute="45", hour="2"),
    name="audit.verify_chain",
    description=_("Verify the audit log's hash chain and its anchor, and log any break."),
    human=_("02:45 every day"),
)
def verify_audit_chain() -> bool:
    """The same check as `manage.py audit_verify` (chain and anchor), logged."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    try:
        call_command("audit_verify", stdout=out)
    except CommandError as exc:
        log.error("%s", exc)
        return False
    log.info("%s", out.getvalue().strip())
    return True
