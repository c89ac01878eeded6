"""/api/v1/bulletins, /inbox, /categories, /languages: scope, validation, workflow, relay."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import api_token_for
from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Delivery, DeliveryStatus, Status

from .factories import draft, published

CATEGORY = "kien-thuc-san-xuat-doi-song"
VN = dt.timezone(dt.timedelta(hours=7))


class Api:
    """A JSON client acting with one person's personal token."""

    def __init__(self, user: User | None) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.headers = {"Authorization": f"Bearer {api_token_for(user)}"} if user else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        return self.client.post(
            f"/api/v1{path}", data=data, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            f"/api/v1{path}",
            data=json.dumps(body),
            content_type="application/json",
            headers=self.headers,
        )


@pytest.fixture
def as_user(db: Any) -> Any:
    return Api


def _new(**fields: Any) -> dict[str, Any]:
    return {"unit": "00070", "title": "Lịch tiêm chủng", "category": CATEGORY, **fields}


# --- Reference lists --------------------------------------------------------------------------


def test_categories_and_languages_are_public(db):
    client = Client()
    categories = client.get("/api/v1/categories")
    assert categories.status_code == 200
    assert CATEGORY in [c["code"] for c in categories.json()]
    languages = client.get("/api/v1/languages").json()
    assert languages[0] == {"code": "vi", "name": "Tiếng Việt"}


def test_inactive_category_is_neither_listed_nor_accepted(tree, staff, as_user):
    from thongtincoso.bulletins.models import Category

    Category.objects.filter(code=CATEGORY).update(is_active=False)
    assert CATEGORY not in [c["code"] for c in Client().get("/api/v1/categories").json()]
    response = as_user(staff.hk_editor).post("/bulletins", _new())
    assert response.status_code == 400
    assert response.json()["field"] == "category"


# --- Authentication and scope -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/bulletins"),
        ("get", "/bulletins/1"),
        ("post", "/bulletins"),
        ("post", "/bulletins/1/submit"),
        ("get", "/inbox"),
        ("post", "/inbox/1/accept"),
    ],
)
def test_anonymous_caller_is_401(db, method, path):
    client = Client()
    response = getattr(client, method)(f"/api/v1{path}")
    assert response.status_code == 401


def test_list_shows_only_bulletins_in_scope(tree, staff, as_user):
    mine = draft(staff.hk_editor, tree.hoankiem, title="Phường Hoàn Kiếm")
    draft(staff.cn_editor, tree.cuanam, title="Phường Cửa Nam")
    province = draft(staff.hn_editor, tree.hanoi, title="Thành phố")

    commune = as_user(staff.hk_editor).get("/bulletins").json()
    assert [b["id"] for b in commune["items"]] == [mine.pk]
    assert commune["count"] == 1
    item = commune["items"][0]
    assert item["unit"] == "00070"
    assert item["category"] == CATEGORY
    assert item["language"] == "vi"
    assert item["status"] == "draft"
    assert item["version"] == 1
    assert "body" not in item  # the list is light; the detail carries the text

    whole = as_user(staff.hn_editor).get("/bulletins").json()
    assert {b["id"] for b in whole["items"]} == {
        mine.pk,
        province.pk,
        Bulletin.objects.get(title="Phường Cửa Nam").pk,
    }


