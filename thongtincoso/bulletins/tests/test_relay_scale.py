"""Relay at scale: one province bulletin to 100 communes, in batches, all or nothing."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Delivery, DeliveryStatus, Status
from thongtincoso.units.models import Unit, UnitKind

from .factories import draft

COMMUNES = 100


def _province_with_communes(nation: Unit, code: str, communes: int) -> Unit:
    """A province and `communes` communes under it, saved as the loader saves units."""
    province = Unit(
        code=code,
        name=f"Tỉnh {code}",
        kind=UnitKind.PROVINCE,
        type_name="Tỉnh",
        parent=nation,
        valid_from=dt.date(2025, 7, 1),
    )
    province.save()
    for n in range(communes):
        Unit(
            code=f"{code}{n:03d}",
            name=f"Xã số {n}",
            kind=UnitKind.COMMUNE,
            type_name="Xã",
            parent=province,
            valid_from=dt.date(2025, 7, 1),
        ).save()
    return province


@pytest.fixture
def big(tree: Any) -> Unit:
    return _province_with_communes(tree.nation, "90", COMMUNES)


@pytest.fixture
def small(tree: Any) -> Unit:
    return _province_with_communes(tree.nation, "91", 10)


def _approved(province: Unit, make_user: Any) -> tuple[Bulletin, Any]:
    """An approved province-wide bulletin whose validity starts tomorrow (not yet published)."""
    editor = make_user(f"editor{province.code}", province, role=Role.EDITOR)
    leader = make_user(f"leader{province.code}", province, role=Role.APPROVER)
    bulletin = draft(editor, province, valid_from=timezone.now() + dt.timedelta(days=1))
    services.bulletin_submit(actor=editor, bulletin=bulletin)
    services.bulletin_approve(actor=leader, bulletin=bulletin)
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.APPROVED
    return bulletin, leader


def _publish_counting(bulletin: Bulletin, actor: Any) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        services.bulletin_publish(actor=actor, bulletin=bulletin)
    return [q["sql"] for q in ctx.captured_queries]


def _expected_inserts(rows: int) -> int:
    """INSERT statements for `rows` inbox items: RELAY_BATCH, or fewer rows where the database
    caps parameters per statement (SQLite: 999, so 66 items of 15 columns)."""
    fields = [f for f in Delivery._meta.concrete_fields if not f.primary_key]
    cap = max(connection.ops.bulk_batch_size(fields, [None] * rows), 1)
    return math.ceil(rows / min(services.RELAY_BATCH, cap))


def _delivery_inserts(sql: list[str]) -> int:
    table = Delivery._meta.db_table
    return sum(1 for s in sql if s.lstrip().upper().startswith("INSERT") and table in s)


def test_relay_to_100_communes_creates_100_inbox_items(big, make_user):
    bulletin, leader = _approved(big, make_user)
    sql = _publish_counting(bulletin, leader)

    rows = Delivery.objects.filter(bulletin=bulletin)
    assert rows.count() == COMMUNES
    assert set(rows.values_list("commune__parent", flat=True)) == {big.pk}
    assert set(rows.values_list("status", flat=True)) == {DeliveryStatus.RECEIVED}
    assert rows.values("commune").distinct().count() == COMMUNES
    relay = AuditRecord.objects.get(action="bulletins.bulletin.relay")
    assert relay.after == {"communes": COMMUNES, "priority": "normal"}
    assert _delivery_inserts(sql) == _expected_inserts(COMMUNES)
    assert len(sql) <= 30


def test_relay_queries_grow_with_batches_not_communes(big, small, make_user, monkeypatch):
    monkeypatch.setattr(services, "RELAY_BATCH", 30)
    few, few_actor = _approved(small, make_user)
    many, many_actor = _approved(big, make_user)

    few_sql = _publish_counting(few, few_actor)
    many_sql = _publish_counting(many, many_actor)

    assert Delivery.objects.filter(bulletin=few).count() == 10
    assert Delivery.objects.filter(bulletin=many).count() == COMMUNES
    # 10 communes: one insert; 100 communes in batches of 30: four. Nothing else differs.
    assert _delivery_inserts(few_sql) == 1
    assert _delivery_inserts(many_sql) == 4
    assert len(many_sql) - len(few_sql) == 3


def test_approval_that_publishes_relays_within_a_bounded_number_of_queries(
    big, make_user, django_assert_max_num_queries
):
    editor = make_user("editor", big, role=Role.EDITOR)
    leader = make_user("leader", big, role=Role.APPROVER)
    bulletin = draft(editor, big)  # valid now: approval publishes and relays at once
    services.bulletin_submit(actor=editor, bulletin=bulletin)
    with django_assert_max_num_queries(40):
        services.bulletin_approve(actor=leader, bulletin=bulletin)
    assert Delivery.objects.filter(bulletin=bulletin).count() == COMMUNES


class FailingInsert:
    """Delivery.objects.bulk_create that writes the first batch, then fails (a full disk…)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.written = 0

    def __call__(self, rows: list[Delivery], batch_size: int | None = None, **kwargs: Any) -> Any:
        assert batch_size is not None
        self.written = len(self.real(rows[:batch_size], **kwargs))
        raise RuntimeError("disk full after the first batch")


@pytest.fixture
def failing_insert(monkeypatch: Any) -> FailingInsert:
    monkeypatch.setattr(services, "RELAY_BATCH", 30)
    fault = FailingInsert(Delivery.objects.bulk_create)
    monkeypatch.setattr(Delivery.objects, "bulk_create", fault)
    return fault


def _nothing_relayed(bulletin: Bulletin) -> None:
    assert not Delivery.objects.exists()
    assert not AuditRecord.objects.filter(
        action__in=["bulletins.bulletin.relay", "bulletins.bulletin.publish"]
    ).exists()
    current = Bulletin.objects.get(pk=bulletin.pk)
    assert current.published_at is None
    assert current.relayed_at is None


def test_failure_midway_through_publish_leaves_nothing(big, make_user, failing_insert):
    bulletin, leader = _approved(big, make_user)
    audit_before = AuditRecord.objects.count()
    with pytest.raises(RuntimeError, match="disk full"):
        services.bulletin_publish(actor=leader, bulletin=bulletin)
    assert failing_insert.written == 30  # the first batch really reached the table
    _nothing_relayed(bulletin)
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.APPROVED
    assert AuditRecord.objects.count() == audit_before


def test_failure_midway_through_approval_leaves_it_submitted(
    big, make_user, failing_insert, monkeypatch
):
    editor = make_user("editor", big, role=Role.EDITOR)
    leader = make_user("leader", big, role=Role.APPROVER)
    bulletin = draft(editor, big)
    services.bulletin_submit(actor=editor, bulletin=bulletin)
    audit_before = AuditRecord.objects.count()
    with pytest.raises(RuntimeError, match="disk full"):
        services.bulletin_approve(actor=leader, bulletin=bulletin)
    assert failing_insert.written == 30
    _nothing_relayed(bulletin)
    current = Bulletin.objects.get(pk=bulletin.pk)
    assert current.status == Status.SUBMITTED
    assert current.approved_by is None
    assert AuditRecord.objects.count() == audit_before
    # Once the fault is gone, the approver simply tries again.
    monkeypatch.setattr(Delivery.objects, "bulk_create", failing_insert.real)
    services.bulletin_approve(actor=leader, bulletin=bulletin)
    assert Delivery.objects.filter(bulletin=bulletin).count() == COMMUNES
