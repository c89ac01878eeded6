"""Proof of play: reconciliation table, late events, zones, deletion, reports and CSV."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from django.utils import translation

from thongtincoso.accounts.roles import Role
from thongtincoso.bulletins.models import Bulletin, Delivery, DeliveryStatus, Review
from thongtincoso.bulletins.tests.factories import Staff, published
from thongtincoso.radio import proof
from thongtincoso.radio.models import (
    Airing,
    AiringKind,
    AiringResult,
    Device,
    DeviceKind,
    Emergency,
    EmergencySource,
    EmergencyState,
    PlayEvent,
    Station,
)
from thongtincoso.radio.tests.factories import with_audio
from thongtincoso.speech.models import AudioAsset, BulletinAudio

START = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)  # 17:00 in Hà Nội
AFTER = START + dt.timedelta(hours=1)  # every airing below has settled by then
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def staff(tree: Any, make_user: Any) -> Staff:
    """The bulletins tests' people (province and commune editors and approvers)."""
    return Staff(
        hn_editor=make_user("hn_editor", tree.hanoi, role=Role.EDITOR),
        hn_approver=make_user("hn_approver", tree.hanoi, role=Role.APPROVER),
        hk_editor=make_user("hk_editor", tree.hoankiem, role=Role.EDITOR),
        hk_approver=make_user("hk_approver", tree.hoankiem, role=Role.APPROVER),
        hk_operator=make_user("hk_operator", tree.hoankiem, role=Role.BROADCAST_OPERATOR),
        cn_editor=make_user("cn_editor", tree.cuanam, role=Role.EDITOR),
    )


@pytest.fixture
def station(tree: Any) -> Station:
    return Station.objects.create(unit=tree.hoankiem, name="Đài Hoàn Kiếm")


def airing(station: Station, key: str, *, minute: int = 0, length: float = 60.0, **fields: Any):
    starts = START + dt.timedelta(minutes=minute)
    return Airing.objects.create(
        station=station,
        key=key,
        occurrence_start=START,
        occurrence_end=START + dt.timedelta(minutes=30),
        starts_at=starts,
        ends_at=starts + dt.timedelta(seconds=length),
        kind=fields.pop("kind", AiringKind.BULLETIN),
        title=fields.pop("title", f"Bản tin {key}"),
        audio_sha256=fields.pop("audio_sha256", "a" * 64),
        audio_duration=length,
        **fields,
    )


def cluster(code: str, commune: Any, **fields: Any) -> Device:
    fields.setdefault("enrolled_at", START - dt.timedelta(days=3))
    fields.setdefault("kind", DeviceKind.CLUSTER)
    return Device.objects.create(code=code, commune=commune, **fields)


def played(device: Device, key: str, seconds: float, outcome: str = "completed") -> PlayEvent:
    return PlayEvent.objects.create(
        device=device,
        device_code=device.code,
        event_id=f"ev-{next(_ids)}",
        item_key=key,
        started_at=START,
        ended_at=START + dt.timedelta(seconds=seconds),
        played_seconds=seconds,
        outcome=outcome,
    )


def results(item: Airing) -> dict[str, str]:
    return dict(AiringResult.objects.filter(airing=item).values_list("device_code", "status"))


# device code -> its play events for the airing (item key suffix, seconds, outcome)
TABLE: dict[str, tuple[list[tuple[str, float, str]], str]] = {
    "complete": ([("", 60, "completed")], "played"),
    "ninety": ([("", 54, "partial")], "played"),
    "two_halves": ([("", 30, "partial"), ("", 28, "partial")], "played"),
    "some": ([("", 20, "partial")], "partial"),
    "failed_early": ([("", 5, "failed")], "partial"),
    "preempted": ([("", 15, "preempted")], "preempted"),
    "restarted": ([("", 15, "preempted"), ("#r", 60, "completed")], "played"),
    "restart_cut": ([("", 15, "preempted"), ("#r", 20, "preempted")], "preempted"),
    # Cut by two emergencies, then played in full at its second restart (timeline's "#r2").
    "restarted_twice": (
        [("", 10, "preempted"), ("#r", 5, "preempted"), ("#r2", 60, "completed")],
        "played",
    ),
    "silent": ([], "missed"),
}


