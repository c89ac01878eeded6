"""The anchor catches what the chain alone cannot: records cut off the end of the log."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from conftest import tamper_cursor
from thongtincoso.audit.models import AuditRecord
from thongtincoso.audit.services import audit_record

TABLE = AuditRecord._meta.db_table


@pytest.fixture
def records(db):
    def add(n: int) -> None:
        for i in range(n):
            with transaction.atomic():
                audit_record(actor=None, action="tests.anchor.add", object_repr=f"r{i}")

    add(5)
    return add


def _verify(anchor, *extra: str) -> str:
    out = StringIO()
    call_command("audit_verify", "--anchor", str(anchor), *extra, stdout=out)
    return out.getvalue()


def _cut_tail(n: int) -> None:
    with tamper_cursor() as cursor:
        last = AuditRecord.objects.order_by("-seq").values_list("seq", flat=True)[0]
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq > %s", [last - n])  # noqa: S608


def test_first_run_writes_the_anchor_and_later_runs_advance_it(records, tmp_path):
    anchor = tmp_path / "anchor.json"
    assert "5 records" in _verify(anchor)
    assert json.loads(anchor.read_text())["seq"] == 5
    records(3)
    assert "8 records" in _verify(anchor)
    assert json.loads(anchor.read_text())["seq"] == 8


def test_records_cut_off_the_end_are_detected(records, tmp_path):
    anchor = tmp_path / "anchor.json"
    _verify(anchor)
    _cut_tail(2)
    # The chain itself is still valid: only the anchor can tell.
    with pytest.raises(CommandError, match=r"ends at #3 but record #5"):
        _verify(anchor)


def test_tail_cut_and_regrown_is_detected(records, tmp_path):
    anchor = tmp_path / "anchor.json"
    _verify(anchor)
    _cut_tail(2)
    records(4)  # new records hide the cut: the log is longer than the anchor again
    with pytest.raises(CommandError, match=r"record #5 differs"):
        _verify(anchor)


def test_a_replaced_log_is_detected_and_a_reset_accepts_it(records, tmp_path):
    anchor = tmp_path / "anchor.json"
    _verify(anchor)
    _cut_tail(5)
    records(6)
    with pytest.raises(CommandError, match="does not start with the anchored first record"):
        _verify(anchor)
    assert "6 records" in _verify(anchor, "--reset-anchor")
    assert "6 records" in _verify(anchor)


def test_periodic_verification_uses_the_same_check(records, tmp_path, settings, caplog):
    from thongtincoso.jobs.tasks import verify_audit_chain

    settings.TTCS_AUDIT_ANCHOR = str(tmp_path / "anchor.json")
    assert verify_audit_chain.call_local() is True
    _cut_tail(1)
    assert verify_audit_chain.call_local() is False
    assert "records were removed from the end" in caplog.text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_raw_updates_and_deletes(records):
    from django.db import DatabaseError

    for statement in (
        f"UPDATE {TABLE} SET action = 'x' WHERE seq = 2",  # noqa: S608
        f"DELETE FROM {TABLE} WHERE seq = 2",  # noqa: S608
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert AuditRecord.objects.filter(seq=2, action="tests.anchor.add").exists()
