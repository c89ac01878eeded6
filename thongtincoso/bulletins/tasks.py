"""Periodic work: publish approved bulletins when their validity starts, expire ended ones."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from huey import crontab

from thongtincoso.jobs.services import register_periodic

from . import services


@register_periodic(
    crontab(minute="*"),
    name="bulletins.publish_due",
    description=_("Publish approved bulletins whose validity has started, and relay them."),
    human=_("every minute"),
)
def publish_due() -> int:
    return services.bulletins_publish_due()


@register_periodic(
    crontab(minute="*"),
    name="bulletins.expire_due",
    description=_("Mark published bulletins whose validity has ended as expired."),
    human=_("every minute"),
)
def expire_due() -> int:
    return services.bulletins_expire_due()
