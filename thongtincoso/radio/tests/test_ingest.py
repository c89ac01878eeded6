"""Play logs: idempotent by (device, event id), late and out-of-order events accepted, bad events
rejected one by one, a device never reports for another; faults counted."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from thongtincoso.radio import ingest
from thongtincoso.radio.models import Device, DeviceCommand, PlayEvent
from thongtincoso.radio.tests.test_devices import (  # noqa: F401  (fixtures)
    _english,
    enrolled,
    manifest_root,
)

MANIFESTS = pytest.mark.usefixtures("manifest_root")

pytestmark = [MANIFESTS]


@pytest.fixture
def device(tree: Any, manifest_root: Any) -> tuple[Device, str]:  # noqa: F811
    return enrolled(tree.hoankiem, "HK-01")


def event(event_id: str, *, minutes_ago: float = 60, **extra: Any) -> dict[str, Any]:
    start = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return {
        "event_id": event_id,
        "item_key": "3:2026-11-26:17",
        "started_at": start.isoformat(),
        "ended_at": (start + dt.timedelta(seconds=90)).isoformat(),
        "played_seconds": 90,
        "outcome": "completed",
        **extra,
    }


def post_playlog(client: Client, credential: str, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(
        "/api/device/v1/playlog", data, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {credential}",
    )  # fmt: skip


def faults(device: Device) -> int:
    return Device.objects.get(pk=device.pk).fault_count


def test_the_same_batch_twice_is_stored_once(device, client):
    dev, credential = device
    batch = {"events": [event("e1", title="Bản tin", audio_sha256="a" * 64), event("e2")]}
    first = post_playlog(client, credential, batch)
    assert first.status_code == 200, first.content
    assert first.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    second = post_playlog(client, credential, batch)
    assert second.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert PlayEvent.objects.count() == 2
    stored = PlayEvent.objects.get(event_id="e1")
    assert (stored.device, stored.device_code, stored.title) == (dev, "HK-01", "Bản tin")
    assert stored.audio_sha256 == "a" * 64
    assert stored.played_seconds == 90
    assert faults(dev) == 0


def test_overlapping_batches_store_each_event_once(device, client):
    _dev, credential = device
    assert post_playlog(client, credential, {"events": [event("e1"), event("e2")]}).json() == {
        "accepted": 2, "duplicates": 0, "rejected": [],
    }  # fmt: skip
    answer = post_playlog(client, credential, {"events": [event("e2"), event("e3"), event("e3")]})
    assert answer.json() == {"accepted": 1, "duplicates": 2, "rejected": []}
    assert sorted(PlayEvent.objects.values_list("event_id", flat=True)) == ["e1", "e2", "e3"]


def test_event_ids_are_per_device(tree, device, client):
    _dev, credential = device
    _other, other_credential = enrolled(tree.cuanam, "CN-01")
    assert post_playlog(client, credential, {"events": [event("e1")]}).json()["accepted"] == 1
    assert post_playlog(client, other_credential, {"events": [event("e1")]}).json()["accepted"] == 1
    assert PlayEvent.objects.filter(event_id="e1").count() == 2


def test_late_and_out_of_order_events_are_accepted(device, client):
    _dev, credential = device
    events = [event("late", minutes_ago=60 * 24 * 29), event("new", minutes_ago=1), event("mid")]
    answer = post_playlog(client, credential, {"events": events[::-1]})
    assert answer.json() == {"accepted": 3, "duplicates": 0, "rejected": []}


def test_future_and_ancient_events_are_rejected_one_by_one(device, client):
    dev, credential = device
    events = [
        event("ok"),
        event("future", minutes_ago=-10),
        event("ancient", minutes_ago=60 * 24 * 31),
        event("backwards", ended_at=(timezone.now() - dt.timedelta(days=2)).isoformat()),
        event("slightly-ahead", minutes_ago=-3),  # within the clock tolerance
    ]
    answer = post_playlog(client, credential, {"events": events})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [(r["index"], r["event_id"]) for r in body["rejected"]] == [
        (1, "future"), (2, "ancient"), (3, "backwards"),
    ]  # fmt: skip
    assert all(r["detail"] for r in body["rejected"])
    assert sorted(PlayEvent.objects.values_list("event_id", flat=True)) == ["ok", "slightly-ahead"]
    assert faults(dev) == 1


def test_events_of_the_wrong_shape_are_rejected_one_by_one(device, client):
    dev, credential = device
    events = [
        event("ok"),
        event("naive", started_at="2026-11-26T10:00:00"),
        event("typed", played_seconds="90"),
        event("outcome", outcome="great"),
        {"event_id": 7},
        "not an object",
        event("sha", audio_sha256="xyz"),
    ]
    body = post_playlog(client, credential, {"events": events}).json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2, 3, 4, 5, 6]
    assert body["rejected"][4]["event_id"] is None
    assert list(PlayEvent.objects.values_list("event_id", flat=True)) == ["ok"]
    assert faults(dev) == 1


def test_a_device_reporting_for_another_is_refused_whole(tree, device, client):
    dev, credential = device
    enrolled(tree.cuanam, "CN-01")
    own = event("mine", device="HK-01")
    response = post_playlog(client, credential, {"events": [own, event("theirs", device="CN-01")]})
    assert response.status_code == 403
    assert response.json()["field"] == "events.1.device"
    assert not PlayEvent.objects.exists()
    assert faults(dev) == 1
    # Naming itself is fine.
    assert post_playlog(client, credential, {"events": [own]}).json()["accepted"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b"{broken",
        b"[]",
        json.dumps({"events": "e1"}).encode(),
        json.dumps({"items": []}).encode(),
        json.dumps({"events": [event(f"e{i}") for i in range(501)]}).encode(),
    ],
)
def test_a_malformed_playlog_gets_400_and_a_fault(device, client, body):
    dev, credential = device
    response = post_playlog(client, credential, body)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not PlayEvent.objects.exists()
    assert faults(dev) == 1


def test_record_fault_and_command_ack_directly(tree, device):
    dev, _credential = device
    other, _ = enrolled(tree.cuanam, "CN-01")
    ingest.record_fault(dev, "x" * 1000)
    ingest.record_fault(dev, "second")
    dev.refresh_from_db()
    assert (dev.fault_count, dev.last_fault) == (2, "second")
    theirs = DeviceCommand.objects.create(device=other, kind="sync")
    assert ingest.command_ack(dev, theirs.pk, True) is False
    assert ingest.command_ack(other, theirs.pk, True) is True
    assert ingest.command_ack(other, theirs.pk, True) is False  # already settled


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_posts_store_each_event_once(tree, live_server):
    _dev, credential = enrolled(tree.hoankiem, "HK-01")
    batch = json.dumps({"events": [event(f"e{i}") for i in range(50)]}).encode()
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def send() -> None:
        try:
            request = urllib.request.Request(  # noqa: S310
                f"{live_server.url}/api/device/v1/playlog",
                data=batch,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {credential}",
                },
                method="POST",
            )
            start.wait(timeout=10)
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                answers.append(json.loads(response.read()))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(answers) == 2
    assert PlayEvent.objects.count() == 50
    # Each event was inserted by exactly one of the two posts.
    assert sum(a["accepted"] for a in answers) == 50
    assert sum(a["duplicates"] for a in answers) == 50
