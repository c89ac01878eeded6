"""MQTT push against the real Mosquitto broker on 127.0.0.1:1883 (skipped where none runs)."""

from __future__ import annotations

import json
import queue
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from thongtincoso.accounts.roles import Role
from thongtincoso.radio import push
from thongtincoso.radio.alerts import notice
from thongtincoso.radio.models import Device, DeviceKind, Emergency, EmergencySource

BROKER = ("127.0.0.1", 1883)
TIMEOUT = 10.0


def _broker_running() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _broker_running(),
    reason="no MQTT broker on 127.0.0.1:1883 (apt-get install mosquitto; CI runs one)",
)


class Listener:
    """A subscriber that collects every message on ttcs/#, in arrival order."""

    def __init__(self) -> None:
        import paho.mqtt.client as mqtt

        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.sentinel = f"ttcs-test/{uuid.uuid4().hex}"
        subscribed = threading.Event()
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(
            (msg.topic, json.loads(msg.payload) if msg.topic.startswith("ttcs/") else None)
        )
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect(*BROKER)
        self.client.loop_start()
        self.client.subscribe([("ttcs/#", 1), (self.sentinel, 1)])
        assert subscribed.wait(TIMEOUT), "the broker did not confirm the subscription"

    def drain(self) -> list[tuple[str, Any]]:
        """Everything published before now: the publisher waited for each PUBACK, so the
        broker has routed them before our own sentinel, which therefore arrives last."""
        self.client.publish(self.sentinel, b"end", qos=1).wait_for_publish(TIMEOUT)
        received: list[tuple[str, Any]] = []
        while True:
            topic, payload = self.messages.get(timeout=TIMEOUT)
            if topic == self.sentinel:
                return received
            received.append((topic, payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listener(settings: Any) -> Iterator[Listener]:
    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    subscriber = Listener()
    subscriber.drain()  # nothing left over from elsewhere
    yield subscriber
    subscriber.close()


@pytest.fixture
def devices(tree: Any) -> dict[str, Device]:
    made = {}
    for code, commune, zone in [
        ("HK-1", tree.hoankiem, tree.zone),
        ("HK-2", tree.hoankiem, None),
        ("HK-3", tree.hoankiem, None),
        ("CN-1", tree.cuanam, None),
        ("CN-2", tree.cuanam, None),
    ]:
        made[code] = Device.objects.create(
            code=code,
            kind=DeviceKind.CLUSTER,
            commune=commune,
            zone=zone,
            manifest_etag=f'"etag-{code}"',
        )
    return made


def test_a_few_changed_devices_get_one_message_each(
    listener, devices, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert push.manifests_changed([devices["HK-1"], devices["HK-3"]]) == 2
    assert listener.drain() == [
        ("ttcs/devices/HK-1/events", {"type": "manifest", "etag": '"etag-HK-1"'}),
        ("ttcs/devices/HK-3/events", {"type": "manifest", "etag": '"etag-HK-3"'}),
    ]


def test_a_commune_whose_every_device_changed_gets_one_message(
    listener, devices, django_capture_on_commit_callbacks
):
    changed = [devices[c] for c in ("HK-1", "HK-2", "HK-3", "CN-2")]
    with django_capture_on_commit_callbacks(execute=True):
        assert push.manifests_changed(changed) == 2
    assert listener.drain() == [
        ("ttcs/communes/00070/events", {"type": "manifest", "etag": None}),
        ("ttcs/devices/CN-2/events", {"type": "manifest", "etag": '"etag-CN-2"'}),
    ]


def test_nothing_is_published_before_the_commit(
    listener, devices, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        push.manifests_changed([devices["CN-1"]])
    assert listener.drain() == []
    assert len(callbacks) == 1


def test_an_emergency_is_announced_once_per_target_topic(
    tree, make_user, listener, devices, django_capture_on_commit_callbacks
):
    operator = make_user("op", tree.nation, role=Role.BROADCAST_OPERATOR)
    emergency = Emergency.objects.create(
        unit=tree.nation,
        source=EmergencySource.SPEECH,
        title="Bão số 3",
        audio_sha256="0" * 64,
        state="active",
        created_by=operator,
    )
    emergency.targets.set([tree.zone, tree.cuanam, tree.hcm])
    with django_capture_on_commit_callbacks(execute=True):
        assert push.emergency_event(emergency, "start") == 3
        assert push.emergency_event(emergency, "stop") == 3
    # Each event carries the notice: enough for a device to play it before its manifest changes.
    start = {
        "type": "emergency",
        "event": "start",
        "emergency": emergency.pk,
        "title": "Bão số 3",
        "notice": notice(emergency),
    }
    stop = {**start, "event": "stop"}
    assert listener.drain() == [
        ("ttcs/zones/00070.001/events", start),
        ("ttcs/communes/00073/events", start),
        ("ttcs/provinces/79/events", start),
        ("ttcs/zones/00070.001/events", stop),
        ("ttcs/communes/00073/events", stop),
        ("ttcs/provinces/79/events", stop),
    ]

    # The whole nation is announced on each province's topic.
    emergency.targets.set([tree.nation])
    with django_capture_on_commit_callbacks(execute=True):
        push.emergency_event(emergency, "start")
    assert [topic for topic, _ in listener.drain()] == [
        "ttcs/provinces/01/events",
        "ttcs/provinces/79/events",
    ]


def test_without_mqtt_url_nothing_is_sent(listener, settings, devices):
    settings.MQTT_URL = ""
    assert push.manifests_changed(list(devices.values())) == 0
    assert listener.drain() == []


def test_a_broker_that_is_down_raises_so_the_task_retries():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(push.PublishError):
        push.publish_now([["ttcs/devices/X/events", "{}"]], url=f"mqtt://127.0.0.1:{port}")
    from thongtincoso.radio.radio_tasks import mqtt_publish

    assert mqtt_publish.retries == 3
    assert mqtt_publish.retry_delay == 2


def test_services_push_after_commit_through_the_real_manifests(
    tree, make_user, listener, settings, tmp_path, django_capture_on_commit_callbacks
):
    """An emergency and a command, end to end: service → manifests → Huey task → broker."""
    from thongtincoso.bulletins.tests.factories import published
    from thongtincoso.radio.credentials import enrol
    from thongtincoso.radio.devices import device_create
    from thongtincoso.radio.emergencies import emergency_start
    from thongtincoso.radio.fleet import command_send
    from thongtincoso.radio.tests.factories import with_audio

    settings.TTCS_MANIFEST_ROOT = str(tmp_path / "manifests")
    enrolled = {}
    for code, commune in [("HK-1", tree.hoankiem), ("HK-2", tree.hoankiem), ("CN-1", tree.cuanam)]:
        _device, enrolment_code = device_create(
            actor=None, commune=commune, kind="cluster", code=code
        )
        enrolled[code] = enrol(enrolment_code)[0]
    listener.drain()
    editor = make_user("hk_editor", tree.hoankiem, role=Role.EDITOR)
    approver = make_user("hk_approver", tree.hoankiem, role=Role.APPROVER)
    operator = make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    technician = make_user("hk_tech", tree.hoankiem, role=Role.TECHNICIAN)
    bulletin = with_audio(published(editor, approver, tree.hoankiem, title="Cháy"), 20.0)

    with django_capture_on_commit_callbacks(execute=True):
        emergency = emergency_start(
            actor=operator,
            unit=tree.hoankiem,
            targets=[tree.hoankiem],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin,
        )
    # Two publish batches: the emergency's, from the request before any manifest is rendered,
    # then the manifests'; Cửa Nam hears nothing.
    emergency.refresh_from_db()
    assert listener.drain() == [
        (
            "ttcs/communes/00070/events",
            {
                "type": "emergency",
                "event": "start",
                "emergency": emergency.pk,
                "title": "Cháy",
                "notice": notice(emergency),
            },
        ),
        ("ttcs/communes/00070/events", {"type": "manifest", "etag": None}),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        command_send(actor=technician, device=enrolled["HK-2"], kind="sync")
    etag = Device.objects.get(code="HK-2").manifest_etag
    assert etag
    assert listener.drain() == [
        ("ttcs/devices/HK-2/events", {"type": "manifest", "etag": etag}),
    ]
