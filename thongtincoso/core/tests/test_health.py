"""GET /healthz and the request id every response carries."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_jobs():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["vendor"] == connection.vendor
    assert body["jobs"]["ok"] is True
    assert body["jobs"]["backend"]
    # Health must never be cached by a proxy.
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_healthz_needs_no_login_and_no_2fa(tree, make_user):
    from thongtincoso.accounts.roles import Role

    admin = make_user("admin", tree.hanoi, role=Role.UNIT_ADMIN)
    unverified = Client()
    unverified.force_login(admin)  # logged in, second factor not given
    assert unverified.get("/healthz").status_code == 200


def test_healthz_is_get_only():
    assert Client().post("/healthz").status_code == 405


def test_valid_incoming_request_id_is_kept():
    incoming = "lb-7f3a9c.req_0001"
    response = Client().get("/healthz", headers={"X-Request-ID": incoming})
    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "short",  # too short
        "x" * 65,  # too long
        "id with spaces 123",
        "<script>alert(1)</script>",
        "abc\\r\\nSet-Cookie: x=1",
        "",
    ],
)
def test_malformed_request_id_is_replaced(incoming):
    response = Client().get("/healthz", headers={"X-Request-ID": incoming})
    echoed = response["X-Request-ID"]
    assert echoed != incoming
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", echoed)


def test_each_request_gets_its_own_id():
    client = Client()
    ids = {client.get("/healthz")["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_request_id_on_every_kind_of_response(tree):
    client = Client()
    for path in ("/login/", "/api/v1/units/01", "/api/v1/no-such-thing", "/no-such-page/"):
        response = client.get(path, headers={"X-Request-ID": "trace-000000042"})
        assert response["X-Request-ID"] == "trace-000000042", path


def test_error_responses_are_logged_with_their_request_id(db, client, caplog):
    import logging

    from thongtincoso.core.context import RequestIdLogFilter

    caplog.handler.addFilter(RequestIdLogFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="trace-abcdef12")
    assert response.status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records
    assert records[-1].request_id == "trace-abcdef12"
