"""The emergency fast path: notices, alerts files, the WSGI fast path for alerts and audio, and
the MQTT event published from the request before any manifest (radio/alerts.py, fastpath.py)."""

# ruff: noqa: F811  (fixtures imported from the other radio tests)

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from huey.contrib.djhuey import HUEY

from thongtincoso.accounts.roles import Role
from thongtincoso.radio import alerts, credentials
from thongtincoso.radio import emergencies as svc
from thongtincoso.radio.manifests import etag_for
from thongtincoso.radio.models import Emergency, EmergencySource, EmergencyState
from thongtincoso.radio.tests.factories import fake_asset
from thongtincoso.radio.tests.test_devices import (  # noqa: F401  (fixtures)
    enrolled,
    manifest_root,
)
from thongtincoso.radio.tests.test_emergencies import (  # noqa: F401  (fixtures)
    bulletin_with_audio,
    media,
    people,
    staff,
)
from thongtincoso.radio.tests.test_fastpath import call

pytestmark = [pytest.mark.usefixtures("manifest_root"), pytest.mark.django_db]

SHA = "9f" * 32
STARTED = dt.datetime(2026, 11, 27, 3, 0, 40, tzinfo=dt.UTC)


@pytest.fixture
def make_emergency(tree: Any, make_user: Any) -> Any:
    """Emergencies written directly (the services are tested below and in test_emergencies)."""
    operator = make_user("op", tree.nation, role=Role.BROADCAST_OPERATOR)

    def make(targets: list[Any], **fields: Any) -> Emergency:
        return _emergency(tree, operator, targets, **fields)

    return make


def _emergency(tree: Any, operator: Any, targets: list[Any], **fields: Any) -> Emergency:
    values: dict[str, Any] = {
        "unit": tree.nation,
        "source": EmergencySource.SPEECH,
        "title": "Bão số 3",
        "audio_sha256": SHA,
        "audio_size": 245760,
        "audio_duration": 61.4,
        "repeat_count": 2,
        "interval_seconds": 60,
        "state": EmergencyState.ACTIVE,
        "started_at": STARTED,
        "ends_at": STARTED + dt.timedelta(seconds=182.8),
        "created_by": operator,
        **fields,
    }
    emergency = Emergency.objects.create(**values)
    emergency.targets.set(targets)
    return emergency


def alerts_on_disk(root: Path, code: str) -> dict[str, Any]:
    return json.loads((root / "alerts" / f"{code}.json").read_bytes())


def etag_of(root: Path, code: str) -> str:
    return etag_for((root / "alerts" / f"{code}.json").stat())


# --- The notice ---------------------------------------------------------------------------------


def test_a_notice_says_what_to_play_and_for_whom(tree, make_emergency):
    emergency = make_emergency([tree.zone, tree.cuanam, tree.hcm])
    assert alerts.notice(emergency) == {
        "id": emergency.pk,
        "state": "active",
        "title": "Bão số 3",
        "started_at": "2026-11-27T03:00:40Z",
        "ends_at": "2026-11-27T03:03:42.800Z",
        "stopped_at": None,
        "repeat": 2,
        "interval": 60.0,
        "audio": {
            "sha256": SHA,
            "size": 245760,
            "duration": 61.4,
            "url": f"/api/device/v1/audio/{SHA}.mp3",
        },
        "targets": {"provinces": ["79"], "communes": ["00073"], "zones": ["00070.001"]},
    }
    # A zone and a commune of Hà Nội, and Hồ Chí Minh City itself.
    assert alerts.provinces_of(emergency) == ["01", "79"]


def test_the_nation_is_announced_as_its_provinces(tree, make_emergency):
    emergency = make_emergency([tree.nation])
    assert alerts.notice(emergency)["targets"] == {
        "provinces": ["01", "79"],
        "communes": [],
        "zones": [],
    }
    assert alerts.provinces_of(emergency) == ["01", "79"]


def test_a_commune_emergency_touches_only_its_province(tree, make_emergency):
    emergency = make_emergency([tree.saigon])
    assert alerts.notice(emergency)["targets"]["communes"] == ["26734"]
    assert alerts.provinces_of(emergency) == ["79"]


# --- The files ----------------------------------------------------------------------------------


