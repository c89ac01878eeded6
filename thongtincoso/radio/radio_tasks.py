"""The radio's background work: MQTT publishing and the periodic housekeeping.

Imported by the app's tasks.py, so Huey discovers these with the rest.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from huey import crontab
from huey.contrib.djhuey import task

from thongtincoso.jobs.services import register_periodic


@task(retries=3, retry_delay=2)
def mqtt_publish(messages: list[list[str]]) -> int:
    """Publish one batch of (topic, payload) with QoS 1; a broker that is down means a retry."""
    from .push import publish_now

    return publish_now(messages)


@task(retries=5, retry_delay=2)
def tell_devices(emergency_id: int, event: str | None) -> None:
    """An emergency's manifests and push, for fleets too large to render in the request (or
    when rendering there failed): retried until every reached device has its manifest."""
    from .emergencies import tell_devices_now

    tell_devices_now(emergency_id, event)


@register_periodic(
    crontab(minute="*"),
    name="radio.emergencies_finish",
    description=_("End emergency broadcasts whose last repetition is over; expire old commands."),
    human=_("every minute"),
)
def emergencies_finish() -> int:
    from .emergencies import emergencies_finish_due
    from .fleet import commands_expire

    return emergencies_finish_due() + commands_expire()


@register_periodic(
    crontab(minute="*"),
    name="radio.offline_alerts",
    description=_("Alert the operators about devices offline longer than their unit allows."),
    human=_("every minute"),
)
def offline_alerts() -> int:
    from .fleet import offline_alerts as run

    return run()


@register_periodic(
    crontab(minute="*/5"),
    name="radio.reconcile",
    description=_("Reconcile the devices' play logs with what was scheduled (proof of play)."),
    human=_("every 5 minutes"),
)
def reconcile() -> int:
    from .proof import reconcile as run

    return run()
