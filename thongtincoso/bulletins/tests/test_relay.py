"""Relay down the tree with the TT 39 meaning of each priority."""

from __future__ import annotations

import pytest

from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Delivery, DeliveryStatus, Priority, Status
from thongtincoso.core.errors import ConflictError

from .factories import published


def test_province_bulletin_lands_in_target_communes(tree, staff):
    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070", "00073"])
    rows = {d.commune.code: d for d in Delivery.objects.filter(bulletin=b)}
    assert set(rows) == {"00070", "00073"}
    assert all(d.status == DeliveryStatus.RECEIVED for d in rows.values())


def test_province_target_expands_to_its_communes_and_zone_to_its_commune(tree, staff):
    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["01"])
    assert set(Delivery.objects.filter(bulletin=b).values_list("commune__code", flat=True)) == {
        "00070",
        "00073",
    }
    z = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070.001"])
    only = Delivery.objects.get(bulletin=z)
    assert only.commune == tree.hoankiem
    assert only.zone_codes == ["00070.001"]


def test_normal_item_accepted_or_declined_by_the_commune(tree, staff):
    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070", "00073"])
    hk = Delivery.objects.get(bulletin=b, commune=tree.hoankiem)
    services.delivery_decline(actor=staff.hk_operator, delivery=hk, reason="Trùng nội dung")
    hk.refresh_from_db()
    assert hk.status == DeliveryStatus.DECLINED
    assert hk.decline_reason == "Trùng nội dung"
    services.delivery_accept(actor=staff.hk_editor, delivery=hk)
    hk.refresh_from_db()
    assert hk.status == DeliveryStatus.ACCEPTED


def test_priority_is_accepted_automatically_and_cannot_be_declined(tree, staff):
    b = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"], priority="priority"
    )
    d = Delivery.objects.get(bulletin=b)
    assert d.status == DeliveryStatus.ACCEPTED
    assert d.decided_by is None
    with pytest.raises(ConflictError):
        services.delivery_decline(actor=staff.hk_editor, delivery=d, reason="Không")


def test_emergency_is_handed_to_the_emergency_path_at_once(
    tree, staff, django_capture_on_commit_callbacks
):
    received = []

    def listener(sender, bulletin, commune_ids, **kwargs):
        received.append((bulletin.pk, commune_ids))

    services.emergency_relayed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            b = published(
                staff.hn_editor,
                staff.hn_approver,
                tree.hanoi,
                targets=["01"],
                priority=Priority.EMERGENCY,
            )
    finally:
        services.emergency_relayed.disconnect(listener)
    rows = Delivery.objects.filter(bulletin=b)
    assert rows.count() == 2
    assert all(d.emergency_at is not None and d.status == DeliveryStatus.ACCEPTED for d in rows)
    assert received == [(b.pk, sorted([tree.hoankiem.pk, tree.cuanam.pk]))]


def test_commune_adapts_a_relayed_bulletin(tree, staff):
    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    d = Delivery.objects.get(bulletin=b)
    copy = services.delivery_adapt(actor=staff.hk_editor, delivery=d)
    assert copy.unit == tree.hoankiem
    assert copy.origin == b
    assert copy.status == Status.DRAFT
    d.refresh_from_db()
    assert d.local_copy == copy


def test_commune_and_one_of_its_zones_relay_the_whole_commune(tree, staff):
    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070", "00070.001"])
    assert Delivery.objects.get(bulletin=b).zone_codes == []


def test_republished_as_emergency_overrides_an_earlier_decline(
    tree, staff, django_capture_on_commit_callbacks
):
    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    d = Delivery.objects.get(bulletin=b)
    services.delivery_decline(actor=staff.hk_editor, delivery=d, reason="Trùng nội dung")
    services.bulletin_withdraw(actor=staff.hn_approver, bulletin=b, reason="Sửa mức ưu tiên")
    services.bulletin_reopen(actor=staff.hn_editor, bulletin=b)
    b.refresh_from_db()
    services.bulletin_update(
        actor=staff.hn_editor, bulletin=b, version=b.version, priority=Priority.EMERGENCY
    )
    services.bulletin_submit(actor=staff.hn_editor, bulletin=b)
    with django_capture_on_commit_callbacks(execute=True):
        services.bulletin_approve(actor=staff.hn_approver, bulletin=b)
    d.refresh_from_db()
    assert d.priority == Priority.EMERGENCY
    assert d.status == DeliveryStatus.ACCEPTED
    assert d.emergency_at is not None
    assert d.decline_reason == ""
    with pytest.raises(ConflictError):
        services.delivery_decline(actor=staff.hk_editor, delivery=d, reason="Không")


def test_withdrawn_bulletin_cannot_be_adapted(tree, staff):
    b = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    d = Delivery.objects.get(bulletin=b)
    services.bulletin_withdraw(actor=staff.hn_approver, bulletin=b, reason="Thông tin sai")
    with pytest.raises(ConflictError):
        services.delivery_adapt(actor=staff.hk_editor, delivery=d)
    d.refresh_from_db()
    assert d.local_copy is None
    assert not Bulletin.objects.filter(origin=b).exists()


def test_republished_with_other_targets_follows_the_new_targets(tree, staff):
    from thongtincoso.audit.models import AuditRecord

    b = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070", "00073", "00070.001"]
    )
    hk = Delivery.objects.get(bulletin=b, commune=tree.hoankiem)
    assert hk.zone_codes == []  # the whole commune was targeted too
    services.bulletin_withdraw(actor=staff.hn_approver, bulletin=b, reason="Đổi nơi nhận")
    services.bulletin_reopen(actor=staff.hn_editor, bulletin=b)
    b.refresh_from_db()
    services.bulletin_update(
        actor=staff.hn_editor, bulletin=b, version=b.version, targets=["00070.001"]
    )
    services.bulletin_submit(actor=staff.hn_editor, bulletin=b)
    services.bulletin_approve(actor=staff.hn_approver, bulletin=b)
    rows = {d.commune.code: d for d in Delivery.objects.filter(bulletin=b)}
    # Cửa Nam is no longer a target: its inbox item is gone; Hoàn Kiếm keeps its item, now
    # for the one zone.
    assert set(rows) == {"00070"}
    assert rows["00070"].pk == hk.pk
    assert rows["00070"].zone_codes == ["00070.001"]
    last = AuditRecord.objects.filter(action="bulletins.bulletin.relay").order_by("-seq").first()
    assert last.after["removed"] == 1
