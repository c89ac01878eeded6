"""MQTT push (when settings.MQTT_URL is set): tell devices to fetch their manifest now.

Push only shortens the wait; devices always poll too. Topics, QoS 1, JSON payloads:
- `ttcs/devices/{code}/events`: {"type": "manifest", "etag": "..."}
- `ttcs/communes/{code}/events`: {"type": "manifest", "etag": null} when every device of the
  commune changed (one message, the broker fans out), and emergency events;
- `ttcs/zones/{code}/events`, `ttcs/provinces/{code}/events`: emergency events,
  {"type": "emergency", "event": "start"|"stop", "emergency": id, "title": "...",
  "notice": {...}} (the notice is alerts.notice: enough to play it without the manifest).

Manifest messages are published by a Huey task enqueued on commit (radio_tasks.mqtt_publish), so
a rolled-back change publishes nothing and a broker that is briefly down costs a retry, not the
message. Emergency events are published at once, after commit, from the operator's request
(`emergency_event_now`, a few seconds at most) and fall back to the same task when the broker
cannot be reached: waiting for a worker to pick a task up would cost seconds of an emergency.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db.models import Count

from thongtincoso.units.models import Unit, UnitKind, path_upper_bound

from .models import Device, Emergency

QOS = 1
CONNECT_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 10.0
# In the operator's request: a broker that does not answer this fast is left to the task.
SYNC_TIMEOUT = 2.0

TOPIC_PREFIX = {
    UnitKind.ZONE: "zones",
    UnitKind.COMMUNE: "communes",
    UnitKind.PROVINCE: "provinces",
}

Message = tuple[str, str]  # (topic, JSON payload)

log = logging.getLogger(__name__)


def enabled() -> bool:
    return bool(getattr(settings, "MQTT_URL", ""))


def device_topic(code: str) -> str:
    return f"ttcs/devices/{code}/events"


def unit_topic(unit: Unit) -> str:
    return f"ttcs/{TOPIC_PREFIX[UnitKind(unit.kind)]}/{unit.code}/events"


def _payload(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# --- What to publish ----------------------------------------------------------------------------


def manifest_messages(devices: Iterable[Device]) -> list[Message]:
    """One message per commune whose every device changed, otherwise one per device."""
    changed: dict[int, dict[int, Device]] = defaultdict(dict)
    for device in devices:
        if device.revoked_at is None:
            changed[device.commune_id][device.pk] = device
    if not changed:
        return []
    totals = dict(
        Device.objects.filter(commune_id__in=list(changed), revoked_at__isnull=True)
        .values_list("commune_id")
        .annotate(n=Count("pk"))
        .values_list("commune_id", "n")
    )
    codes = dict(Unit.objects.filter(pk__in=list(changed)).values_list("pk", "code"))
    messages: list[Message] = []
    for commune_id in sorted(changed):
        group = changed[commune_id]
        # A commune with a single device: its own topic says the same and carries the ETag.
        if len(group) > 1 and len(group) >= totals.get(commune_id, 0):
            topic = unit_topic(Unit(kind=UnitKind.COMMUNE, code=codes[commune_id]))
            messages.append((topic, _payload({"type": "manifest", "etag": None})))
            continue
        for device in sorted(group.values(), key=lambda d: d.code):
            messages.append(
                (
                    device_topic(device.code),
                    _payload({"type": "manifest", "etag": device.manifest_etag}),
                )
            )
    return messages


def _topic_units(targets: Iterable[Unit]) -> list[Unit]:
    """Zones, communes and provinces as they are; the nation (or a pre-2025 district) as the
    provinces (communes) below it, since devices listen on those."""
    result: dict[int, Unit] = {}
    for unit in targets:
        if unit.kind in TOPIC_PREFIX:
            result[unit.pk] = unit
            continue
        wanted = UnitKind.PROVINCE if unit.kind == UnitKind.NATION else UnitKind.COMMUNE
        below = Unit.objects.current().filter(
            path__gt=unit.path, path__lt=path_upper_bound(unit.path), kind=wanted
        )
        for child in below:
            result[child.pk] = child
    return sorted(result.values(), key=lambda u: u.path)


def emergency_messages(emergency: Emergency, event: str) -> list[Message]:
    from .alerts import notice

    payload = _payload(
        {
            "type": "emergency",
            "event": event,
            "emergency": emergency.pk,
            "title": emergency.title,
            "notice": notice(emergency),
        }
    )
    return [(unit_topic(u), payload) for u in _topic_units(emergency.targets.all())]


# --- Entry points -------------------------------------------------------------------------------


def manifests_changed(devices: Iterable[Device]) -> int:
    """Announce changed manifests. Returns the number of messages queued (0 without a broker)."""
    if not enabled():
        return 0
    return _enqueue(manifest_messages(devices))


def emergency_event(emergency: Emergency, event: str) -> int:
    """Announce an emergency's start or stop once per target topic, not per device."""
    if not enabled():
        return 0
    if event not in ("start", "stop"):
        raise ValueError(f"unknown emergency event {event!r}")
    return _enqueue(emergency_messages(emergency, event))