def test_reconciliation_table(tree, station):
    item = airing(station, "1:2026-11-20:7", length=60)
    for code, (events, _expected) in TABLE.items():
        device = cluster(code, tree.hoankiem)
        for suffix, seconds, outcome in events:
            played(device, item.key + suffix, seconds, outcome)
    # Another airing's events do not count for this one.
    played(Device.objects.get(code="silent"), "1:2026-11-20:8", 60)

    assert proof.reconcile(now=AFTER) == 1
    assert results(item) == {code: expected for code, (_e, expected) in TABLE.items()}
    row = AiringResult.objects.get(airing=item, device_code="two_halves")
    assert row.played_seconds == 58


def test_only_settled_bulletin_airings_are_reconciled(tree, station):
    cluster("HK-1", tree.hoankiem)
    settled = airing(station, "1:2026-11-20:1", minute=0, length=60)
    filler = airing(station, "1:2026-11-20:filler", minute=1, length=600, kind=AiringKind.FILLER)
    recent = airing(station, "1:2026-11-20:2", minute=50, length=60)
    assert proof.reconcile(now=recent.ends_at + dt.timedelta(minutes=4)) == 1
    assert results(settled) == {"HK-1": "missed"}
    assert results(filler) == {}
    assert results(recent) == {}
    assert proof.reconcile(now=recent.ends_at + dt.timedelta(minutes=5)) == 1
    assert results(recent) == {"HK-1": "missed"}
    # A week later nothing is looked at again.
    assert proof.reconcile(now=AFTER + dt.timedelta(days=8)) == 0


def test_a_late_event_upgrades_a_missed_airing(tree, station):
    device = cluster("HK-1", tree.hoankiem)
    other = cluster("HK-2", tree.hoankiem)
    item = airing(station, "1:2026-11-20:3")
    played(other, item.key, 60)
    assert proof.reconcile(now=AFTER) == 1
    assert results(item) == {"HK-1": "missed", "HK-2": "played"}
    assert proof.reconcile(now=AFTER) == 0  # nothing new

    played(device, item.key + "#r", 59)  # the device was offline; its log arrives a day later
    assert proof.reconcile(now=AFTER + dt.timedelta(days=1)) == 1
    assert results(item) == {"HK-1": "played", "HK-2": "played"}
    assert proof.reconcile(now=AFTER + dt.timedelta(days=1)) == 0


def test_zone_enrolment_and_revocation_decide_who_was_meant(tree, station):
    in_zone = cluster("HK-ZONE", tree.hoankiem, zone=tree.zone)
    cluster("HK-OUT", tree.hoankiem)
    cluster("HK-NEW", tree.hoankiem, zone=tree.zone, enrolled_at=START + dt.timedelta(hours=1))
    cluster("HK-GONE", tree.hoankiem, zone=tree.zone, revoked_at=START - dt.timedelta(hours=1))
    cluster("HK-LATER-GONE", tree.hoankiem, zone=tree.zone, revoked_at=AFTER)
    cluster("HK-BOARD", tree.hoankiem, zone=tree.zone, kind=DeviceKind.EBOARD)
    cluster("CN-1", tree.cuanam)
    zoned = airing(station, "1:2026-11-20:4", zone_codes=[tree.zone.code])
    whole = airing(station, "1:2026-11-20:5", minute=2)
    played(in_zone, zoned.key, 60)

    proof.reconcile(now=AFTER)
    assert results(zoned) == {"HK-ZONE": "played", "HK-LATER-GONE": "missed"}
    assert set(results(whole)) == {"HK-ZONE", "HK-OUT", "HK-LATER-GONE"}


def test_proof_survives_deleting_the_bulletin_and_its_audio(tree, station, staff):
    bulletin = with_audio(
        published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Lịch tiêm"), 60
    )
    asset = BulletinAudio.objects.get(bulletin=bulletin).asset
    item = airing(
        station,
        f"1:2026-11-20:{bulletin.pk}",
        bulletin=bulletin,
        title=bulletin.title,
        audio_sha256=asset.sha256,
    )
    device = cluster("HK-1", tree.hoankiem)
    played(device, item.key, 60)
    proof.reconcile(now=AFTER)

    # There is no delete service (published bulletins are history); an administrator removing
    # one by hand takes its reviews with it.
    Review.objects.filter(bulletin=bulletin).delete()
    Bulletin.objects.filter(pk=bulletin.pk).delete()
    AudioAsset.objects.filter(pk=asset.pk).delete()
    item.refresh_from_db()
    assert item.bulletin is None
    assert (item.title, item.audio_sha256) == ("Lịch tiêm", asset.sha256)
    assert results(item) == {"HK-1": "played"}
    assert AiringResult.objects.get(airing=item).airing.title == "Lịch tiêm"


