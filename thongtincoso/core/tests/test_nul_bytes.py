"""NUL characters never reach the database (PostgreSQL refuses them with an error, a 500)."""

from __future__ import annotations

import json

import pytest

from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create
from thongtincoso.units.models import Unit


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/units/%00",
        "/api/v1/units/%00/children",
        "/api/v1/units/01/children?page=%00",
        "/units/%00/",
        "/units/01/?q=%00",
        "/?unit=%00",
        "/login/?next=%00",
    ],
)
def test_nul_in_path_or_query_is_a_400(tree, make_user, client_for, url):
    client = client_for(make_user("ed", tree.hanoi, role=Role.EDITOR))
    assert client.get(url).status_code == 400


def test_nul_in_json_is_a_400_and_saves_nothing(tree, make_user, client):
    editor = make_user("ed", tree.hoankiem, role=Role.EDITOR)
    _, token = api_token_create(actor=editor, user=editor, name="t")
    before = Unit.objects.count()
    response = client.post(
        "/api/v1/units/00070/zones",
        json.dumps({"name": "Thôn\u0000Đông"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert Unit.objects.count() == before


def test_ordinary_vietnamese_text_passes(tree, make_user, client):
    editor = make_user("ed", tree.hoankiem, role=Role.EDITOR)
    _, token = api_token_create(actor=editor, user=editor, name="t")
    response = client.post(
        "/api/v1/units/00070/zones",
        json.dumps({"name": "Đông Hưng"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201
