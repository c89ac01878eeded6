"""/api/v1/units: the public tree, and edits with a personal API token scoped by the policy."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create, api_token_revoke
from thongtincoso.audit.models import AuditRecord
from thongtincoso.units.models import Unit, UnitKind


@pytest.fixture
def api() -> Client:
    # Real API clients do not get Django's test-client CSRF exemption.
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def editor_token(tree, make_user):
    """An editor of commune 00070 (Phường Hoàn Kiếm) and their raw token."""
    editor = make_user("editor70", tree.hoankiem, role=Role.EDITOR)
    token, raw = api_token_create(actor=editor, user=editor, name="script")
    return editor, token, raw


def vi(msgid: str) -> str:
    """The Vietnamese text of a source message, checked to be translated."""
    with translation.override("vi"):
        text = gettext(msgid)
    assert text != msgid, f"no Vietnamese translation for {msgid!r}"
    return text


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def _patch(api: Client, code: str, body: dict, raw: str | None = None):
    headers = _bearer(raw) if raw else {}
    return api.patch(
        f"/api/v1/units/{code}",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def _post_zone(api: Client, code: str, body: dict, raw: str | None = None):
    headers = _bearer(raw) if raw else {}
    return api.post(
        f"/api/v1/units/{code}/zones",
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


# --- Public reads ---------------------------------------------------------------------------


def test_unit_detail_is_public_json(tree, api):
    response = api.get("/api/v1/units/01")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "01"
    assert body["name"] == "Thành phố Hà Nội"
    assert body["type"] == "Thành phố"
    assert body["parent"] == {"code": "VN", "name": "Việt Nam"}

    commune = api.get("/api/v1/units/00070").json()
    assert commune["code"] == "00070"  # leading zeros kept
    assert commune["type"] == "Phường"
    assert commune["parent"]["code"] == "01"

    assert api.get("/api/v1/units/VN").json()["parent"] is None


def test_children_of_nation_are_the_provinces(tree, api):
    response = api.get("/api/v1/units/VN/children")
    assert response.status_code == 200
    body = response.json()
    codes = [item["code"] for item in body["items"]]
    assert codes == ["01", "79"]
    assert body["count"] == 2
    assert {item["parent"]["code"] for item in body["items"]} == {"VN"}

    communes = api.get("/api/v1/units/01/children").json()
    assert [item["code"] for item in communes["items"]] == ["00070", "00073"]


@pytest.mark.parametrize(
    "path", ["/api/v1/units/99", "/api/v1/units/99/children", "/api/v1/units/0070"]
)
def test_unknown_unit_is_json_404(tree, api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"] == vi("Not found.")


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/units/01/nope/deeper"])
def test_unknown_api_path_is_json_404(tree, api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


def test_retired_units_are_not_served_publicly(tree, api):
    Unit.objects.filter(pk=tree.zone.pk).update(valid_to=dt.date(2025, 8, 1))

    assert api.get("/api/v1/units/00070.001").status_code == 404
    children = api.get("/api/v1/units/00070/children").json()
    assert children["items"] == []
    assert children["count"] == 0
    # A retired parent has no public children either.
    assert api.get("/api/v1/units/00070.001/children").status_code == 404


# --- Authenticated edits --------------------------------------------------------------------


def test_editor_patches_agency_names_of_own_unit(tree, api, editor_token):
    editor, _token, raw = editor_token
    response = _patch(
        api,
        "00070",
        {
            "committee_name": "  UBND phường Hoàn Kiếm  ",
            "department_name": "Phòng Văn hóa - Xã hội",
        },
        raw,
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["committee_name"] == "UBND phường Hoàn Kiếm"
    assert body["department_name"] == "Phòng Văn hóa - Xã hội"
    tree.hoankiem.refresh_from_db()
    assert tree.hoankiem.committee_name == "UBND phường Hoàn Kiếm"
    record = AuditRecord.objects.get(action="units.unit.update")
    assert record.actor_id == editor.pk
    assert record.unit_code == "00070"


def test_editor_adds_zone_to_own_commune(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _post_zone(api, "00070", {"name": "Phúc Tân", "type_name": "Tổ dân phố"}, raw)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Tổ dân phố Phúc Tân"
    assert body["parent"]["code"] == "00070"
    assert body["kind"] == UnitKind.ZONE
    zone = Unit.objects.get(code=body["code"])
    assert zone.parent_id == tree.hoankiem.pk
    assert zone.is_descendant_of(tree.hoankiem)
    # The public API serves the new zone at once.
    assert api.get(f"/api/v1/units/{body['code']}").status_code == 200


@pytest.mark.parametrize("code", ["00073", "01", "79", "26734"])
def test_edits_outside_scope_answer_404(tree, api, editor_token, code):
    _editor, _token, raw = editor_token
    before = Unit.objects.get(code=code).committee_name

    patch = _patch(api, code, {"committee_name": "Không được sửa"}, raw)
    assert patch.status_code == 404
    assert patch.json()["detail"]

    zone = _post_zone(api, code, {"name": "Không được thêm"}, raw)
    assert zone.status_code == 404

    assert Unit.objects.get(code=code).committee_name == before
    assert not Unit.objects.filter(name__contains="Không được thêm").exists()
    assert not AuditRecord.objects.filter(action__startswith="units.").exists()


def test_edits_without_auth_answer_401(tree):
    # Django's test client without CSRF checks; test_..._for_real_clients covers real ones.
    client = Client()
    patch = _patch(client, "00070", {"committee_name": "x"})
    assert patch.status_code == 401
    assert patch.json()["detail"] == vi("Authentication required: log in or send an API token.")
    assert _post_zone(client, "00070", {"name": "x"}).status_code == 401
    assert client.get("/api/v1/units/00070/access").status_code == 401
    assert not AuditRecord.objects.filter(action__startswith="units.").exists()


def test_edits_without_auth_answer_401_for_real_clients(tree, api):
    assert _patch(api, "00070", {"committee_name": "x"}).status_code == 401
    assert _post_zone(api, "00070", {"name": "x"}).status_code == 401


def test_bad_token_answers_401(tree, api, editor_token):
    _editor, _token, raw = editor_token
    assert api.get("/api/v1/units/00070/access", headers=_bearer(raw)).status_code == 200
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    assert api.get("/api/v1/units/00070/access", headers=_bearer(forged)).status_code == 401
    assert (
        api.get("/api/v1/units/00070/access", headers=_bearer("ttcs_nothing_here")).status_code
        == 401
    )


def test_revoked_token_answers_401(tree, api, editor_token):
    editor, token, raw = editor_token
    assert _patch(api, "00070", {"committee_name": "Lần một"}, raw).status_code == 200
    api_token_revoke(actor=editor, token=token)

    assert api.get("/api/v1/units/00070/access", headers=_bearer(raw)).status_code == 401
    tree.hoankiem.refresh_from_db()
    assert tree.hoankiem.committee_name == "Lần một"


def test_revoked_token_on_unsafe_methods_answers_401(tree, api, editor_token):
    editor, token, raw = editor_token
    api_token_revoke(actor=editor, token=token)
    response = _patch(api, "00070", {"committee_name": "Lần hai"}, raw)
    assert response.status_code == 401
    assert _post_zone(api, "00070", {"name": "Phúc Tân"}, raw).status_code == 401


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_zone_name_is_refused_with_a_message(tree, api, editor_token, name):
    _editor, _token, raw = editor_token
    zones_before = Unit.objects.filter(kind=UnitKind.ZONE).count()

    response = _post_zone(api, "00070", {"name": name}, raw)

    assert response.status_code in (400, 422)
    body = response.json()
    assert body["detail"]
    assert body.get("field") == "name"
    assert Unit.objects.filter(kind=UnitKind.ZONE).count() == zones_before
    assert not AuditRecord.objects.filter(action="units.zone.create").exists()


def test_zone_payload_missing_name_is_422(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _post_zone(api, "00070", {"type_name": "Thôn"}, raw)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"]
    assert body["errors"]


def test_unknown_zone_type_is_refused(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _post_zone(api, "00070", {"name": "Số 9", "type_name": "Quận"}, raw)
    assert response.status_code == 400
    assert response.json()["field"] == "type_name"
    assert not Unit.objects.filter(name__contains="Số 9").exists()


def test_duplicate_zone_name_is_refused(tree, api, editor_token):
    _editor, _token, raw = editor_token
    # The fixture's zone is "Tổ dân phố số 1"; the same name is refused.
    response = _post_zone(api, "00070", {"name": "số 1", "type_name": "Tổ dân phố"}, raw)
    assert response.status_code == 400
    assert "Tổ dân phố số 1" in response.json()["detail"]
    assert Unit.objects.filter(parent=tree.hoankiem, kind=UnitKind.ZONE).count() == 1


def test_duplicate_zone_name_in_other_case_is_refused(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _post_zone(api, "00070", {"name": "TỔ DÂN PHỐ SỐ 1", "type_name": "Tổ dân phố"}, raw)
    assert response.status_code == 400
    assert Unit.objects.filter(parent=tree.hoankiem, kind=UnitKind.ZONE).count() == 1


def test_zone_cannot_be_added_below_a_zone(tree, api, editor_token):
    _editor, _token, raw = editor_token
    # The zone is in the editor's scope, but zones belong to communes only.
    response = _post_zone(api, "00070.001", {"name": "Con"}, raw)
    assert response.status_code in (400, 404)
    assert not Unit.objects.filter(parent=tree.zone).exists()


def test_official_name_change_is_refused(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _patch(api, "00070", {"name": "Phường Hồ Gươm"}, raw)

    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "name"
    assert body["detail"] == vi(
        "Official unit names come from the national list and cannot be changed here."
    )
    tree.hoankiem.refresh_from_db()
    assert tree.hoankiem.name == "Phường Hoàn Kiếm"
    assert not AuditRecord.objects.filter(action="units.unit.update").exists()


def test_zone_name_can_be_changed_but_not_emptied(tree, api, editor_token):
    _editor, _token, raw = editor_token
    ok = _patch(api, "00070.001", {"name": "Tổ dân phố số 1A"}, raw)
    assert ok.status_code == 200
    assert ok.json()["name"] == "Tổ dân phố số 1A"

    empty = _patch(api, "00070.001", {"name": "  "}, raw)
    assert empty.status_code == 400
    assert empty.json()["field"] == "name"
    tree.zone.refresh_from_db()
    assert tree.zone.name == "Tổ dân phố số 1A"


def test_wrong_type_in_patch_is_422(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _patch(api, "00070", {"committee_name": ["not", "a", "string"]}, raw)
    assert response.status_code == 422
    assert response.json()["errors"]


def test_too_long_committee_name_is_refused_not_500(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _patch(api, "00070", {"committee_name": "Ủ" * 300}, raw)
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


def test_too_long_zone_name_is_refused_not_500(tree, api, editor_token):
    _editor, _token, raw = editor_token
    response = _post_zone(api, "00070", {"name": "Thôn " + "x" * 250}, raw)
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


def test_api_writes_vietnamese_as_utf8(tree, client):
    raw = client.get("/api/v1/units/00070").content
    assert "Phường Hoàn Kiếm".encode() in raw
