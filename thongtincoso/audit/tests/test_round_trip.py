"""What is hashed is what the database gives back, for every address and value we may record."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from thongtincoso.audit.models import AuditRecord
from thongtincoso.audit.services import audit_record, audit_verify_chain
from thongtincoso.core.context import request_context

ADDRESSES = [
    "203.0.113.7",
    "2001:DB8:0:0::1",
    "::ffff:203.0.113.7",
    "::FFFF:cb00:7107",
    "fe80::1%eth0",
    "::1",
    "not-an-address",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_client_addresses_verify_after_a_round_trip(db, address):
    with request_context(ip=address), transaction.atomic():
        record = audit_record(actor=None, action="tests.ip", object_repr=address)
    assert audit_verify_chain() == (1, None)
    stored = AuditRecord.objects.get(pk=record.pk).ip
    assert stored == record.ip
    if address.lower().startswith("::ffff:"):
        assert stored == "203.0.113.7"


def test_an_anonymous_failed_login_over_mapped_ipv6_keeps_the_chain(db):
    Client(REMOTE_ADDR="::ffff:203.0.113.7").post(
        "/login/", {"username": "nobody", "password": "wrong-password"}
    )
    assert AuditRecord.objects.filter(action="accounts.session.login_failed").exists()
    assert audit_verify_chain()[1] is None


@pytest.mark.parametrize(
    "after",
    [
        {"big": 1e16, "small": 0.1, "two": 2.0, "neg": -3.5e-7},
        {"nested": [1e20, {"x": 1e300}], "text": "Phường Hoàn Kiếm"},
        {"nan": float("nan"), "inf": float("inf")},
    ],
)
def test_json_values_verify_after_a_round_trip(db, after):
    with transaction.atomic():
        audit_record(actor=None, action="tests.json", after=after)
    assert audit_verify_chain() == (1, None)