def test_list_filters(tree, staff, as_user):
    a = draft(staff.hn_editor, tree.hanoi, title="Phòng chống bão số 3", priority="emergency")
    b = draft(staff.hn_editor, tree.hoankiem, title="Lịch tiêm chủng", summary="trẻ em")
    services.bulletin_submit(actor=staff.hn_editor, bulletin=b)
    api = as_user(staff.hn_editor)

    def ids(**params: Any) -> set[int]:
        response = api.get("/bulletins", **params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["items"]}

    assert ids(status="submitted") == {b.pk}
    assert ids(priority="emergency") == {a.pk}
    assert ids(unit="00070") == {b.pk}
    assert ids(unit="01") == {a.pk, b.pk}
    assert ids(unit="99") == set()
    assert ids(q="tiêm") == {b.pk}
    assert ids(category=CATEGORY) == {a.pk, b.pk}
    assert ids(category="khong-co") == set()
    assert ids(source="own") == {a.pk, b.pk}
    assert ids(source="adapted") == set()
    today = dt.datetime.now(VN).date()
    assert ids(date_from=today.isoformat(), date_to=today.isoformat()) == {a.pk, b.pk}
    assert ids(date_to=(today - dt.timedelta(days=1)).isoformat()) == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"source": "theirs"}, "source"),
        ({"date_from": "hôm qua"}, "date_from"),
        ({"date_from": "0001-01-01"}, "date_from"),
        ({"date_to": "9999-12-31"}, "date_to"),
        ({"q": "x" * 201}, "q"),
        ({"unit": "0" * 41}, "unit"),
        ({"page": "0"}, "page"),
        ({"page": str(10**20)}, "page"),
        ({"page_size": "100000"}, "page_size"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_field(tree, staff, as_user, params, field):
    response = as_user(staff.hk_editor).get("/bulletins", **params)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_list_costs_the_same_queries_for_one_row_or_many(tree, staff, as_user):
    api = as_user(staff.hk_editor)
    draft(staff.hk_editor, tree.hoankiem)
    api.get("/bulletins")  # warm up: token lookup caches, translations
    with CaptureQueriesContext(connection) as one:
        api.get("/bulletins")
    for n in range(5):
        draft(staff.hk_editor, tree.hoankiem, title=f"Tin {n}", language="vi")
    with CaptureQueriesContext(connection) as six:
        assert api.get("/bulletins").json()["count"] == 6
    assert len(six.captured_queries) == len(one.captured_queries)


def test_detail_and_out_of_scope_is_404(tree, staff, as_user):
    bulletin = draft(
        staff.hk_editor,
        tree.hoankiem,
        body="<p>Tiêm chủng ngày 20/4.</p>",
        tags=["y tế"],
        targets=["00070.001"],
    )
    body = as_user(staff.hk_editor).get(f"/bulletins/{bulletin.pk}").json()
    assert body["body"] == "<p>Tiêm chủng ngày 20/4.</p>"
    assert body["reading_text"] == "Tiêm chủng ngày 20/4."
    assert body["reading_text_edited"] is False
    assert body["targets"] == ["00070.001"]
    assert body["tags"] == ["y tế"]
    assert body["author"] == "hk_editor"
    assert body["approved_by"] is None
    assert body["origin"] is None
    assert body["allowed_transitions"] == ["submit"]
    assert body["spoken_seconds"] > 0
    # The province's approver sees it and may approve nothing yet; the neighbour sees nothing.
    assert (
        as_user(staff.hn_approver).get(f"/bulletins/{bulletin.pk}").json()["allowed_transitions"]
        == []
    )
    for path in (
        f"/bulletins/{bulletin.pk}",
        f"/bulletins/{bulletin.pk}/revisions",
        f"/bulletins/{bulletin.pk}/deliveries",
    ):
        assert as_user(staff.cn_editor).get(path).status_code == 404
    for path in ("/bulletins/0", "/bulletins/-1", f"/bulletins/{10**30}", "/bulletins/999999"):
        assert as_user(staff.hk_editor).get(path).status_code == 404
    assert as_user(staff.hk_editor).get("/bulletins/abc").status_code == 422


# --- Creating -----------------------------------------------------------------------------------


def test_create_a_draft(tree, staff, as_user):
    response = as_user(staff.hk_editor).post(
        "/bulletins",
        _new(
            body='<p onclick="x()">Xin <b>chào</b><script>alert(1)</script></p>',
            summary="Tóm tắt",
            priority="priority",
            channels=["radio", "eboard"],
            valid_from="2026-12-01T07:30:00+07:00",
            valid_until="2026-12-02T07:30:00Z",
            targets=["00070.001"],
            tags=["y tế", "trẻ em"],
            source_note="Trạm y tế phường",
        ),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["body"] == "<p>Xin <b>chào</b></p>"
    assert body["reading_text"] == "Xin chào"
    assert body["priority"] == "priority"
    assert body["channels"] == ["radio", "eboard"]
    assert body["targets"] == ["00070.001"]
    assert sorted(body["tags"]) == ["trẻ em", "y tế"]
    assert body["allowed_transitions"] == ["submit"]
    bulletin = Bulletin.objects.get(pk=body["id"])
    assert bulletin.valid_from == dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)
    assert bulletin.valid_until == dt.datetime(2026, 12, 2, 7, 30, tzinfo=dt.UTC)
    assert AuditRecord.objects.filter(action="bulletins.bulletin.create").count() == 1


def test_times_without_offset_are_vietnam_time(tree, staff, as_user):
    response = as_user(staff.hk_editor).post(
        "/bulletins", _new(valid_from="2026-12-01T07:30:00", valid_until="2026-12-01 19:00")
    )
    assert response.status_code == 201, response.content
    bulletin = Bulletin.objects.get(pk=response.json()["id"])
    assert bulletin.valid_from == dt.datetime(2026, 12, 1, 7, 30, tzinfo=VN)
    assert bulletin.valid_until == dt.datetime(2026, 12, 1, 19, 0, tzinfo=VN)


def test_create_out_of_scope_or_without_edit_is_404(tree, staff, as_user, make_user):
    assert as_user(staff.cn_editor).post("/bulletins", _new()).status_code == 404
    viewer = make_user("viewer", tree.hoankiem, role=Role.VIEWER)
    assert as_user(viewer).post("/bulletins", _new()).status_code == 404
    assert as_user(staff.hk_editor).post("/bulletins", _new(unit="99")).status_code == 404
    assert not Bulletin.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"title": ["a"]}, "title"),
        ({"category": {"code": "x"}}, "category"),
        ({"summary": "x" * 501}, "summary"),
        ({"body": "x" * 200_001}, "body"),
        ({"channels": "radio"}, "channels"),
        ({"channels": ["radio"] * 11}, "channels"),
        ({"valid_from": "mai"}, "valid_from"),
        ({"valid_from": "0001-01-01T00:00:00"}, "valid_from"),
        ({"valid_until": "9999-12-31T23:59:59"}, "valid_until"),
        ({"valid_from": 10**30}, "valid_from"),
        ({"targets": "00070"}, "targets"),
        ({"tags": ["x" * 51]}, "0"),
        ({"unit": 70}, "unit"),
        ({"priority": 1}, "priority"),
    ],
)
def test_malformed_input_is_422_naming_the_field(tree, staff, as_user, change, field):
    response = as_user(staff.hk_editor).post("/bulletins", {**_new(), **change})
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert not Bulletin.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "   "}, "title"),
        ({"category": "khong-co"}, "category"),
        ({"language": "xx"}, "language"),
        ({"channels": []}, "channels"),
        ({"channels": ["fax"]}, "channels"),
        ({"priority": "urgent"}, "priority"),
        ({"targets": ["00073"]}, "targets"),  # the neighbouring commune
        ({"targets": ["01"]}, "targets"),  # the province above
        ({"tags": [f"t{n}" for n in range(11)]}, "tags"),
        (
            {"valid_from": "2026-12-02T00:00:00+07:00", "valid_until": "2026-12-01T00:00:00+07:00"},
            "valid_until",
        ),
    ],
)
def test_invalid_values_are_400_naming_the_field(tree, staff, as_user, change, field):
    response = as_user(staff.hk_editor).post("/bulletins", {**_new(), **change})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert response.json()["detail"]
    assert not Bulletin.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b'"x"', b"null", b'{"title": "\\ud800"}', json.dumps(_new()).encode() * 2],
)
def test_broken_json_is_a_client_error(tree, staff, as_user, raw):
    api = as_user(staff.hk_editor)
    response = api.client.post(
        "/api/v1/bulletins", data=raw, content_type="application/json", headers=api.headers
    )
    assert 400 <= response.status_code < 500