def emergency_event_now(emergency: Emergency, event: str) -> int:
    """Publish an emergency's start or stop now (call it after commit), waiting at most about
    SYNC_TIMEOUT for each step; when the broker cannot be reached, hand the messages to the
    retried task instead. Returns the number of messages published or queued."""
    if not enabled():
        return 0
    if event not in ("start", "stop"):
        raise ValueError(f"unknown emergency event {event!r}")
    messages = emergency_messages(emergency, event)
    if not messages:
        return 0
    try:
        return publish_now(messages, timeout=SYNC_TIMEOUT)
    except PublishError as exc:
        log.warning("emergency %s: MQTT publish failed (%s); queued for retry", emergency.pk, exc)
    from .radio_tasks import mqtt_publish

    mqtt_publish([list(m) for m in messages])
    return len(messages)


def _enqueue(messages: Sequence[Message]) -> int:
    if not messages:
        return 0
    from thongtincoso.jobs.services import enqueue_on_commit

    from .radio_tasks import mqtt_publish

    enqueue_on_commit(mqtt_publish, [list(m) for m in messages])
    return len(messages)


# --- The publisher (runs in the worker) ---------------------------------------------------------


class PublishError(RuntimeError):
    """The broker could not be reached or did not acknowledge; the task retries."""


def _client_for(url: str) -> tuple[Any, str, int]:
    import paho.mqtt.client as mqtt

    parts = urlsplit(url)
    secure = parts.scheme in ("mqtts", "ssl", "tls")
    if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl", "tls"):
        raise PublishError(f"MQTT_URL scheme {parts.scheme!r} is not supported")
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
    if secure:
        client.tls_set()
    return client, parts.hostname or "127.0.0.1", parts.port or (8883 if secure else 1883)


def publish_now(
    messages: Sequence[Sequence[str]], *, url: str | None = None, timeout: float | None = None
) -> int:
    """One connection for the batch: connect, publish all with QoS 1, wait for every PUBACK,
    disconnect. Raises PublishError so that the task retries the whole batch (QoS 1 means at
    least once: a device may hear a message twice, never zero times).

    `timeout` bounds each wait (TCP connect, CONNACK, each PUBACK); the task's defaults are
    generous, the request's (SYNC_TIMEOUT) short."""
    url = url or settings.MQTT_URL
    if not messages or not url:
        return 0
    connect_timeout = CONNECT_TIMEOUT if timeout is None else timeout
    publish_timeout = PUBLISH_TIMEOUT if timeout is None else timeout
    client, host, port = _client_for(url)
    client.connect_timeout = connect_timeout
    connected = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(_client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        outcome["reason"] = reason
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise PublishError(f"cannot reach the MQTT broker at {host}:{port}: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(connect_timeout):
            raise PublishError("the MQTT broker did not answer the connection")
        reason = outcome.get("reason")
        if reason is not None and getattr(reason, "is_failure", False):
            raise PublishError(f"the MQTT broker refused the connection: {reason}")
        infos = [client.publish(topic, payload, qos=QOS) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=publish_timeout)
            if not info.is_published():
                raise PublishError("the MQTT broker did not acknowledge a message")
    except (RuntimeError, ValueError) as exc:
        if isinstance(exc, PublishError):
            raise
        raise PublishError(str(exc)) from exc
    finally:
        client.disconnect()
        client.loop_stop()
    return len(messages)
