"""One rule for "who is the client": REMOTE_ADDR, or X-Forwarded-For only as far as we trust it."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory, override_settings

from thongtincoso.core.middleware import client_ip


def _request(remote: str, forwarded: str | None = None):
    meta: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_ip(_request("203.0.113.9", "1.1.1.1")) == "203.0.113.9"


@override_settings(TTCS_TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_the_last_hop_is_the_client():
    # The client forged "1.1.1.1"; nginx appended the address it really saw.
    assert client_ip(_request("127.0.0.1", "1.1.1.1, 198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request("127.0.0.1")) == "127.0.0.1"


@override_settings(TTCS_TRUSTED_PROXY_COUNT=2)
def test_behind_two_proxies():
    assert client_ip(_request("10.0.0.2", "1.1.1.1, 198.51.100.7, 10.0.0.1")) == "198.51.100.7"


@override_settings(TTCS_TRUSTED_PROXY_COUNT=1)
def test_audit_records_carry_the_real_client_address(tree, make_user, client_for):
    from thongtincoso.accounts.roles import Role
    from thongtincoso.audit.models import AuditRecord

    editor = make_user("ed", tree.hoankiem, role=Role.EDITOR)
    client = client_for(editor)
    client.post(
        "/units/00070/zones/new/",
        {"type_name": "Thôn", "name": "Đông"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    record = AuditRecord.objects.get(action="units.zone.create")
    assert record.ip == "198.51.100.7"
    assert record.request_id
