"""Writing and verifying the audit log.

`audit_record()` must be called inside the transaction that makes the change it describes (every
service does), so the change and its record commit or roll back together.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from thongtincoso.core import context
from thongtincoso.core.middleware import normalise_ip

from .models import AuditRecord

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User
    from thongtincoso.units.models import Unit

GENESIS_HASH = "0" * 64
# PostgreSQL advisory lock key that serialises appends (SQLite's IMMEDIATE transactions already do).
_PG_LOCK_KEY = 0x7474_6373_0001


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON so what we hash is exactly what the database stores and returns."""
    if value is None:
        return None
    return _canonical_numbers(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def _canonical_numbers(value: Any) -> Any:
    # PostgreSQL's jsonb reads 1e16 back as 10000000000000000 (an int) and cannot hold NaN or
    # infinity; store what it would give back, so the hash verifies on either database.
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return int(value) if value.is_integer() and "e" in repr(value) else value
    if isinstance(value, dict):
        return {k: _canonical_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_numbers(v) for v in value]
    return value


def _payload(record: AuditRecord) -> bytes:
    fields = {
        "seq": record.seq,
        "created_at": record.created_at.isoformat(timespec="microseconds"),
        "actor_id": record.actor_id,
        "actor_username": record.actor_username,
        "unit_id": record.unit_id,
        "unit_path": record.unit_path,
        "unit_code": record.unit_code,
        "action": record.action,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "object_repr": record.object_repr,
        "before": record.before,
        "after": record.after,
        "ip": record.ip,
        "request_id": record.request_id,
        "prev_hash": record.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def compute_hash(record: AuditRecord) -> str:
    return hashlib.sha256(_payload(record)).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: Any = None,
    unit: Unit | None = None,
    before: dict | None = None,
    after: dict | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditRecord:
    """Append one record. `action` is namespaced "<app>.<entity>.<verb>" ("units.unit.update")."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:255]
    ctx = context.current()
    with transaction.atomic():
        _lock_chain()
        last = AuditRecord.objects.order_by("-seq").only("seq", "hash").first()
        record = AuditRecord(
            seq=(last.seq + 1) if last else 1,
            created_at=timezone.now(),
            actor_id=actor.pk if actor is not None and actor.pk else None,
            actor_username=getattr(actor, "username", "") or "",
            unit_id=unit.pk if unit is not None else None,
            unit_path=unit.path if unit is not None else "",
            unit_code=unit.code if unit is not None else "",
            action=action,
            object_type=object_type,
            object_id=object_id,
            object_repr=object_repr,
            before=_json_safe(before),
            after=_json_safe(after),
            ip=normalise_ip(ctx.ip) if ctx and ctx.ip else None,
            request_id=ctx.request_id if ctx else "",
            prev_hash=last.hash if last else GENESIS_HASH,
        )
        record.hash = compute_hash(record)
        record.save(force_insert=True)
    return record


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    record_id: int | None
    reason: str


def audit_verify_chain(*, batch_size: int = 2000) -> tuple[int, ChainBreak | None]:
    """Walk the chain in order; return (records checked, first break or None)."""
    checked = 0
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for record in _iter_in_order(batch_size):
        if record.seq != expected_seq:
            reason = f"sequence gap: expected #{expected_seq}, found #{record.seq}"
            return checked, ChainBreak(expected_seq, record.pk, reason)
        if record.prev_hash != expected_prev:
            return checked, ChainBreak(record.seq, record.pk, "previous-hash link broken")
        if compute_hash(record) != record.hash:
            return checked, ChainBreak(record.seq, record.pk, "content does not match its hash")
        checked += 1
        expected_prev = record.hash
        expected_seq += 1
    return checked, None


def _iter_in_order(batch_size: int) -> Iterator[AuditRecord]:
    last_seq = 0
    while True:
        batch = list(AuditRecord.objects.filter(seq__gt=last_seq).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last_seq = batch[-1].seq


def model_snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    """The before/after picture of the fields a service changes."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(obj, name)
        if hasattr(value, "pk"):
            value = value.pk
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value
    return out


# --- The anchor: the chain's head, kept outside the database ---------------------------------
#
# The chain shows any edit, deletion or reordering, except cutting records off the end: a
# shorter chain is still a valid chain. So verification also keeps the head it last saw (first
# record's hash, last sequence number and hash) in a file outside the database; a later run whose
# log no longer contains that head knows records were removed. Copy the file off the host
# (backups, the national instance) for protection against someone who controls both.


@dataclass(frozen=True)
class Anchor:
    first_hash: str
    seq: int
    hash: str


def audit_head() -> Anchor | None:
    first = AuditRecord.objects.order_by("seq").only("hash").first()
    last = AuditRecord.objects.order_by("-seq").only("seq", "hash").first()
    if first is None or last is None:
        return None
    return Anchor(first_hash=first.hash, seq=last.seq, hash=last.hash)


def audit_anchor_read(path: Path) -> Anchor | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Anchor(first_hash=data["first_hash"], seq=int(data["seq"]), hash=data["hash"])


def audit_anchor_write(path: Path) -> Anchor | None:
    """Record the current head atomically (write a temporary file, then rename it)."""
    head = audit_head()
    if head is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**head.__dict__, "written_at": timezone.now().isoformat()}
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as tmp:
        json.dump(payload, tmp)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
    return head


def audit_anchor_problem(anchor: Anchor) -> str | None:
    """Why the log does not contain the anchored head, or None when it does."""
    head = audit_head()
    if head is None or head.first_hash != anchor.first_hash:
        return (
            "the log does not start with the anchored first record: it was replaced or "
            "emptied (or the anchor belongs to another database)"
        )
    if head.seq < anchor.seq:
        return (
            f"the log ends at #{head.seq} but record #{anchor.seq} was seen before: "
            "records were removed from the end"
        )
    anchored = AuditRecord.objects.filter(seq=anchor.seq).values_list("hash", flat=True).first()
    if anchored != anchor.hash:
        return f"record #{anchor.seq} differs from the one seen before"
    return None
