"""Fleet monitoring: status by heartbeat age and each unit's thresholds, alerts, commands."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.core.errors import NotFoundError, PermissionDeniedError, ServiceError
from thongtincoso.notifications.models import Notification
from thongtincoso.radio import fleet
from thongtincoso.radio.models import (
    BroadcastRules,
    CommandState,
    Device,
    DeviceCommand,
    DeviceKind,
)

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


def device(code: str, commune: Any, *, seen: float | None = None, **fields: Any) -> Device:
    """A device last heard from `seen` seconds before NOW (never, without it)."""
    return Device.objects.create(
        code=code,
        kind=fields.pop("kind", DeviceKind.CLUSTER),
        commune=commune,
        enrolled_at=NOW - dt.timedelta(days=30),
        last_seen_at=None if seen is None else NOW - dt.timedelta(seconds=seen),
        **fields,
    )


@pytest.fixture
def fast_rules(tree: Any) -> BroadcastRules:
    """Hoàn Kiếm watches its devices closely; Cửa Nam keeps the defaults (300 s, 30 min)."""
    return BroadcastRules.objects.create(
        unit=tree.hoankiem, offline_after_seconds=60, alert_after_minutes=5
    )


def test_status_follows_each_units_threshold(tree, fast_rules):
    assert fleet.rules_for(tree.zone).offline_after_seconds == 60  # a zone inherits
    assert fleet.rules_for(tree.cuanam).offline_after_seconds == 300
    hk = device("HK-1", tree.hoankiem, seen=120)
    cn = device("CN-1", tree.cuanam, seen=120)
    cn_late = device("CN-2", tree.cuanam, seen=300)
    never = device("CN-3", tree.cuanam)
    revoked = device("CN-4", tree.cuanam, seen=1, revoked_at=NOW)
    statuses = {
        d.code: fleet.device_status(d, now=NOW, rules=fleet.rules_for(d.commune))
        for d in (hk, cn, cn_late, never, revoked)
    }
    assert statuses == {
        "HK-1": "offline",
        "CN-1": "online",
        "CN-2": "offline",  # exactly the threshold: no longer younger than it
        "CN-3": "never",
        "CN-4": "revoked",
    }


def test_summary_counts_statuses_drift_and_storage(tree, fast_rules):
    device("HK-1", tree.hoankiem, seen=10, clock_offset_ms=2500, free_storage_mb=50)
    device("HK-2", tree.hoankiem, seen=10, clock_offset_ms=-1500, free_storage_mb=5000)
    device("HK-3", tree.hoankiem, seen=90, clock_offset_ms=-2001)
    device("CN-1", tree.cuanam)
    device("CN-2", tree.cuanam, seen=10, revoked_at=NOW, clock_offset_ms=9000)
    summary = fleet.fleet_summary(Device.objects.all(), now=NOW)
    assert summary == {
        "online": 2,
        "offline": 1,
        "never": 1,
        "revoked": 1,
        "total": 5,
        "clock_drift": 2,
        "low_storage": 1,
    }


def test_rows_are_restricted_filtered_and_carry_thresholds(
    tree, make_user, fast_rules, django_assert_max_num_queries
):
    operator = make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    province = make_user("hn_tech", tree.hanoi, role=Role.TECHNICIAN)
    for n in range(4):
        device(f"HK-{n}", tree.hoankiem, seen=10 if n else 600, zone=tree.zone if n == 3 else None)
    for n in range(3):
        device(f"CN-{n}", tree.cuanam, seen=10, kind=DeviceKind.EBOARD if n else DeviceKind.CLUSTER)
    device("SG-1", tree.saigon, seen=10)

    assert [r.device.code for r in fleet.fleet_rows(operator, now=NOW)] == [
        "HK-0",
        "HK-1",
        "HK-2",
        "HK-3",
    ]
    # One rules lookup per commune, not per device.
    with django_assert_max_num_queries(8):
        rows = fleet.fleet_rows(province, now=NOW)
    assert {r.device.code: (r.status, r.offline_after_seconds) for r in rows} == {
        "HK-0": ("offline", 60),
        "HK-1": ("online", 60),
        "HK-2": ("online", 60),
        "HK-3": ("online", 60),
        "CN-0": ("online", 300),
        "CN-1": ("online", 300),
        "CN-2": ("online", 300),
    }
    assert [r.device.code for r in fleet.fleet_rows(province, status="offline", now=NOW)] == [
        "HK-0"
    ]
    assert [r.device.code for r in fleet.fleet_rows(province, kind="eboard", now=NOW)] == [
        "CN-1",
        "CN-2",
    ]
    assert [r.device.code for r in fleet.fleet_rows(province, unit=tree.zone, now=NOW)] == ["HK-3"]
    assert fleet.fleet_rows(operator, unit=tree.cuanam, now=NOW) == []


def test_commands_are_queued_checked_and_audited(
    tree, make_user, django_capture_on_commit_callbacks
):
    technician = make_user("hk_tech", tree.hoankiem, role=Role.TECHNICIAN)
    viewer = make_user("hk_viewer", tree.hoankiem, role=Role.VIEWER)
    neighbour = make_user("cn_op", tree.cuanam, role=Role.BROADCAST_OPERATOR)
    cluster = device("HK-1", tree.hoankiem, seen=10)

    with django_capture_on_commit_callbacks(execute=True):
        command = fleet.command_send(
            actor=technician, device=cluster, kind="volume", params={"level": 55}
        )
    assert command.state == CommandState.QUEUED
    assert command.params == {"level": 55}
    record = AuditRecord.objects.get(action="radio.command.send")
    assert record.after == {"device": "HK-1", "kind": "volume", "params": {"level": 55}}

    sync = fleet.command_send(actor=technician, device=cluster, kind="sync", params={"x": 1})
    assert sync.params == {}
    for params in ({"level": 101}, {"level": -1}, {}, {"level": "loud"}, {"level": True}):
        with pytest.raises(ServiceError) as caught:
            fleet.command_send(actor=technician, device=cluster, kind="volume", params=params)
        assert caught.value.field == "level"
    with pytest.raises(ServiceError):
        fleet.command_send(actor=technician, device=cluster, kind="reboot")
    with pytest.raises(PermissionDeniedError):
        fleet.command_send(actor=viewer, device=cluster, kind="sync")
    with pytest.raises(NotFoundError):
        fleet.command_send(actor=neighbour, device=cluster, kind="sync")
    assert DeviceCommand.objects.count() == 2

    acked = fleet.command_ack(device=cluster, command_id=command.pk, result="ok")
    assert acked is not None
    assert acked.state == CommandState.ACKNOWLEDGED
    assert fleet.command_ack(device=cluster, command_id=command.pk) is None  # once
    other = device("HK-2", tree.hoankiem, seen=10)
    assert fleet.command_ack(device=other, command_id=sync.pk) is None  # not its command


def test_commands_expire_after_a_day(tree):
    cluster = device("HK-1", tree.hoankiem, seen=10)
    old = DeviceCommand.objects.create(device=cluster, kind="sync")
    recent = DeviceCommand.objects.create(device=cluster, kind="test_tone")
    now = timezone.now()
    DeviceCommand.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(hours=25))
    assert fleet.commands_expire(now) == 1
    assert fleet.commands_expire(now) == 0
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.state, recent.state) == (CommandState.EXPIRED, CommandState.QUEUED)


def test_offline_alert_is_sent_once_per_commune_and_rearmed_by_a_heartbeat(
    tree, make_user, fast_rules
):
    hk_operator = make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    hn_technician = make_user("hn_tech", tree.hanoi, role=Role.TECHNICIAN)
    hk_editor = make_user("hk_editor", tree.hoankiem, role=Role.EDITOR)
    cn_operator = make_user("cn_op", tree.cuanam, role=Role.BROADCAST_OPERATOR)
    # Hoàn Kiếm alerts after 5 minutes; Cửa Nam after the default 30.
    a = device("HK-1", tree.hoankiem, seen=6 * 60)
    b = device("HK-2", tree.hoankiem, seen=20 * 60)
    device("HK-3", tree.hoankiem, seen=4 * 60)  # offline, not long enough
    device("HK-4", tree.hoankiem)  # never seen: nothing to alert about
    device("HK-5", tree.hoankiem, seen=3600, revoked_at=NOW - dt.timedelta(hours=2))
    device("CN-1", tree.cuanam, seen=20 * 60)

    assert fleet.offline_alerts(now=NOW) == 2
    notes = Notification.objects.order_by("recipient_id")
    assert sorted(n.recipient_id for n in notes) == sorted([hk_operator.pk, hn_technician.pk])
    assert all("HK-1, HK-2" in n.message for n in notes)
    assert not Notification.objects.filter(recipient__in=[hk_editor, cn_operator]).exists()
    assert AuditRecord.objects.filter(action="radio.device.offline_alert").count() == 1

    assert fleet.offline_alerts(now=NOW + dt.timedelta(seconds=30)) == 0
    assert Notification.objects.count() == 2

    # HK-1 comes back, then drops out again: the next outage alerts again (with HK-3's).
    a.refresh_from_db()
    fleet.heartbeat_seen(a)
    assert Device.objects.get(pk=a.pk).offline_alerted_at is None
    Device.objects.filter(pk=a.pk).update(last_seen_at=NOW)
    later = NOW + dt.timedelta(minutes=6)
    assert fleet.offline_alerts(now=later) == 2
    assert Notification.objects.count() == 4
    assert Notification.objects.order_by("-pk").first().message.endswith("HK-1, HK-3")
    assert Device.objects.get(pk=b.pk).offline_alerted_at == NOW

    # Cửa Nam's device alerts once it passes its own 30 minutes.
    assert fleet.offline_alerts(now=NOW + dt.timedelta(minutes=10)) == 1
    assert Notification.objects.filter(recipient=cn_operator).count() == 1