def test_each_province_file_lists_the_emergencies_shown_there(tree, make_emergency, manifest_root):
    on_air = make_emergency([tree.zone])
    make_emergency(
        [tree.saigon],
        state=EmergencyState.STOPPED,
        stopped_at=STARTED - dt.timedelta(days=3),
        ends_at=STARTED - dt.timedelta(days=3),
    )  # ended too long ago
    nationwide = make_emergency([tree.nation], started_at=STARTED + dt.timedelta(seconds=1))
    awaiting = make_emergency([tree.hanoi], state=EmergencyState.AWAITING_CONFIRMATION)
    etags = alerts.write_alerts(now=STARTED + dt.timedelta(minutes=1))
    assert sorted(etags) == ["01", "79"]
    hanoi = alerts_on_disk(manifest_root, "01")
    assert hanoi["version"] == 1
    assert hanoi["province"] == "01"
    assert [e["id"] for e in hanoi["emergencies"]] == [on_air.pk, nationwide.pk]
    assert hanoi["emergencies"][0] == alerts.notice(on_air)
    assert [e["id"] for e in alerts_on_disk(manifest_root, "79")["emergencies"]] == [nationwide.pk]
    assert awaiting.pk not in [e["id"] for e in hanoi["emergencies"]]
    assert etags["01"] == etag_of(manifest_root, "01")
    # Canonical JSON: rendering again with nothing changed keeps the bytes and the ETag.
    again = alerts.write_alerts(now=STARTED + dt.timedelta(minutes=2))
    assert again == etags


def test_the_files_follow_every_state_change(
    tree, people, staff, manifest_root, django_capture_on_commit_callbacks
):
    """Start, confirm, stop, cancel and finish each rewrite the touched provinces' files."""
    with django_capture_on_commit_callbacks(execute=True):
        wide = svc.emergency_start(
            actor=people.hn_operator,
            unit=tree.hanoi,
            targets=[tree.hanoi],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin_with_audio(staff, tree),
        )
    assert wide.state == EmergencyState.AWAITING_CONFIRMATION
    before = etag_of(manifest_root, "01") if (manifest_root / "alerts/01.json").exists() else None
    assert before is None or alerts_on_disk(manifest_root, "01")["emergencies"] == []

    with django_capture_on_commit_callbacks(execute=True):
        svc.emergency_confirm(actor=people.hn_operator2, emergency=wide)
    confirmed = alerts_on_disk(manifest_root, "01")["emergencies"]
    assert [(e["id"], e["state"]) for e in confirmed] == [(wide.pk, "active")]
    assert confirmed[0]["targets"]["provinces"] == ["01"]
    on_air_etag = etag_of(manifest_root, "01")
    assert on_air_etag != before
    assert not (manifest_root / "alerts/79.json").exists()  # Hồ Chí Minh City is not touched

    # A cancelled request never went on air: the file is rewritten with the same bytes.
    with django_capture_on_commit_callbacks(execute=True):
        other = svc.emergency_start(
            actor=people.hn_operator,
            unit=tree.hanoi,
            targets=[tree.hanoi],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin_with_audio(staff, tree, title="Khác"),
        )
        svc.emergency_cancel(actor=people.hn_operator2, emergency=other)
    assert etag_of(manifest_root, "01") == on_air_etag

    with django_capture_on_commit_callbacks(execute=True):
        svc.emergency_stop(actor=people.hn_operator2, emergency=wide)
    stopped = alerts_on_disk(manifest_root, "01")["emergencies"][0]
    assert stopped["state"] == "stopped"
    assert stopped["stopped_at"] is not None
    assert etag_of(manifest_root, "01") != on_air_etag

    with django_capture_on_commit_callbacks(execute=True):
        local = svc.emergency_start(
            actor=people.hk_operator,
            unit=tree.hoankiem,
            targets=[tree.hoankiem],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin_with_audio(staff, tree, title="Cháy"),
        )
    stopped_etag = etag_of(manifest_root, "01")
    assert [e["state"] for e in alerts_on_disk(manifest_root, "01")["emergencies"]] == [
        "stopped",
        "active",
    ]
    assert local.ends_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert svc.emergencies_finish_due(now=local.ends_at) == 1
    assert [e["state"] for e in alerts_on_disk(manifest_root, "01")["emergencies"]] == [
        "stopped",
        "finished",
    ]
    assert etag_of(manifest_root, "01") != stopped_etag
    # The periodic run also writes every other province's file (empty here).
    assert alerts_on_disk(manifest_root, "79")["emergencies"] == []