# --- Editing ------------------------------------------------------------------------------------


def test_patch_changes_only_what_is_sent_and_needs_the_version(tree, staff, as_user):
    bulletin = draft(staff.hk_editor, tree.hoankiem, summary="Cũ", tags=["y tế"])
    api = as_user(staff.hk_editor)
    missing = api.patch(f"/bulletins/{bulletin.pk}", {"title": "Mới"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "version"

    response = api.patch(f"/bulletins/{bulletin.pk}", {"version": 1, "title": "Mới"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Mới"
    assert body["summary"] == "Cũ"
    assert body["tags"] == ["y tế"]
    assert body["version"] == 2

    stale = api.patch(f"/bulletins/{bulletin.pk}", {"version": 1, "title": "Khác"})
    assert stale.status_code == 409
    assert stale.json()["detail"]
    assert Bulletin.objects.get(pk=bulletin.pk).title == "Mới"

    cleared = api.patch(
        f"/bulletins/{bulletin.pk}", {"version": 2, "valid_until": None, "reading_text": "Đọc"}
    )
    assert cleared.status_code == 200
    assert cleared.json()["reading_text"] == "Đọc"
    assert cleared.json()["reading_text_edited"] is True
    assert bulletin.revisions.count() == 3


def test_patch_refusals(tree, staff, as_user, make_user):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    viewer = make_user("viewer", tree.hoankiem, role=Role.VIEWER)
    path = f"/bulletins/{bulletin.pk}"
    assert as_user(viewer).patch(path, {"version": 1, "title": "X"}).status_code == 403
    assert as_user(staff.cn_editor).patch(path, {"version": 1, "title": "X"}).status_code == 404
    bad = as_user(staff.hk_editor).patch(path, {"version": 1, "category": "khong-co"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "category"
    assert as_user(staff.hk_editor).patch(path, {"version": 0}).status_code == 422
    assert as_user(staff.hk_editor).patch(path, {"version": 10**30}).status_code == 422
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    locked = as_user(staff.hk_editor).patch(path, {"version": 1, "title": "X"})
    assert locked.status_code == 409
    assert Bulletin.objects.get(pk=bulletin.pk).title == "Thông báo lịch tiêm chủng"


def test_revisions_newest_first(tree, staff, as_user):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_update(actor=staff.hk_editor, bulletin=bulletin, version=1, title="Hai")
    body = as_user(staff.hk_editor).get(f"/bulletins/{bulletin.pk}/revisions").json()
    assert [r["number"] for r in body["items"]] == [2, 1]
    assert body["items"][0]["title"] == "Hai"
    assert body["items"][0]["author"] == "hk_editor"
    assert body["items"][0]["details"]["category"] == CATEGORY


# --- The workflow over HTTP ---------------------------------------------------------------------


def test_draft_to_published_over_http(tree, staff, as_user):
    editor, leader = as_user(staff.hk_editor), as_user(staff.hk_approver)
    created = editor.post("/bulletins", _new()).json()
    path = f"/bulletins/{created['id']}"
    submitted = editor.post(f"{path}/submit")
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "submitted"
    assert leader.get(path).json()["allowed_transitions"] == ["approve", "return"]
    approved = leader.post(f"{path}/approve", {"comment": "Đồng ý"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "published"  # valid now: published at once
    assert approved.json()["approved_by"] == "hk_approver"
    assert approved.json()["published_at"]
    withdrawn = leader.post(f"{path}/withdraw", {"reason": "Sai ngày"})
    assert withdrawn.json()["status"] == "withdrawn"
    assert editor.post(f"{path}/reopen").json()["status"] == "draft"


def test_transition_bodies_are_validated(tree, staff, as_user):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=bulletin)
    leader = as_user(staff.hk_approver)
    path = f"/bulletins/{bulletin.pk}"
    assert leader.post(f"{path}/return", {"comment": "x" * 2001}).status_code == 422
    assert leader.post(f"{path}/return", {"comment": 5}).status_code == 422
    assert leader.post(f"{path}/return", {"comment": " \n "}).json()["field"] == "comment"
    assert leader.post(f"{path}/return", {"comment": "Sửa ngày"}).json()["status"] == "returned"


# --- Relay: status lines and the inbox ----------------------------------------------------------


def test_deliveries_of_a_province_bulletin(tree, staff, as_user):
    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["01"])
    hk = Delivery.objects.get(bulletin=bulletin, commune=tree.hoankiem)
    services.delivery_decline(actor=staff.hk_editor, delivery=hk, reason="Trùng lịch")
    body = as_user(staff.hn_editor).get(f"/bulletins/{bulletin.pk}/deliveries").json()
    assert body["count"] == 2
    assert body["summary"] == {
        "received": 1,
        "accepted": 0,
        "declined": 1,
        "scheduled": 0,
        "aired": 0,
    }
    lines = {line["commune"]: line for line in body["items"]}
    assert lines["00070"]["status"] == "declined"
    assert lines["00070"]["decline_reason"] == "Trùng lịch"
    assert lines["00070"]["decided_by"] == "hk_editor"
    assert lines["00073"]["status"] == "received"
    page = as_user(staff.hn_editor).get(f"/bulletins/{bulletin.pk}/deliveries", page=2, page_size=1)
    assert [line["commune"] for line in page.json()["items"]] == ["00073"]
    # A commune cannot read the province's bulletin, only its own inbox item.
    assert as_user(staff.hk_editor).get(f"/bulletins/{bulletin.pk}/deliveries").status_code == 404


def test_inbox_lists_relayed_items_in_airing_order(tree, staff, as_user):
    normal = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["01"])
    emergency = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"], priority="emergency"
    )
    hk = as_user(staff.hk_editor)
    body = hk.get("/inbox").json()
    assert [item["bulletin"]["id"] for item in body["items"]] == [emergency.pk, normal.pk]
    first = body["items"][0]
    assert first["commune"] == "00070"
    assert first["status"] == "accepted"
    assert first["bulletin"]["unit"] == "01"
    assert first["bulletin"]["priority"] == "emergency"
    assert first["emergency_at"]
    assert [i["bulletin"]["id"] for i in hk.get("/inbox", status="received").json()["items"]] == [
        normal.pk
    ]
    # The province sees both communes' items; a commune filter narrows; out of scope is 404.
    province = as_user(staff.hn_editor)
    assert province.get("/inbox").json()["count"] == 3
    assert province.get("/inbox", commune="00073").json()["count"] == 1
    assert hk.get("/inbox", commune="00073").status_code == 404
    assert hk.get("/inbox", status="lost").status_code == 422


def test_inbox_decisions(tree, staff, as_user, make_user):
    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    item = Delivery.objects.get(bulletin=bulletin)
    hk = as_user(staff.hk_operator)

    missing = hk.post(f"/inbox/{item.pk}/decline", {})
    assert missing.status_code == 422
    assert missing.json()["field"] == "reason"
    blank = hk.post(f"/inbox/{item.pk}/decline", {"reason": "  "})
    assert blank.status_code == 400
    assert blank.json()["field"] == "reason"
    declined = hk.post(f"/inbox/{item.pk}/decline", {"reason": "Trùng lịch"})
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"

    accepted = hk.post(f"/inbox/{item.pk}/accept", {"air_from": "2026-12-01T18:00:00"})
    assert accepted.status_code == 200, accepted.content
    item.refresh_from_db()
    assert item.status == DeliveryStatus.ACCEPTED
    assert item.air_from == dt.datetime(2026, 12, 1, 18, 0, tzinfo=VN)
    assert hk.post(f"/inbox/{item.pk}/accept").status_code == 200  # no body: air when planned

    viewer = make_user("viewer", tree.hoankiem, role=Role.VIEWER)
    assert as_user(viewer).post(f"/inbox/{item.pk}/accept").status_code == 403
    assert as_user(staff.cn_editor).post(f"/inbox/{item.pk}/accept").status_code == 404
    assert hk.post(f"/inbox/{10**30}/accept").status_code == 404
    assert hk.post("/inbox/999999/decline", {"reason": "x"}).status_code == 404


def test_priority_item_cannot_be_declined_and_is_reordered(tree, staff, as_user):
    first = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"], priority="priority"
    )
    second = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"], priority="priority"
    )
    a = Delivery.objects.get(bulletin=first)
    b = Delivery.objects.get(bulletin=second)
    hk = as_user(staff.hk_editor)
    assert hk.post(f"/inbox/{a.pk}/decline", {"reason": "Không"}).status_code == 409

    response = hk.post("/inbox/reorder", {"commune": "00070", "ids": [a.pk, b.pk]})
    assert response.status_code == 200, response.content
    assert response.json() == {"commune": "00070", "count": 2}
    assert [i["id"] for i in hk.get("/inbox").json()["items"]] == [a.pk, b.pk]
    hk.post("/inbox/reorder", {"commune": "00070", "ids": [b.pk, a.pk]})
    assert [i["id"] for i in hk.get("/inbox").json()["items"]] == [b.pk, a.pk]

    assert hk.post("/inbox/reorder", {"commune": "00070", "ids": [a.pk, 999]}).status_code == 400
    assert hk.post("/inbox/reorder", {"commune": "00073", "ids": [a.pk]}).status_code == 404
    huge = hk.post("/inbox/reorder", {"commune": "00070", "ids": [10**30]})
    assert huge.status_code == 422
    assert huge.json()["field"] in ("0", "ids")


def test_reorder_by_a_viewer_is_403(tree, staff, as_user, make_user):
    bulletin = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"], priority="priority"
    )
    item = Delivery.objects.get(bulletin=bulletin)
    viewer = make_user("viewer", tree.hoankiem, role=Role.VIEWER)
    response = as_user(viewer).post("/inbox/reorder", {"commune": "00070", "ids": [item.pk]})
    assert response.status_code == 403
    assert not AuditRecord.objects.filter(action="bulletins.delivery.reorder").exists()


def test_adapt_makes_a_local_draft(tree, staff, as_user):
    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070.001"])
    item = Delivery.objects.get(bulletin=bulletin)
    hk = as_user(staff.hk_editor)
    response = hk.post(f"/inbox/{item.pk}/adapt")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["unit"] == "00070"
    assert body["status"] == "draft"
    assert body["origin"] == bulletin.pk
    assert body["targets"] == ["00070.001"]
    assert body["author"] == "hk_editor"
    assert hk.post(f"/inbox/{item.pk}/adapt").status_code == 409
    assert as_user(staff.hk_operator).post(f"/inbox/{item.pk}/adapt").status_code == 403
    assert hk.get("/bulletins", source="adapted").json()["items"][0]["id"] == body["id"]


def test_inbox_hides_items_of_bulletins_no_longer_published(tree, staff, as_user):
    bulletin = published(staff.hn_editor, staff.hn_approver, tree.hanoi, targets=["00070"])
    services.bulletin_withdraw(actor=staff.hn_approver, bulletin=bulletin, reason="Sai")
    assert as_user(staff.hk_editor).get("/inbox").json()["count"] == 0
    assert Bulletin.objects.get(pk=bulletin.pk).status == Status.WITHDRAWN
