"""The device endpoints over HTTP: the database-free poll path, audio, heartbeats, bad input."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client

from thongtincoso.radio import credentials
from thongtincoso.radio.models import CommandState, Device, DeviceCommand
from thongtincoso.radio.tests.factories import fake_asset
from thongtincoso.radio.tests.test_devices import (  # noqa: F401  (fixtures)
    _english,
    enrolled,
    manifest_root,
)

MANIFESTS = pytest.mark.usefixtures("manifest_root")

pytestmark = [MANIFESTS]


@pytest.fixture
def device(tree: Any, manifest_root: Any) -> tuple[Device, str]:  # noqa: F811
    return enrolled(tree.hoankiem, "HK-01", zone=tree.zone)


def auth(credential: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {credential}"}


def post(client: Client, path: str, body: Any, credential: str, **extra: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    extra.setdefault("content_type", "application/json")
    return client.post(f"/api/device/v1/{path}", data, **auth(credential), **extra)


def faults(device: Device) -> int:
    return Device.objects.get(pk=device.pk).fault_count


# --- Manifest ------------------------------------------------------------------------------------


def test_polls_are_answered_from_the_file_without_a_query(
    device, client, django_assert_num_queries
):
    dev, credential = device
    with django_assert_num_queries(0):
        first = client.get("/api/device/v1/manifest", **auth(credential))
    assert first.status_code == 200
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', first["ETag"])
    assert first["Cache-Control"] == "private, no-cache"
    assert first["Content-Type"] == "application/json"
    assert json.loads(first.content)["device"] == "HK-01"
    assert first["ETag"] == Device.objects.get(pk=dev.pk).manifest_etag
    with django_assert_num_queries(0):
        again = client.get(
            "/api/device/v1/manifest", HTTP_IF_NONE_MATCH=first["ETag"], **auth(credential)
        )
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    # The capability URL: the same file, the same ETag, no database either.
    url = f"/device-manifests/{credentials.capability_for(credential)}.json"
    with django_assert_num_queries(0):
        public = client.get(url)
        cached = client.get(url, HTTP_IF_NONE_MATCH=f'W/{first["ETag"]}, "other"')
    assert public.status_code == 200
    assert public.content == first.content
    assert public["ETag"] == first["ETag"]
    assert cached.status_code == 304
    # A stale ETag gets the file.
    stale = client.get("/api/device/v1/manifest", HTTP_IF_NONE_MATCH='"0-0"', **auth(credential))
    assert stale.status_code == 200


def test_a_missing_file_is_rendered_on_demand(device, client):
    dev, credential = device
    path = credentials.device_manifest_path(dev)
    assert path is not None
    path.unlink()
    response = client.get("/api/device/v1/manifest", **auth(credential))
    assert response.status_code == 200
    assert path.exists()
    assert response.content == path.read_bytes()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ttcsd_not-a-real-one", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000],
)
def test_polls_without_a_valid_credential_get_401(device, client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/device/v1/manifest", **extra)
    assert response.status_code == 401
    assert response.json()["detail"]


def test_unknown_capabilities_are_404(device, client):
    assert client.get(f"/device-manifests/{'0' * 64}.json").status_code == 404
    assert client.get("/device-manifests/../secret.json").status_code == 404
    assert client.post(f"/device-manifests/{'0' * 64}.json").status_code == 405


# --- Audio ---------------------------------------------------------------------------------------


def test_audio_by_hash_is_immutable_and_supports_ranges(device, client):
    _dev, credential = device
    asset = fake_asset("news", 2.0)
    data = bytes(range(256)) * 40
    default_storage.save(asset.mp3.name, ContentFile(data))
    url = f"/api/device/v1/audio/{asset.sha256}.mp3"
    whole = client.get(url, **auth(credential))
    assert whole.status_code == 200
    assert b"".join(whole.streaming_content) == data
    assert whole["Content-Type"] == "audio/mpeg"
    assert whole["Cache-Control"] == "private, max-age=31536000, immutable"
    assert whole["ETag"] == f'"{asset.sha256}"'
    part = client.get(url, HTTP_RANGE="bytes=100-199", **auth(credential))
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == data[100:200]
    assert part["Content-Range"] == f"bytes 100-199/{len(data)}"
    cached = client.get(url, HTTP_IF_NONE_MATCH=f'"{asset.sha256}"', **auth(credential))
    assert cached.status_code == 304
    assert client.get(url).status_code == 401
    unknown = hashlib.sha256(b"nothing").hexdigest()
    assert client.get(f"/api/device/v1/audio/{unknown}.mp3", **auth(credential)).status_code == 404


# --- Heartbeat -----------------------------------------------------------------------------------


def test_a_heartbeat_records_health_and_answers_the_server_time(device, client):
    dev, credential = device
    response = post(
        client,
        "heartbeat",
        {
            "status": "playing",
            "volume": 65,
            "firmware": "ttcs-player 1.4.2",
            "free_storage_mb": 2048,
            "clock_offset_ms": -1500,
            "current_item": "3:2026-11-26:17",
            "extra": "ignored",
        },
        credential,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", body["server_time"])
    assert body["manifest_etag"] == Device.objects.get(pk=dev.pk).manifest_etag != ""
    assert body["poll_interval"] >= 2
    dev.refresh_from_db()
    assert dev.last_seen_at is not None
    assert (dev.reported_volume, dev.firmware, dev.free_storage_mb) == (
        65,
        "ttcs-player 1.4.2",
        2048,
    )
    assert (dev.clock_offset_ms, dev.current_item) == (-1500, "3:2026-11-26:17")
    assert dev.last_heartbeat["status"] == "playing"
    assert dev.fault_count == 0


def test_acks_settle_the_devices_own_commands_only(tree, device, client):
    dev, credential = device
    other, _other_credential = enrolled(tree.cuanam, "CN-01")
    mine = DeviceCommand.objects.create(device=dev, kind="volume", params={"volume": 40})
    failed = DeviceCommand.objects.create(device=dev, kind="test_tone")
    theirs = DeviceCommand.objects.create(device=other, kind="stop")
    from thongtincoso.radio.manifests import refresh

    refresh([dev, other])
    before = client.get("/api/device/v1/manifest", **auth(credential)).json()
    assert {c["id"] for c in before["commands"]} == {mine.pk, failed.pk}
    response = post(
        client,
        "heartbeat",
        {
            "commands": [
                {"id": mine.pk, "ok": True, "message": "volume 40"},
                {"id": failed.pk, "ok": False, "message": "no speaker"},
                {"id": theirs.pk, "ok": True},
            ]
        },
        credential,
    )
    assert response.status_code == 200
    states = {c.pk: (c.state, c.result) for c in DeviceCommand.objects.all()}
    assert states[mine.pk] == (CommandState.ACKNOWLEDGED, "volume 40")
    assert states[failed.pk] == (CommandState.FAILED, "no speaker")
    # Another device's command is untouched, whatever this device claims.
    assert states[theirs.pk] == (CommandState.QUEUED, "")
    # The acknowledged commands have left the manifest, and the ETag said so.
    after = client.get("/api/device/v1/manifest", **auth(credential))
    assert after.json()["commands"] == []
    assert after["ETag"] == response.json()["manifest_etag"]


# --- Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'"text"', 400, None),
        (json.dumps({"volume": "loud"}).encode(), 400, "volume"),
        (json.dumps({"volume": 101}).encode(), 400, "volume"),
        (json.dumps({"volume": 50.5}).encode(), 400, "volume"),
        (json.dumps({"free_storage_mb": "2048"}).encode(), 400, "free_storage_mb"),
        (json.dumps({"firmware": 12}).encode(), 400, "firmware"),
        (json.dumps({"commands": [{"id": "7", "ok": True}]}).encode(), 400, "commands.0.id"),
        (json.dumps({"commands": {"id": 7}}).encode(), 400, "commands"),
        (json.dumps({"firmware": "x" * 70_000}).encode(), 413, None),
    ],
)
def test_bad_heartbeats_get_a_clear_4xx_and_count_as_faults(device, client, body, status, field):
    dev, credential = device
    response = post(client, "heartbeat", body, credential)
    assert response.status_code == status
    answer = response.json()
    assert answer["detail"]
    assert answer.get("field") == field
    dev.refresh_from_db()
    assert dev.fault_count == 1
    assert dev.last_fault
    assert dev.last_fault_at is not None
    # Nothing was stored from it.
    assert dev.last_seen_at is None
    assert dev.reported_volume is None
    assert dev.firmware == ""


def test_an_oversized_body_is_refused_before_it_is_read(device, client):
    dev, credential = device
    big = b"x" * (10 * 1024 * 1024)
    response = post(client, "playlog", big, credential, content_type="application/octet-stream")
    assert response.status_code == 413
    assert faults(dev) == 1
    # Announced as JSON, a 10 MB body reaches the view unread (no middleware reads a body over
    # Django's own upload limit) and gets the same 413, counted in the device's health.
    response = post(client, "playlog", big, credential)
    assert response.status_code == 413
    assert response.json()["detail"]
    assert faults(dev) == 2
    mid = json.dumps({"events": [], "pad": "x" * (1024 * 1024)}).encode()
    assert post(client, "playlog", mid, credential).status_code == 413
    assert faults(dev) == 3
    assert not dev.play_events.exists()


def test_a_lying_content_length_is_refused(device, client):
    dev, credential = device
    # (Announced as JSON it never reaches the view: web servers refuse such a request, and
    # Django's own body check in the middleware would fail first.)
    response = client.generic(
        "POST", "/api/device/v1/heartbeat", b"{}", content_type="text/plain",
        CONTENT_LENGTH="lots", **auth(credential),
    )  # fmt: skip
    assert response.status_code == 400
    assert faults(dev) == 1


def test_bad_input_from_an_unknown_device_is_401_and_counts_nowhere(device, client):
    dev, _credential = device
    response = post(client, "heartbeat", b"{not json", "ttcsd_unknown")
    assert response.status_code == 401
    assert faults(dev) == 0


def test_wrong_methods_get_json_405(device, client):
    _dev, credential = device
    response = client.get("/api/device/v1/heartbeat", **auth(credential))
    assert response.status_code == 405
    assert response.json()["detail"]
    assert client.get("/api/device/v1/enrol").status_code == 405
