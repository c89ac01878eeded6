"""The commune inbox page: accept, decline, adapt, and the order of priority items."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from thongtincoso.bulletins.models import Bulletin, Delivery, DeliveryStatus, Status

from .factories import published


@pytest.fixture
def en(client_for: Any) -> Any:
    def make(user: Any) -> Any:
        client = client_for(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


def _html(response: Any) -> str:
    return response.content.decode()


def test_inbox_lists_in_tt39_order_and_filters(tree, staff, en):
    normal = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Tin thường",
        targets=["00070", "00073"],
    )
    urgent = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Tin khẩn cấp",
        targets=["00070"],
        priority="emergency",
    )
    first = published(
        staff.hn_editor,
        staff.hn_approver,
        tree.hanoi,
        title="Tin ưu tiên",
        targets=["00070"],
        priority="priority",
    )
    client = en(staff.hk_operator)

    html = _html(client.get("/bulletins/inbox/"))
    assert html.index(urgent.title) < html.index(first.title) < html.index(normal.title)

    html = _html(client.get("/bulletins/inbox/", {"status": "received"}))
    assert normal.title in html
    assert urgent.title not in html
    # A commune sees only its own inbox; filters out of its scope are ignored, never a 500.
    assert en(staff.cn_editor).get("/bulletins/inbox/", {"commune": "00070"}).status_code == 200
    assert urgent.title not in _html(en(staff.cn_editor).get("/bulletins/inbox/"))
    province = _html(en(staff.hn_editor).get("/bulletins/inbox/", {"commune": "00073"}))
    assert normal.title in province
    assert urgent.title not in province


def test_accept_with_air_from_and_decline_with_reason(tree, staff, en):
    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    delivery = Delivery.objects.get(bulletin=bulletin)
    client = en(staff.hk_operator)

    response = client.post(f"/bulletins/inbox/{delivery.pk}/decline/", {"reason": " "}, follow=True)
    assert "Give the reason for declining." in _html(response)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RECEIVED

    client.post(f"/bulletins/inbox/{delivery.pk}/decline/", {"reason": "Trùng nội dung"})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.decline_reason) == (DeliveryStatus.DECLINED, "Trùng nội dung")

    response = client.post(
        f"/bulletins/inbox/{delivery.pk}/accept/", {"air_from": "bad"}, follow=True
    )
    assert "Enter a date and time" in _html(response)
    response = client.post(
        f"/bulletins/inbox/{delivery.pk}/accept/",
        {"air_from": "2026-04-20T18:00", "next": "/bulletins/inbox/?status=accepted"},
    )
    assert response["Location"] == "/bulletins/inbox/?status=accepted"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.ACCEPTED
    assert delivery.air_from.isoformat() == "2026-04-20T11:00:00+00:00"


def test_inbox_actions_refused_out_of_scope_or_without_the_right(tree, staff, en, make_user):
    from thongtincoso.accounts.roles import Role

    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    delivery = Delivery.objects.get(bulletin=bulletin)
    for action in ("accept", "decline", "adapt", "move/up"):
        url = f"/bulletins/inbox/{delivery.pk}/{action}/"
        assert en(staff.cn_editor).post(url, {"reason": "x"}).status_code == 404, action
    viewer = en(make_user("hk_viewer", tree.hoankiem, role=Role.VIEWER))
    response = viewer.post(f"/bulletins/inbox/{delivery.pk}/decline/", {"reason": "x"}, follow=True)
    assert "not allowed to decide" in _html(response)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RECEIVED
    assert en(staff.hk_operator).post("/bulletins/inbox/abc/accept/").status_code == 404
    assert (
        en(staff.hk_operator).post(f"/bulletins/inbox/{delivery.pk}/move/sideways/").status_code
        == 404
    )


def test_adapt_makes_a_local_draft_and_opens_it(tree, staff, en):
    origin = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, title="Tin của thành phố", targets=["00070"]
    )
    delivery = Delivery.objects.get(bulletin=origin)
    client = en(staff.hk_editor)

    response = client.post(f"/bulletins/inbox/{delivery.pk}/adapt/")

    copy = Bulletin.objects.get(origin=origin)
    assert response["Location"] == f"/bulletins/{copy.pk}/edit/"
    assert (copy.unit, copy.status) == (tree.hoankiem, Status.DRAFT)
    page = _html(client.get(response["Location"]))
    assert "Local adaptation of" in page
    again = client.post(f"/bulletins/inbox/{delivery.pk}/adapt/", follow=True)
    assert "already has a local adaptation" in _html(again)
    # The operator may decide but not write: no adapt button for them.
    assert f"/bulletins/inbox/{delivery.pk}/adapt/" not in _html(
        en(staff.hk_operator).get("/bulletins/inbox/")
    )


def test_priority_items_move_up_and_down(tree, staff, en):
    items = [
        published(
            staff.hn_editor,
            staff.hn_approver,
            tree.hanoi,
            title=f"Ưu tiên {n}",
            targets=["00070"],
            priority="priority",
        )
        for n in (1, 2, 3)
    ]
    client = en(staff.hk_operator)
    html = _html(client.get("/bulletins/inbox/"))
    order = sorted(items, key=lambda b: html.index(b.title))
    last = Delivery.objects.get(bulletin=order[-1])

    response = client.post(f"/bulletins/inbox/{last.pk}/move/up/")
    assert response.status_code == 302

    html = _html(client.get("/bulletins/inbox/"))
    now = sorted(items, key=lambda b: html.index(b.title))
    assert [b.pk for b in now] == [order[0].pk, order[2].pk, order[1].pk]
    positions = dict(Delivery.objects.values_list("bulletin_id", "position"))
    assert positions[order[2].pk] == 2

    client.post(f"/bulletins/inbox/{Delivery.objects.get(bulletin=order[0]).pk}/move/up/")
    html = _html(client.get("/bulletins/inbox/"))
    assert [b.pk for b in sorted(items, key=lambda b: html.index(b.title))] == [
        b.pk for b in now
    ]  # the first cannot go higher


def test_menu_counts_relayed_items_waiting_for_a_decision(tree, staff, client_for):
    from thongtincoso.bulletins import services
    from thongtincoso.bulletins.models import Delivery

    from .factories import published

    published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070", "00073"])
    published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"], priority="priority"
    )
    page = client_for(staff.hk_editor).get("/bulletins/").content.decode()
    # One normal item waits in Hoàn Kiếm; the priority one was accepted automatically.
    assert 'data-testid="inbox-count">1<' in page
    province = client_for(staff.hn_editor).get("/bulletins/").content.decode()
    assert 'data-testid="inbox-count">2<' in province  # both communes are below Hà Nội
    waiting = Delivery.objects.get(commune=tree.hoankiem, priority="normal")
    services.delivery_accept(actor=staff.hk_editor, delivery=waiting)
    page = client_for(staff.hk_editor).get("/bulletins/").content.decode()
    assert 'data-testid="inbox-count"' not in page


def test_accept_with_an_implausible_air_time_is_refused_not_a_500(tree, staff, en):
    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    delivery = Delivery.objects.get(bulletin=bulletin)
    response = en(staff.hk_editor).post(
        f"/bulletins/inbox/{delivery.pk}/accept/", {"air_from": "0001-01-01T00:00"}, follow=True
    )
    assert response.status_code == 200
    assert "between the years 2000 and 2099" in _html(response)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RECEIVED
