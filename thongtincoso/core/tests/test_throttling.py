"""Public endpoints are rate limited per client address; staff calls per account."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings

from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@override_settings(TTCS_API_ANON_RATE="3/m")
def test_public_api_limits_each_address(tree, client):
    statuses = [
        client.get("/api/v1/units/01", REMOTE_ADDR="10.9.0.1").status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/units/01", REMOTE_ADDR="10.9.0.1")
    assert "detail" in refused.json()
    assert int(refused["Retry-After"]) > 0
    # Another address has its own allowance; a forged X-Forwarded-For does not buy a new one.
    assert client.get("/api/v1/units/01", REMOTE_ADDR="10.9.0.2").status_code == 200
    forged = client.get("/api/v1/units/01", REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert forged.status_code == 429


@override_settings(TTCS_API_ANON_RATE="2/m", TTCS_API_USER_RATE="5/m")
def test_authenticated_callers_have_their_own_allowance(tree, make_user, client):
    user = make_user("reader", tree.hanoi, role=Role.VIEWER)
    _, token = api_token_create(actor=user, user=user, name="t")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}", "REMOTE_ADDR": "10.9.0.3"}
    statuses = [client.get("/api/v1/me", **auth).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
