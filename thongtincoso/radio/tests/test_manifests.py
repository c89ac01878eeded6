"""Manifests: content, the three-day window, and an ETag that changes exactly when that device's
schedule changes."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from thongtincoso.accounts.roles import Role
from thongtincoso.bulletins.tests.factories import published, staff  # noqa: F401  (fixture)
from thongtincoso.radio import credentials
from thongtincoso.radio.manifests import (
    build_manifest,
    canonical_json,
    etag_for,
    refresh,
    refresh_stations,
)
from thongtincoso.radio.models import (
    CommandState,
    Device,
    DeviceCommand,
    Emergency,
    EmergencySource,
    EmergencyState,
)
from thongtincoso.radio.tests.test_devices import (  # noqa: F401  (fixtures)
    _english,
    add_airing,
    enrolled,
    local,
    manifest_root,
    station_of,
)

pytestmark = pytest.mark.usefixtures("manifest_root")


@pytest.fixture
def fleet(tree: Any, manifest_root: Any) -> dict[str, Device]:  # noqa: F811
    """Hoàn Kiếm: one device in the zone, one without; Cửa Nam: one device."""
    return {
        "hk_zone": enrolled(tree.hoankiem, "HK-ZONE", zone=tree.zone)[0],
        "hk": enrolled(tree.hoankiem, "HK-MAIN")[0],
        "cn": enrolled(tree.cuanam, "CN-MAIN")[0],
    }


def etags(devices: dict[str, Device]) -> dict[str, str]:
    return {name: Device.objects.get(pk=d.pk).manifest_etag for name, d in devices.items()}


def file_of(device: Device) -> Any:
    device.refresh_from_db()
    path = credentials.device_manifest_path(device)
    assert path is not None
    return path


def manifest_on_disk(device: Device) -> dict[str, Any]:
    return json.loads(file_of(device).read_bytes())


def test_etag_changes_exactly_when_that_devices_schedule_changes(tree, fleet):
    today = timezone.localdate()
    refresh(fleet.values())
    before = etags(fleet)
    assert all(before.values())
    stats = {name: os.stat(file_of(d)) for name, d in fleet.items()}
    # Nothing changed: same ETag, the files are not even rewritten.
    assert refresh(fleet.values()) == []
    assert etags(fleet) == before
    for name, device in fleet.items():
        again = os.stat(file_of(device))
        assert (again.st_ino, again.st_mtime_ns) == (stats[name].st_ino, stats[name].st_mtime_ns)
    # An airing for the whole of Hoàn Kiếm: both Hoàn Kiếm devices, not Cửa Nam's.
    add_airing(tree.hoankiem, "1:hk", local(today, 17))
    changed = refresh(fleet.values())
    assert {d.code for d in changed} == {"HK-ZONE", "HK-MAIN"}
    after = etags(fleet)
    assert after["hk_zone"] != before["hk_zone"]
    assert after["hk"] != before["hk"]
    assert after["cn"] == before["cn"]
    # An airing for the zone only: only the zone's device.
    add_airing(tree.hoankiem, "1:zone", local(today, 18), zone_codes=[tree.zone.code])
    changed = refresh(fleet.values())
    assert [d.code for d in changed] == ["HK-ZONE"]
    latest = etags(fleet)
    assert latest["hk_zone"] != after["hk_zone"]
    assert (latest["hk"], latest["cn"]) == (after["hk"], after["cn"])
    # The ETag stored is the file's, as nginx computes it.
    for device in fleet.values():
        assert Device.objects.get(pk=device.pk).manifest_etag == etag_for(os.stat(file_of(device)))


def test_a_same_size_rewrite_in_the_same_second_still_changes_the_etag(tree, fleet):
    today = timezone.localdate()
    airing = add_airing(tree.hoankiem, "1:hk", local(today, 17), title="Bản tin A")
    refresh([fleet["hk"]])
    first = etags(fleet)["hk"]
    size = os.stat(file_of(fleet["hk"])).st_size
    airing.title = "Bản tin B"  # same length, same size
    airing.save()
    assert refresh([fleet["hk"]]) != []
    assert os.stat(file_of(fleet["hk"])).st_size == size
    assert etags(fleet)["hk"] != first


def test_refresh_stations_renders_only_that_communes_devices(tree, fleet):
    today = timezone.localdate()
    refresh(fleet.values())
    before = etags(fleet)
    add_airing(tree.cuanam, "1:cn", local(today, 6))
    changed = refresh_stations([station_of(tree.cuanam).pk])
    assert [d.code for d in changed] == ["CN-MAIN"]
    after = etags(fleet)
    assert after["cn"] != before["cn"]
    assert (after["hk"], after["hk_zone"]) == (before["hk"], before["hk_zone"])


def test_the_manifest_lists_the_devices_items_for_three_local_days(tree, fleet):
    today = timezone.localdate()
    station = station_of(tree.hoankiem)
    station.volume = 70
    station.save()
    add_airing(tree.hoankiem, "1:yesterday", local(today - dt.timedelta(days=1), 17))
    early = add_airing(tree.hoankiem, "1:today", local(today, 0, 5), title="Tin sáng")
    add_airing(tree.hoankiem, "1:day3", local(today + dt.timedelta(days=2), 23))
    add_airing(tree.hoankiem, "1:day4", local(today + dt.timedelta(days=3), 0, 1))
    add_airing(tree.hoankiem, "1:other-zone", local(today, 8), zone_codes=["00070.999"])
    manifest = build_manifest(fleet["hk_zone"])
    assert [i["id"] for i in manifest["items"]] == ["1:today", "1:day3"]
    item = manifest["items"][0]
    assert item == {
        "id": "1:today",
        "kind": "bulletin",
        "title": "Tin sáng",
        "priority": "normal",
        "start": (early.starts_at.astimezone(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (early.ends_at.astimezone(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "planned",
        "offset": 0.0,
        "loop": False,
        "audio": {
            "sha256": early.audio_sha256,
            "size": early.audio_size,
            "duration": 120.0,
            "url": f"/api/device/v1/audio/{early.audio_sha256}.mp3",
        },
    }
    assert item["start"].endswith("Z")
    assert item["start"] < item["end"]
    assert manifest["version"] == 1
    assert (manifest["device"], manifest["kind"]) == ("HK-ZONE", "cluster")
    assert (manifest["commune"], manifest["zone"]) == ("00070", "00070.001")
    assert manifest["generated_for"] == today.isoformat()
    assert manifest["volume"] == 70
    assert manifest["poll_interval"] >= 2
    assert manifest["commands"] == []
    assert manifest["emergencies"] == []
    assert "eboard" not in manifest
    # The device's own volume wins over the station's.
    Device.objects.filter(pk=fleet["hk_zone"].pk).update(volume=35)
    fleet["hk_zone"].refresh_from_db()
    assert build_manifest(fleet["hk_zone"])["volume"] == 35


def test_the_content_depends_on_the_local_date_not_the_time_of_rendering(tree, fleet):
    today = timezone.localdate()
    add_airing(tree.hoankiem, "1:today", local(today, 17))
    morning = canonical_json(build_manifest(fleet["hk"], now=local(today, 0, 1)))
    evening = canonical_json(build_manifest(fleet["hk"], now=local(today, 23, 59)))
    assert morning == evening
    tomorrow = build_manifest(fleet["hk"], now=local(today + dt.timedelta(days=1), 0, 1))
    assert tomorrow["generated_for"] == (today + dt.timedelta(days=1)).isoformat()
    assert tomorrow["items"] == []  # today's 17:00 airing is no longer in the window


def test_queued_commands_ride_in_the_manifest(tree, fleet):
    command = DeviceCommand.objects.create(device=fleet["hk"], kind="volume", params={"volume": 40})
    DeviceCommand.objects.create(device=fleet["hk"], kind="sync", state=CommandState.ACKNOWLEDGED)
    DeviceCommand.objects.create(device=fleet["cn"], kind="stop")
    refresh(fleet.values())
    assert manifest_on_disk(fleet["hk"])["commands"] == [
        {"id": command.pk, "kind": "volume", "params": {"volume": 40}}
    ]
    assert manifest_on_disk(fleet["hk_zone"])["commands"] == []


def test_an_emergency_reaching_the_device_is_laid_over_its_plan(tree, fleet, make_user):
    now = timezone.now()
    user = make_user("op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    emergency = Emergency.objects.create(
        unit=tree.hoankiem,
        source=EmergencySource.RECORDING,
        title="Bão số 3",
        audio_sha256="e" * 64,
        audio_size=8000,
        audio_duration=30,
        repeat_count=2,
        interval_seconds=60,
        state=EmergencyState.ACTIVE,
        created_by=user,
        started_at=now,
        ends_at=now + dt.timedelta(seconds=120),
    )
    emergency.targets.set([tree.zone])
    refresh(fleet.values())
    zoned = manifest_on_disk(fleet["hk_zone"])
    plays = [i for i in zoned["items"] if i["kind"] == "emergency"]
    assert [i["emergency"] for i in plays] == [
        {"id": emergency.pk, "repetition": 1, "of": 2},
        {"id": emergency.pk, "repetition": 2, "of": 2},
    ]
    assert plays[0]["priority"] == "emergency"
    assert plays[0]["title"] == "Bão số 3"
    assert plays[0]["audio"]["url"] == f"/api/device/v1/audio/{'e' * 64}.mp3"
    assert [e["id"] for e in zoned["emergencies"]] == [emergency.pk]
    assert zoned["emergencies"][0]["state"] == "active"
    # Not targeted: the other Hoàn Kiếm device and Cửa Nam's.
    assert manifest_on_disk(fleet["hk"])["emergencies"] == []
    assert manifest_on_disk(fleet["cn"])["emergencies"] == []


def test_eboards_carry_the_communes_eboard_bulletins(tree, staff):  # noqa: F811
    board, _credential = enrolled(tree.hoankiem, "HK-EB", kind="eboard")
    shown = published(
        staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Lịch cắt điện",
        body="<p>Khu vực <b>chợ</b> cắt điện &amp; nước.</p><p>Từ 8 giờ.</p>",
        channels=["eboard", "portal"],
    )  # fmt: skip
    published(
        staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Chỉ phát thanh",
        channels=["radio"],
    )  # fmt: skip
    manifest = build_manifest(Device.objects.select_related("commune", "zone").get(pk=board.pk))
    assert [b["id"] for b in manifest["eboard"]] == [shown.pk]
    item = manifest["eboard"][0]
    assert item["title"] == "Lịch cắt điện"
    assert item["body"] == "Khu vực chợ cắt điện & nước.\nTừ 8 giờ."
    assert item["priority"] == "normal"
    assert item["valid_until"] is None


def test_refresh_batches_its_queries(tree):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    today = timezone.localdate()
    few = [enrolled(tree.hoankiem, "HK-00")[0], enrolled(tree.cuanam, "CN-00")[0]]
    many = [enrolled(tree.hoankiem, f"HK-{i:02d}")[0] for i in range(1, 11)]
    many += [enrolled(tree.cuanam, f"CN-{i:02d}")[0] for i in range(1, 11)]
    add_airing(tree.hoankiem, "1:a", local(today, 6))
    add_airing(tree.cuanam, "1:b", local(today, 6))
    with CaptureQueriesContext(connection) as for_few:
        assert len(refresh(few)) == 2
    with CaptureQueriesContext(connection) as for_many:
        assert len(refresh(many)) == 20
    # Nothing is fetched per device: twenty devices cost what two do.
    assert len(for_many.captured_queries) == len(for_few.captured_queries)


def test_devices_without_a_credential_have_no_manifest_file(tree, settings):
    from thongtincoso.radio.tests.test_devices import make_device

    device, _code = make_device(tree.hoankiem, "HK-NEW")
    assert refresh([device]) == []
    root = Path(settings.TTCS_MANIFEST_ROOT)
    assert not root.exists() or not any(root.rglob("*.json"))


def test_a_volume_or_zone_change_rerenders_that_device_only(tree, fleet):
    from thongtincoso.radio.devices import device_update

    refresh(fleet.values())
    before = etags(fleet)
    device_update(actor=None, device=fleet["hk"], volume=40)
    after = etags(fleet)
    assert after["hk"] != before["hk"]
    assert manifest_on_disk(fleet["hk"])["volume"] == 40
    assert (after["hk_zone"], after["cn"]) == (before["hk_zone"], before["cn"])
    device_update(actor=None, device=fleet["hk"], zone=tree.zone)
    assert manifest_on_disk(fleet["hk"])["zone"] == tree.zone.code


@pytest.mark.parametrize("change", ["revoke", "rotate"])
def test_a_device_revoked_or_rotated_during_a_render_does_not_get_its_old_file_back(
    tree: Any, monkeypatch: Any, change: str
) -> None:
    from thongtincoso.radio import manifests

    device, credential = enrolled(tree.hoankiem, "HK-RACE")
    old_path = credentials.manifest_path(credentials.capability_for(credential))
    old_path.unlink()
    real_stage = manifests._stage
    done: list[bool] = []

    def stage_then_change(dev: Any, data: bytes) -> Any:
        staged = real_stage(dev, data)  # rendered with the credential it had when read
        if done:  # the rotation renders the new credential's file itself
            return staged
        done.append(True)
        if change == "revoke":
            credentials.device_revoke(actor=None, device=Device.objects.get(pk=dev.pk))
        else:
            credentials.credential_rotate(Device.objects.get(pk=dev.pk))
        return staged

    monkeypatch.setattr(manifests, "_stage", stage_then_change)
    changed = manifests.refresh([device])
    assert changed == []
    assert not old_path.exists()  # nginx and the fast path have nothing to serve for it
    device.refresh_from_db()
    if change == "rotate":  # the new credential's file is there, and only that one
        assert credentials.device_manifest_path(device).exists()


def test_station_rules_and_eboard_changes_reach_the_manifests(
    tree: Any,
    staff: Any,  # noqa: F811
    make_user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A manifest carries more than the plan: each of these changes re-renders it."""
    from thongtincoso.radio import slots

    cluster, _credential = enrolled(tree.hoankiem, "HK-VOL")
    board, _board_credential = enrolled(tree.hoankiem, "HK-BOARD", kind="eboard")
    operator = make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    station = slots.station_for(tree.hoankiem)
    assert station is not None

    def on_disk(device: Any) -> dict[str, Any]:
        path = credentials.device_manifest_path(Device.objects.get(pk=device.pk))
        return json.loads(path.read_bytes())

    with django_capture_on_commit_callbacks(execute=True):
        slots.station_update(actor=operator, station=station, volume=20)
    assert on_disk(cluster)["volume"] == 20
    with django_capture_on_commit_callbacks(execute=True):
        slots.broadcast_rules_update(actor=operator, unit=tree.hoankiem, poll_interval_seconds=7)
    assert on_disk(cluster)["poll_interval"] == 7
    # A bulletin for e-boards only changes no airing, yet the e-board shows it.
    with django_capture_on_commit_callbacks(execute=True):
        published(
            staff.hk_editor,
            staff.hk_approver,
            tree.hoankiem,
            title="Lịch cắt điện",
            channels=["eboard", "portal"],
        )
    assert [item["title"] for item in on_disk(board)["eboard"]] == ["Lịch cắt điện"]