def test_a_failure_to_write_the_files_does_not_fail_the_operator(
    tree, people, staff, settings, tmp_path, django_capture_on_commit_callbacks
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    settings.TTCS_MANIFEST_ROOT = str(blocker)  # nothing can be written below a file
    with django_capture_on_commit_callbacks(execute=True):
        emergency = svc.emergency_start(
            actor=people.hk_operator,
            unit=tree.hoankiem,
            targets=[tree.hoankiem],
            source=EmergencySource.BULLETIN,
            bulletin=bulletin_with_audio(staff, tree),
        )
    emergency.refresh_from_db()
    assert emergency.state == EmergencyState.ACTIVE


# --- Serving the alerts files -------------------------------------------------------------------


def test_alerts_are_served_fast_with_etags_and_by_django_alike(
    tree, make_emergency, manifest_root, client, django_assert_num_queries
):
    emergency = make_emergency([tree.zone], started_at=dt.datetime.now(dt.UTC))
    alerts.write_alerts()
    with django_assert_num_queries(0):
        first = call("/device-alerts/01.json")
        again = call("/device-alerts/01.json", if_none_match=first.headers["ETag"])
        head = call("/device-alerts/01.json", method="HEAD")
    assert first.status == 200
    assert [e["id"] for e in json.loads(first.body)["emergencies"]] == [emergency.pk]
    assert first.headers["ETag"] == etag_of(manifest_root, "01")
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.headers["Content-Type"] == "application/json"
    assert (again.status, again.body) == (304, b"")
    assert (head.status, head.body) == (200, b"")
    # No credential needed, and the Django view answers the same.
    view = client.get("/device-alerts/01.json")
    assert (view.status_code, view.content) == (200, first.body)
    assert view["ETag"] == first.headers["ETag"]
    assert view["Cache-Control"] == "no-cache"
    assert client.get("/device-alerts/01.json", HTTP_IF_NONE_MATCH=view["ETag"]).status_code == 304


def test_a_missing_province_file_is_written_on_demand_and_others_are_404(
    tree, manifest_root, client
):
    assert not (manifest_root / "alerts/79.json").exists()
    answer = call("/device-alerts/79.json")  # the fast path has no file: Django writes it
    assert answer.status == 200
    assert json.loads(answer.body) == {"version": 1, "province": "79", "emergencies": []}
    assert (manifest_root / "alerts/79.json").exists()
    assert call("/device-alerts/79.json", if_none_match=answer.headers["ETag"]).status == 304
    for path in ("/device-alerts/99.json", "/device-alerts/00070.json"):  # not a province
        missing = call(path)
        assert missing.status == 404
        assert json.loads(missing.body)["detail"]
    assert client.get("/device-alerts/..%2F01.json").status_code == 404
    assert call("/device-alerts/x.json").status == 404


# --- Audio from the fast path -------------------------------------------------------------------


AUDIO = bytes(range(256)) * 40


@pytest.fixture
def audio(tree: Any, media: Path) -> tuple[str, str, Any]:
    """A device's credential and an MP3 in real media storage: (credential, url, device)."""
    device, credential = enrolled(tree.hoankiem, "HK-AUDIO")
    asset = fake_asset("fast audio", 2.0)
    default_storage.save(asset.mp3.name, ContentFile(AUDIO))
    return credential, f"/api/device/v1/audio/{asset.sha256}.mp3", device


HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "ETag",
    "Cache-Control",
    "Accept-Ranges",
    "Content-Disposition",
    "X-Content-Type-Options",
    "X-Accel-Redirect",
)