def test_the_origin_sees_aired_per_commune(tree, station, staff):
    bulletin = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Phòng cháy",
        targets=["00070", "00073"],
    )
    hk = Delivery.objects.get(bulletin=bulletin, commune=tree.hoankiem)
    device = cluster("HK-1", tree.hoankiem)
    cluster("HK-2", tree.hoankiem)
    first = airing(station, f"1:2026-11-20:{bulletin.pk}", bulletin=bulletin, delivery=hk)
    later = airing(
        station, f"2:2026-11-20:{bulletin.pk}", minute=20, bulletin=bulletin, delivery=hk
    )
    event = played(device, first.key, 60)

    proof.reconcile(now=AFTER)
    hk.refresh_from_db()
    assert hk.status == DeliveryStatus.AIRED
    assert hk.aired_at == event.started_at
    assert Delivery.objects.get(bulletin=bulletin, commune=tree.cuanam).status != "aired"

    rows = proof.airing_status_for_bulletin(bulletin)
    assert [
        (r["commune"].code, r["scheduled_at"], r["aired"], r["played_devices"], r["devices"])
        for r in rows
    ] == [
        ("00070", first.starts_at, True, 1, 2),
        ("00073", None, False, 0, 0),
    ]
    assert later.starts_at > first.starts_at


def test_station_report_and_csv(tree, station, make_user):
    a = cluster("HK-1", tree.hoankiem, speakers=4, last_seen_at=AFTER - dt.timedelta(seconds=10))
    b = cluster("HK-2", tree.hoankiem, speakers=6, last_seen_at=AFTER - dt.timedelta(hours=1))
    cluster("HK-3", tree.hoankiem, speakers=2, revoked_at=START - dt.timedelta(days=1))
    cluster("HK-B", tree.hoankiem, kind=DeviceKind.EBOARD, zone=tree.zone)
    one = airing(station, "1:2026-11-20:1", length=100)
    two = airing(station, "1:2026-11-20:2", minute=2, length=50)
    airing(station, "1:2026-11-20:3", minute=4, length=50)  # nobody played it
    airing(station, "1:2026-11-21:4", minute=24 * 60, length=50)  # the next day: not in the report
    played(a, one.key, 100)
    played(b, one.key, 40, "partial")
    played(a, two.key, 50)
    operator = make_user("op", tree.hanoi, role=Role.BROADCAST_OPERATOR)
    for state, started in [
        (EmergencyState.FINISHED, START),
        (EmergencyState.STOPPED, START),
        (EmergencyState.CANCELLED, START),
        (EmergencyState.FINISHED, START - dt.timedelta(days=2)),
    ]:
        emergency = Emergency.objects.create(
            unit=tree.hanoi,
            source=EmergencySource.SPEECH,
            title="Bão",
            audio_sha256="b" * 64,
            state=state,
            started_at=started,
            created_by=operator,
        )
        emergency.targets.set([tree.hanoi] if state == EmergencyState.FINISHED else [tree.zone])
    other = Emergency.objects.create(
        unit=tree.hanoi,
        source=EmergencySource.SPEECH,
        title="Khác",
        audio_sha256="c" * 64,
        state=EmergencyState.FINISHED,
        started_at=START,
        created_by=operator,
    )
    other.targets.set([tree.cuanam])
    proof.reconcile(now=AFTER)

    day = (START - dt.timedelta(hours=10), START + dt.timedelta(hours=14))
    [row] = proof.station_report([station], *day, now=AFTER)
    assert {k: v for k, v in row.items() if k != "station"} == {
        "commune_code": "00070",
        "commune": "Phường Hoàn Kiếm",
        "clusters": 2,
        "speakers": 10,
        "eboards": 1,
        "bulletins_aired": 2,
        "plays": 6,
        "successful_plays": 2,
        "emergency_broadcasts": 2,
        "airtime_requested": 400.0,
        "airtime_played": 190.0,
        "success_ratio": round(2 / 6, 4),
        "devices_online": 1,
        "devices_offline": 1,
        "devices_never": 1,
    }

    csv = list(proof.report_csv_rows([station], *day, now=AFTER))
    assert csv[0][:3] == ["Commune code", "Commune", "Loudspeaker clusters"]
    assert len(csv[0]) == len(csv[1]) == len(proof.REPORT_COLUMNS)
    assert csv[1][:6] == ["00070", "Phường Hoàn Kiếm", 2, 10, 1, 2]
    empty = list(
        proof.report_csv_rows(
            [station], START + dt.timedelta(days=3), START + dt.timedelta(days=4), now=AFTER
        )
    )
    assert empty[1][proof.REPORT_COLUMNS.index("success_ratio")] == ""
