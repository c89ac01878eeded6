"""State changes on the unit tree: the official loader, agency names, zones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from thongtincoso.audit.services import audit_record, model_snapshot
from thongtincoso.core.errors import PermissionDeniedError, ServiceError, full_clean_or_raise

from .models import Unit, UnitKind

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User
    from thongtincoso.jobs.models import JobStatus

NATION_CODE = "VN"
# QĐ 19/2025/QĐ-TTg: the two-tier units are in force from this date.
REFORM_2025_DATE = dt.date(2025, 7, 1)
EDITABLE_FIELDS = ["name", "committee_name", "department_name"]
ZONE_TYPES = ("Thôn", "Tổ dân phố", "Ấp", "Bản", "Buôn", "Khu phố", "Làng", "Khu vực")


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _province_type(division_type: str) -> str:
    return "Thành phố" if division_type.startswith("thành phố") else "Tỉnh"


def _default_committee(type_name: str, name: str) -> str:
    # "Phường Hoàn Kiếm" -> "Ủy ban nhân dân phường Hoàn Kiếm"
    return f"Ủy ban nhân dân {type_name.lower()}{name[len(type_name) :]}"


def units_load_official(*, progress: Callable[[int, int], None] | None = None) -> LoadReport:
    """Load or refresh the nation, 34 provinces and 3,321 communes from `vietnam-provinces`.

    Idempotent: a second run changes nothing. Names an operator edited (agency names) are kept;
    official names and types follow the package.
    """
    from vietnam_provinces import Province, Ward

    report = LoadReport()
    provinces = sorted(Province.iter_all(), key=lambda p: int(p.code))
    wards = sorted(Ward.iter_all(), key=lambda w: int(w.code))
    total = 1 + len(provinces) + len(wards)
    done = 0
    with transaction.atomic():
        existing = {u.code: u for u in Unit.objects.current().select_related(None)}
        nation = _upsert(
            existing,
            report,
            code=NATION_CODE,
            name="Việt Nam",
            kind=UnitKind.NATION,
            type_name="Quốc gia",
            codename="viet_nam",
            parent=None,
            valid_from=None,
        )
        done += 1
        by_code: dict[str, Unit] = {}
        for province in provinces:
            type_name = _province_type(province.division_type.value)
            by_code[f"{int(province.code):02d}"] = _upsert(
                existing,
                report,
                code=f"{int(province.code):02d}",
                name=province.name,
                kind=UnitKind.PROVINCE,
                type_name=type_name,
                codename=province.codename,
                parent=nation,
                valid_from=REFORM_2025_DATE,
                committee=_default_committee(type_name, province.name),
            )
            done += 1
        for i, ward in enumerate(wards):
            type_name = ward.division_type.value.capitalize()
            _upsert(
                existing,
                report,
                code=f"{int(ward.code):05d}",
                name=ward.name,
                kind=UnitKind.COMMUNE,
                type_name=type_name,
                codename=ward.codename,
                parent=by_code[f"{int(ward.province_code):02d}"],
                valid_from=REFORM_2025_DATE,
                committee=_default_committee(type_name, ward.name),
            )
            done += 1
            if progress and (i % 200 == 0 or done == total):
                progress(done, total)
        if report.created or report.updated:
            audit_record(
                actor=None,
                action="units.tree.load",
                object_type="units.unit",
                object_repr="vietnam-provinces",
                after={"created": report.created, "updated": report.updated},
            )
    if progress:
        progress(total, total)
    return report


def units_reload_start(*, actor: User | None, nation: Unit) -> JobStatus:
    """Start reloading the official list in the background; the job page shows its progress.

    Only a system administrator may do this (it touches every province). The reload runs after
    this transaction commits and is idempotent, like `units_load_official`.
    """
    from thongtincoso.accounts import policy
    from thongtincoso.jobs.services import job_start

    from .tasks import units_reload

    if actor is not None and not policy.is_system_admin(actor):
        raise PermissionDeniedError(
            _("Only a system administrator may reload the official unit list.")
        )
    if nation.kind != UnitKind.NATION or not nation.is_current:
        raise ServiceError(_("The official unit list can only be reloaded from the nation."))
    with transaction.atomic():
        job = job_start(
            units_reload,
            title=_("Reload the official unit list"),
            unit=nation,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="units.tree.reload",
            obj=job,
            unit=nation,
            after={"job": str(job.pk)},
        )
    return job


def _upsert(
    existing: dict[str, Unit],
    report: LoadReport,
    *,
    code: str,
    name: str,
    kind: str,
    type_name: str,
    codename: str,
    parent: Unit | None,
    valid_from: dt.date | None,
    committee: str = "",
) -> Unit:
    unit = existing.get(code)
    if unit is None:
        unit = Unit(
            code=code,
            name=name,
            kind=kind,
            type_name=type_name,
            codename=codename,
            parent=parent,
            valid_from=valid_from,
            committee_name=committee,
        )
        unit.save()
        report.created += 1
        return unit
    wanted = {
        "name": name,
        "kind": kind,
        "type_name": type_name,
        "codename": codename,
        "parent_id": parent.pk if parent else None,
    }
    changed = {k: v for k, v in wanted.items() if getattr(unit, k) != v}
    if changed:
        for k, v in changed.items():
            setattr(unit, k, v)
        unit.save()
        report.updated += 1
    else:
        report.unchanged += 1
    return unit


def _require_edit(actor: User | None, unit: Unit) -> None:
    from thongtincoso.accounts import policy
    from thongtincoso.accounts.roles import Action

    if actor is not None and not policy.may(actor, Action.EDIT, unit):
        raise PermissionDeniedError(_("You may not change this unit."))


def unit_update(
    *,
    actor: User | None,
    unit: Unit,
    committee_name: str | None = None,
    department_name: str | None = None,
    name: str | None = None,
) -> Unit:
    """Edit a unit's agency names (and a zone's name). Official names come from the loader."""
    _require_edit(actor, unit)
    if name is not None and unit.kind != UnitKind.ZONE:
        raise ServiceError(
            _("Official unit names come from the national list and cannot be changed here."),
            field="name",
        )
    before = model_snapshot(unit, EDITABLE_FIELDS)
    for field, value in (
        ("committee_name", committee_name),
        ("department_name", department_name),
        ("name", name),
    ):
        if value is not None:
            setattr(unit, field, value.strip())
    if unit.kind == UnitKind.ZONE and not unit.name:
        raise ServiceError(_("Enter the zone's name."), field="name")
    after = model_snapshot(unit, EDITABLE_FIELDS)
    if after == before:
        return unit
    with transaction.atomic():
        full_clean_or_raise(unit)
        unit.save()
        audit_record(
            actor=actor, action="units.unit.update", obj=unit, unit=unit, before=before, after=after
        )
    return unit


def zone_create(*, actor: User | None, commune: Unit, name: str, type_name: str = "Thôn") -> Unit:
    """Add a zone (thôn, tổ dân phố…) inside a commune."""
    _require_edit(actor, commune)
    if commune.kind != UnitKind.COMMUNE or not commune.is_current:
        raise ServiceError(_("Zones can only be added to a commune in force."))
    name = name.strip()
    if not name:
        raise ServiceError(_("Enter the zone's name."), field="name")
    if type_name not in ZONE_TYPES:
        raise ServiceError(_("Choose a zone type from the list."), field="type_name")
    full_name = name if name.lower().startswith(type_name.lower()) else f"{type_name} {name}"
    with transaction.atomic():
        # Lock the commune so two zones added at once get different codes and the name check
        # sees the other (PostgreSQL; SQLite's IMMEDIATE transactions already serialise this).
        Unit.objects.select_for_update().filter(pk=commune.pk).first()
        # Compared in Python: SQLite's case folding ignores Vietnamese letters (Ổ vs ổ).
        taken = commune.children.current().values_list("name", flat=True)
        if full_name.casefold() in {n.casefold() for n in taken}:
            raise ServiceError(
                _("This commune already has a zone named “%(n)s”.") % {"n": full_name},
                field="name",
            )
        zone = Unit(
            code=_next_zone_code(commune),
            name=full_name,
            kind=UnitKind.ZONE,
            type_name=type_name,
            codename=slugify(full_name)[:100],
            parent=commune,
            valid_from=timezone.localdate(),
        )
        full_clean_or_raise(zone, exclude=["path"])
        zone.save()
        audit_record(
            actor=actor,
            action="units.zone.create",
            obj=zone,
            unit=zone,
            after=model_snapshot(zone, ["code", "name", "type_name"]),
        )
    return zone


def _next_zone_code(commune: Unit) -> str:
    # Zone codes are local: the commune code, a dot, and a running number ("00070.003").
    taken = Unit.objects.filter(code__startswith=f"{commune.code}.").values_list("code", flat=True)
    numbers = [int(c.rsplit(".", 1)[1]) for c in taken if c.rsplit(".", 1)[1].isdigit()]
    return f"{commune.code}.{(max(numbers, default=0) + 1):03d}"


def zone_retire(*, actor: User | None, zone: Unit) -> Unit:
    """Retire a zone (merged or renamed villages): it stays for older records."""
    _require_edit(actor, zone)
    if zone.kind != UnitKind.ZONE:
        raise ServiceError(_("Only zones can be retired here."))
    if zone.valid_to is not None:
        return zone
    with transaction.atomic():
        zone.valid_to = timezone.localdate()
        zone.save(update_fields=["valid_to", "updated_at"])
        audit_record(
            actor=actor,
            action="units.zone.retire",
            obj=zone,
            unit=zone,
            after={"valid_to": zone.valid_to.isoformat()},
        )
    return zone