def django_answer(client: Any, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    response = client.get(url, **{f"HTTP_{k.upper()}": v for k, v in headers.items()})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    kept = {h: response[h] for h in HEADERS if response.has_header(h)}
    if response.status_code == 304 or "X-Accel-Redirect" in kept:
        kept.pop("Content-Length", None)  # Django may count the empty body; the server does
    if response.status_code == 304:
        kept.pop("Content-Type", None)  # Django's default; meaningless without a body
    return response.status_code, kept, body


def fast_answer(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    answer = call(url, **headers)
    kept = {h: answer.headers[h] for h in HEADERS if h in answer.headers}
    if answer.status == 304 or "X-Accel-Redirect" in kept:
        kept.pop("Content-Length", None)
    return answer.status, kept, answer.body


@pytest.mark.parametrize(
    ("headers", "status", "first", "last"),
    [
        ({}, 200, 0, 10239),
        ({"range": "bytes=100-199"}, 206, 100, 199),
        ({"range": "bytes=10000-"}, 206, 10000, 10239),
        ({"range": "bytes=10200-99999"}, 206, 10200, 10239),
    ],
    ids=["whole", "range", "open-range", "range-past-the-end-is-cut"],
)
def test_audio_is_sent_fast_exactly_as_django_sends_it(
    audio, client, django_assert_num_queries, headers, status, first, last
):
    credential, url, _device = audio
    bearer = f"Bearer {credential}"
    with django_assert_num_queries(0):
        fast = fast_answer(url, authorization=bearer, **headers)
    assert fast == django_answer(client, url, authorization=bearer, **headers)
    assert (fast[0], fast[2]) == (status, AUDIO[first : last + 1])
    assert fast[1]["Content-Length"] == str(last - first + 1)
    if status == 206:
        assert fast[1]["Content-Range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    with django_assert_num_queries(0):
        cached = fast_answer(url, authorization=bearer, if_none_match=fast[1]["ETag"])
    assert (cached[0], cached[2]) == (304, b"")
    assert cached == django_answer(client, url, authorization=bearer, if_none_match=fast[1]["ETag"])


def test_audio_the_fast_path_cannot_answer_goes_to_django(audio, client):
    credential, url, device = audio
    bearer = f"Bearer {credential}"
    # Unusual ranges: Django decides (several ranges → whole file, past the end → 416).
    several = fast_answer(url, authorization=bearer, range="bytes=0-9,20-29")
    assert several == django_answer(client, url, authorization=bearer, range="bytes=0-9,20-29")
    assert several[0] == 200
    beyond = call(url, authorization=bearer, range="bytes=99999-")
    assert beyond.status == 416
    # An unknown hash is Django's 404; no credential or an unknown one is Django's 401.
    unknown = f"/api/device/v1/audio/{hashlib.sha256(b'nothing').hexdigest()}.mp3"
    assert call(unknown, authorization=bearer).status == 404
    assert call(url).status == 401
    assert call(url, authorization="Bearer ttcsd_nobody").status == 401
    # Revoked: its manifest file (the capability) is gone, and so is the audio.
    credentials.device_revoke(actor=None, device=device)
    refused = call(url, authorization=bearer)
    assert refused.status == 401
    assert json.loads(refused.body)["detail"]


def test_behind_nginx_the_fast_path_hands_audio_over_like_django(audio, client, settings):
    credential, url, _device = audio
    settings.TTCS_X_ACCEL_REDIRECT = True
    settings.DEBUG = False
    bearer = f"Bearer {credential}"
    fast = fast_answer(url, authorization=bearer)
    assert fast == django_answer(client, url, authorization=bearer)
    assert fast[1]["X-Accel-Redirect"].startswith("/protected-media/audio/")
    assert fast[2] == b""


def test_other_storages_leave_audio_to_django(audio, settings):
    from thongtincoso.radio.fastpath import ManifestFastPath

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    assert ManifestFastPath(lambda environ, start: []).audio_root is None


# --- MQTT, published from the request -----------------------------------------------------------


def _broker_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


needs_broker = pytest.mark.skipif(not _broker_running(), reason="no MQTT broker on :1883")


@pytest.fixture
def listener(settings: Any) -> Any:
    from thongtincoso.radio.tests.test_push_mqtt import Listener

    settings.MQTT_URL = "mqtt://127.0.0.1:1883"
    subscriber = Listener()
    subscriber.drain()
    yield subscriber
    subscriber.close()


def _start_in_hoankiem(tree: Any, people: Any, staff: Any) -> Emergency:
    return svc.emergency_start(
        actor=people.hk_operator,
        unit=tree.hoankiem,
        targets=[tree.hoankiem],
        source=EmergencySource.BULLETIN,
        bulletin=bulletin_with_audio(staff, tree, title="Cháy"),
    )


@needs_broker
def test_the_emergency_is_published_with_its_notice_before_any_manifest(
    tree, people, staff, listener, django_capture_on_commit_callbacks
):
    enrolled(tree.hoankiem, "HK-PUSH-1")
    enrolled(tree.hoankiem, "HK-PUSH-2")
    listener.drain()
    with django_capture_on_commit_callbacks(execute=True):
        emergency = _start_in_hoankiem(tree, people, staff)
    received = listener.drain()
    # First the emergency (from the request), then the manifests that were re-rendered.
    assert [(topic, payload["type"]) for topic, payload in received] == [
        ("ttcs/communes/00070/events", "emergency"),
        ("ttcs/communes/00070/events", "manifest"),
    ]
    event = received[0][1]
    assert event["event"] == "start"
    assert event["emergency"] == emergency.pk
    assert event["title"] == "Cháy"
    emergency.refresh_from_db()
    assert event["notice"] == alerts.notice(emergency)
    assert event["notice"]["audio"]["sha256"] == emergency.audio_sha256

    with django_capture_on_commit_callbacks(execute=True):
        svc.emergency_stop(actor=people.hk_operator, emergency=emergency)
    stop = [p for _t, p in listener.drain() if p["type"] == "emergency"]
    assert [(p["event"], p["notice"]["state"]) for p in stop] == [("stop", "stopped")]


@needs_broker
def test_an_unreachable_broker_leaves_the_event_to_the_retried_task(
    tree, people, staff, listener, settings, django_capture_on_commit_callbacks
):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
    settings.MQTT_URL = f"mqtt://127.0.0.1:{closed_port}"
    HUEY.flush()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            emergency = _start_in_hoankiem(tree, people, staff)
        emergency.refresh_from_db()
        assert emergency.state == EmergencyState.ACTIVE  # the operator's request succeeded
        waiting = [t for t in HUEY.scheduled() if t.name.endswith("mqtt_publish")]
        events = [
            json.loads(payload)
            for task in waiting
            for _topic, payload in task.args[0]
            if json.loads(payload)["type"] == "emergency"
        ]
        assert [(e["event"], e["emergency"]) for e in events] == [("start", emergency.pk)]
        # When the broker is back, the retry delivers it.
        settings.MQTT_URL = "mqtt://127.0.0.1:1883"
        for task in waiting:
            HUEY.execute(task, timestamp=task.eta)  # as the consumer does when the retry is due
        delivered = [p for _t, p in listener.drain() if p["type"] == "emergency"]
        assert [p["notice"]["id"] for p in delivered] == [emergency.pk]
    finally:
        HUEY.flush()


def test_enrolment_tells_the_device_its_alerts_url(tree, client):
    from thongtincoso.radio.tests.test_devices import make_device

    _device, code = make_device(tree.hoankiem, "HK-ALERTS")
    answer = client.post(
        "/api/device/v1/enrol", {"enrolment_code": code}, content_type="application/json"
    )
    assert answer.status_code == 201
    assert answer.json()["alerts_url"] == "/device-alerts/01.json"
    assert call(answer.json()["alerts_url"]).status == 200


def test_the_servers_file_wrapper_sends_a_whole_file(audio):
    """Servers that can sendfile() offer wsgi.file_wrapper; whole files go through it."""
    import io
    from wsgiref.util import FileWrapper, setup_testing_defaults

    from thongtincoso.radio.fastpath import ManifestFastPath

    credential, url, _device = audio
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    def not_django(environ: Any, start: Any) -> list[bytes]:
        raise AssertionError("the fast path should have answered")

    app = ManifestFastPath(not_django)
    for extra, status in (({}, "200 OK"), ({"HTTP_RANGE": "bytes=5-"}, "206 Partial Content")):
        environ: dict[str, Any] = {
            "PATH_INFO": url,
            "REQUEST_METHOD": "GET",
            "HTTP_AUTHORIZATION": f"Bearer {credential}",
            "wsgi.file_wrapper": FileWrapper,
            **extra,
        }
        setup_testing_defaults(environ)
        environ["wsgi.input"] = io.BytesIO(b"")
        body = app(environ, start_response)
        assert isinstance(body, FileWrapper) == (not extra)  # a range is sent by the app
        data = b"".join(body)
        body.close()  # type: ignore[attr-defined]
        assert seen["status"] == status
        assert data == (AUDIO if not extra else AUDIO[5:])
        assert seen["headers"]["Content-Length"] == str(len(data))
