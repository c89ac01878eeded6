"""Errors people and programs meet are explained in their terms: Vietnamese pages, JSON APIs."""

from __future__ import annotations

from django.test import Client


def test_an_expired_login_form_gets_a_vietnamese_page(db):
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "a", "password": "b"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Biểu mẫu đã hết hạn" in page
    assert "CSRF verification failed" not in page


def test_api_wrong_method_answers_json_with_allowed_methods(db):
    response = Client().put("/api/v1/units/01")
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert "GET" in response["Allow"]
    assert response.json()["detail"]


def test_api_session_call_without_csrf_is_explained(tree, make_user):
    from conftest import login
    from thongtincoso.accounts.roles import Role

    client = login(
        Client(enforce_csrf_checks=True), make_user("ed", tree.hoankiem, role=Role.EDITOR)
    )
    response = client.patch(
        "/api/v1/units/00070", {"committee_name": "x"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert response.json()["detail"] != "CSRF check Failed"


def test_api_oversized_body_answers_json_naming_the_limit(tree, make_user, settings):
    from conftest import api_token_for
    from thongtincoso.accounts.roles import Role

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    token = api_token_for(make_user("ed", tree.hoankiem, role=Role.EDITOR))
    response = Client().post(
        "/api/v1/bulletins",
        data=b'{"title": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "1 MB" in response.json()["detail"]
