"""Stations, broadcast rules and slots: permissions, overlaps, rule checks, queue order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone, translation

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins.tests.factories import published, staff  # noqa: F401  (fixture)
from thongtincoso.core.errors import NotFoundError, PermissionDeniedError, ServiceError
from thongtincoso.radio import slots as svc
from thongtincoso.radio.models import BroadcastRules, Enforcement, QueueOrder, Slot, Station
from thongtincoso.radio.schedule import local_date

WEEKDAYS = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
TODAY = local_date(timezone.now())


@pytest.fixture(autouse=True)
def _english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def station(tree: Any) -> Station:
    found = svc.station_for(tree.hoankiem)
    assert found is not None
    return found


@pytest.fixture
def operator(tree: Any, make_user: Any) -> Any:
    return make_user("hk_op", tree.hoankiem, role=Role.BROADCAST_OPERATOR)


def make_slot(operator: Any, station: Station, **kw: Any) -> tuple[Slot, list[str]]:
    fields: dict[str, Any] = {
        "name": "Bản tin sáng",
        "rrule": WEEKDAYS,
        "start_time": dt.time(6, 0),
        "duration_minutes": 30,
        "starts_on": TODAY,
    }
    fields.update(kw)
    return svc.slot_create(actor=operator, station=station, **fields)


def test_station_for_creates_once_and_refuses_non_communes(tree: Any) -> None:
    first = svc.station_for(tree.hoankiem)
    assert first is not None
    assert first.name == "Đài truyền thanh Phường Hoàn Kiếm"
    assert svc.station_for(tree.hoankiem) == first
    assert Station.objects.filter(unit=tree.hoankiem).count() == 1
    assert svc.station_for(tree.cuanam, create=False) is None
    for unit in (tree.hanoi, tree.zone):
        with pytest.raises(ServiceError):
            svc.station_for(unit)


def test_slot_create_is_audited(operator: Any, station: Station) -> None:
    slot, warnings = make_slot(operator, station, rrule="rrule:freq=weekly;byday=mo,we")
    assert warnings == []
    assert slot.rrule == "FREQ=WEEKLY;BYDAY=MO,WE"
    record = AuditRecord.objects.get(action="radio.slot.create")
    assert record.actor_id == operator.pk
    assert record.after["rrule"] == "FREQ=WEEKLY;BYDAY=MO,WE"


def test_overlapping_slot_is_refused_naming_the_other(operator: Any, station: Station) -> None:
    make_slot(operator, station, name="Sáng")
    with pytest.raises(ServiceError) as caught:
        make_slot(operator, station, name="Trùng", start_time=dt.time(6, 15), rrule="FREQ=DAILY")
    assert "Sáng" in str(caught.value)
    assert Slot.objects.filter(station=station).count() == 1
    # Back to back is not an overlap; another day's slot at the same time neither.
    make_slot(operator, station, name="Tiếp", start_time=dt.time(6, 30))
    make_slot(operator, station, name="Cuối tuần", rrule="FREQ=WEEKLY;BYDAY=SA")


def test_overlap_refused_even_when_rules_only_warn(
    tree: Any, operator: Any, station: Station
) -> None:
    BroadcastRules.objects.create(unit=tree.hanoi, enforcement=Enforcement.WARN)
    make_slot(operator, station, name="Sáng")
    with pytest.raises(ServiceError, match="overlaps"):
        make_slot(operator, station, name="B", start_time=dt.time(6, 10), confirm=True)


def test_slot_update_does_not_overlap_itself(operator: Any, station: Station) -> None:
    slot, _ = make_slot(operator, station)
    updated, _ = svc.slot_update(actor=operator, slot=slot, duration_minutes=45)
    assert updated.duration_minutes == 45
    assert AuditRecord.objects.filter(action="radio.slot.update").count() == 1


RULE_CASES = [
    pytest.param({"max_session_minutes": 20}, {}, "at most 20 minutes", id="too-long"),
    pytest.param({"weekdays": [0, 1, 2, 3, 4]}, {"rrule": "FREQ=DAILY"}, "SA, SU", id="weekend"),
    pytest.param(
        {"quiet_start": dt.time(22, 0), "quiet_end": dt.time(5, 0)},
        {"start_time": dt.time(4, 45)},
        "quiet hours",
        id="quiet-hours-across-midnight",
    ),
    pytest.param(
        {"max_sessions_per_day": 1},
        {"start_time": dt.time(17, 0)},
        "At most 1 sessions",
        id="sessions-a-day",
    ),
]


@pytest.mark.parametrize(("rules", "slot_fields", "fragment"), RULE_CASES)
def test_rule_refused(
    tree: Any, operator: Any, station: Station, rules: dict, slot_fields: dict, fragment: str
) -> None:
    if "max_sessions_per_day" in rules:
        make_slot(operator, station, name="Sáng")
    BroadcastRules.objects.create(unit=tree.hanoi, enforcement=Enforcement.REFUSE, **rules)
    before = Slot.objects.count()
    with pytest.raises(ServiceError, match=fragment):
        make_slot(operator, station, name="Mới", **slot_fields)
    assert Slot.objects.count() == before


@pytest.mark.parametrize(("rules", "slot_fields", "fragment"), RULE_CASES)
def test_rule_warns_and_needs_confirmation(
    tree: Any, operator: Any, station: Station, rules: dict, slot_fields: dict, fragment: str
) -> None:
    if "max_sessions_per_day" in rules:
        make_slot(operator, station, name="Sáng")
    # Inherited from the province (the commune has no row of its own).
    BroadcastRules.objects.create(unit=tree.hanoi, enforcement=Enforcement.WARN, **rules)
    before = Slot.objects.count()
    with pytest.raises(ServiceError) as caught:
        make_slot(operator, station, name="Mới", **slot_fields)
    assert caught.value.field == "confirm"
    assert Slot.objects.count() == before
    slot, warnings = make_slot(operator, station, name="Mới", confirm=True, **slot_fields)
    assert any(fragment in w for w in warnings)
    assert slot.pk


def test_rules_inherit_and_update(tree: Any, make_user: Any) -> None:
    admin = make_user("hn_admin", tree.hanoi, role=Role.UNIT_ADMIN)
    assert svc.broadcast_rules_for(tree.hoankiem).pk is None  # defaults, unsaved
    rules = svc.broadcast_rules_update(
        actor=admin, unit=tree.hanoi, weekdays=[4, 0, 0], max_session_minutes=45
    )
    assert rules.weekdays == [0, 4]
    assert svc.broadcast_rules_for(tree.hoankiem) == rules
    assert AuditRecord.objects.filter(action="radio.rules.update").count() == 1
    bad: dict[str, Any]
    for bad in (
        {"weekdays": []},
        {"weekdays": [7]},
        {"weekdays": [True]},
        {"quiet_start": dt.time(22, 0)},
        {"max_session_minutes": 0},
        {"poll_interval_seconds": 1},
    ):
        with pytest.raises(ServiceError):
            svc.broadcast_rules_update(actor=admin, unit=tree.hanoi, **bad)
    assert svc.broadcast_rules_for(tree.hanoi).max_session_minutes == 45


def test_rules_update_needs_manage_or_broadcast(tree: Any, make_user: Any) -> None:
    editor = make_user("hn_editor", tree.hanoi, role=Role.EDITOR)
    stranger = make_user("hcm_admin", tree.hcm, role=Role.UNIT_ADMIN)
    with pytest.raises(PermissionDeniedError):
        svc.broadcast_rules_update(actor=editor, unit=tree.hanoi, max_session_minutes=10)
    with pytest.raises(NotFoundError):
        svc.broadcast_rules_update(actor=stranger, unit=tree.hanoi, max_session_minutes=10)
    assert not BroadcastRules.objects.exists()


def test_operator_of_another_commune_cannot_create_slots(
    tree: Any, make_user: Any, station: Station
) -> None:
    cn_operator = make_user("cn_op", tree.cuanam, role=Role.BROADCAST_OPERATOR)
    with pytest.raises(NotFoundError):
        make_slot(cn_operator, station)
    assert not Slot.objects.exists()


def test_editor_without_broadcast_is_refused(tree: Any, make_user: Any, station: Station) -> None:
    editor = make_user("hk_ed", tree.hoankiem, role=Role.EDITOR)
    with pytest.raises(PermissionDeniedError):
        make_slot(editor, station)
    assert not Slot.objects.exists()


def test_slot_delete(operator: Any, station: Station, make_user: Any, tree: Any) -> None:
    slot, _ = make_slot(operator, station)
    viewer = make_user("hk_viewer", tree.hoankiem, role=Role.VIEWER)
    with pytest.raises(PermissionDeniedError):
        svc.slot_delete(actor=viewer, slot=slot)
    svc.slot_delete(actor=operator, slot=slot)
    assert not Slot.objects.exists()
    assert AuditRecord.objects.filter(action="radio.slot.delete").count() == 1


def test_station_update(operator: Any, station: Station) -> None:
    svc.station_update(actor=operator, station=station, overflow_rule="drop", volume=60)
    station.refresh_from_db()
    assert (station.overflow_rule, station.volume) == ("drop", 60)
    with pytest.raises(ServiceError):
        svc.station_update(actor=operator, station=station, filler="audio")
    with pytest.raises(ServiceError):
        svc.station_update(actor=operator, station=station, volume=101)
    with pytest.raises(ServiceError):
        svc.station_update(actor=operator, station=station, overflow_rule="maybe")
    assert AuditRecord.objects.filter(action="radio.station.update").count() == 1


def test_queue_reorder(
    tree: Any,
    staff: Any,  # noqa: F811
    operator: Any,
    station: Station,
) -> None:
    first = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Một")
    second = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Hai")
    elsewhere = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, title="Khác", targets=["00073"]
    )
    with pytest.raises(ServiceError):
        svc.queue_reorder(actor=operator, station=station, bulletin_ids=[first.pk, elsewhere.pk])
    assert not QueueOrder.objects.exists()
    svc.queue_reorder(actor=operator, station=station, bulletin_ids=[second.pk, first.pk])
    assert dict(QueueOrder.objects.values_list("bulletin_id", "position")) == {
        second.pk: 1,
        first.pk: 2,
    }
    svc.queue_reorder(actor=operator, station=station, bulletin_ids=[first.pk, second.pk])
    assert dict(QueueOrder.objects.values_list("bulletin_id", "position")) == {
        first.pk: 1,
        second.pk: 2,
    }
    assert AuditRecord.objects.filter(action="radio.queue.reorder").count() == 2


def test_rules_of_many_units_at_once_match_one_by_one(tree: Any, django_assert_num_queries) -> None:
    """The manifests' bulk lookup gives every unit the same rules as the one-unit lookup."""
    BroadcastRules.objects.create(unit=tree.hanoi, poll_interval_seconds=30)
    BroadcastRules.objects.create(unit=tree.cuanam, poll_interval_seconds=5)
    units = [tree.hoankiem, tree.cuanam, tree.zone, tree.saigon, tree.hanoi]
    with django_assert_num_queries(1):
        bulk = svc.broadcast_rules_by_unit(units)
    for unit in units:
        assert bulk[unit.pk].poll_interval_seconds == (
            svc.broadcast_rules_for(unit).poll_interval_seconds
        )
    assert [bulk[u.pk].poll_interval_seconds for u in units] == [30, 5, 30, 60, 30]
    assert bulk[tree.saigon.pk].pk is None  # nothing set above Sài Gòn: the defaults
