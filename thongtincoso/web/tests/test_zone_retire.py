"""Retiring a zone (thôn, tổ dân phố) from the commune's page, with a confirmation step.

A retired zone keeps its row and code for older records, but leaves the staff list and the public
API, and its code is never given to another zone.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.units.models import Unit

from .test_forms import snapshot, vi

ZONE = "00070.001"
RETIRE_URL = f"/units/{ZONE}/retire/"


@pytest.fixture
def editor70(tree, make_user, client_for):
    """An editor of Phường Hoàn Kiếm, the commune that holds the zone."""
    return client_for(make_user("editor70", tree.hoankiem, role=Role.EDITOR))


def _api_children(code: str) -> list[str]:
    response = Client().get(f"/api/v1/units/{code}/children")
    assert response.status_code == 200
    return [u["code"] for u in response.json()["items"]]


def test_commune_page_lists_its_zones_with_codes_and_a_retire_link(editor70, tree):
    html = editor70.get("/units/00070/").content.decode()
    assert vi("Zones") in html
    assert f"<code>{ZONE}</code>" in html
    assert "Tổ dân phố số 1" in html
    assert f'href="{RETIRE_URL}"' in html


def test_confirmation_page_changes_nothing(editor70, tree):
    before = snapshot()
    response = editor70.get(RETIRE_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert vi("Retire a zone") in html
    assert "Tổ dân phố số 1" in html
    assert '<form method="post">' in html
    assert 'href="/units/00070/"' in html  # cancel goes back to the commune
    assert snapshot() == before


def test_editor_retires_a_zone_after_confirming(editor70, tree):
    assert ZONE in _api_children("00070")
    audit_before = AuditRecord.objects.count()

    response = editor70.post(RETIRE_URL, follow=True)

    assert response.redirect_chain == [("/units/00070/", 302)]
    html = response.content.decode()
    assert vi("Zone “%(name)s” retired.", name="Tổ dân phố số 1") in html
    # Gone from the staff list, the public API, and the unit's own API address.
    assert f"<code>{ZONE}</code>" not in html
    assert f'href="{RETIRE_URL}"' not in html
    assert ZONE not in _api_children("00070")
    assert Client().get(f"/api/v1/units/{ZONE}").status_code == 404
    # Kept for history, with the day it ended.
    zone = Unit.objects.get(code=ZONE)
    assert zone.valid_to == dt.date.today()
    assert AuditRecord.objects.count() == audit_before + 1
    record = AuditRecord.objects.order_by("-seq").first()
    assert record.action == "units.zone.retire"
    assert record.actor_username == "editor70"
    assert record.unit_code == ZONE


def test_retired_zone_is_not_found_again_and_its_code_is_not_reused(editor70, tree):
    editor70.post(RETIRE_URL)
    before = snapshot()
    assert editor70.get(RETIRE_URL).status_code == 404
    assert editor70.post(RETIRE_URL).status_code == 404
    assert snapshot() == before

    # A new zone of the same name is a new unit with a new code.
    response = editor70.post("/units/00070/zones/new/", {"type_name": "Tổ dân phố", "name": "số 1"})
    assert response.status_code == 302
    assert Unit.objects.current().get(name="Tổ dân phố số 1").code == "00070.002"


def test_province_editor_may_retire_zones_of_its_communes(tree, make_user, client_for):
    province_editor = client_for(make_user("editor01", tree.hanoi, role=Role.EDITOR))
    assert province_editor.post(RETIRE_URL).status_code == 302
    assert not Unit.objects.current().filter(code=ZONE).exists()


@pytest.mark.parametrize(
    ("username", "unit", "role"),
    [
        ("viewer70", "hoankiem", Role.VIEWER),  # sees the commune, may not edit it
        ("approver70", "hoankiem", Role.APPROVER),
        ("editor73", "cuanam", Role.EDITOR),  # the commune next door
        ("editor79", "hcm", Role.EDITOR),  # another province
    ],
)
def test_others_see_no_retire_link_and_get_404(tree, make_user, client_for, username, unit, role):
    client = client_for(make_user(username, tree.by_name(unit), role=role))
    page = client.get("/units/00070/")
    if page.status_code == 200:
        assert f'href="{RETIRE_URL}"' not in page.content.decode()
    before = snapshot()
    assert client.get(RETIRE_URL).status_code == 404
    assert client.post(RETIRE_URL).status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("code", ["00070", "01", "VN", "99999"])
def test_only_zones_can_be_retired(editor70, client_for, system_admin, code):
    clients = (editor70, client_for(system_admin))
    before = snapshot()
    for client in clients:
        assert client.get(f"/units/{code}/retire/").status_code == 404
        assert client.post(f"/units/{code}/retire/").status_code == 404
    assert snapshot() == before


def test_retire_needs_login(tree):
    response = Client().post(RETIRE_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert Unit.objects.current().filter(code=ZONE).exists()
