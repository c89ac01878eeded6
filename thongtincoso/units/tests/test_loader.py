"""The official loader (QĐ 19/2025: 34 provinces, 3,321 communes) and subtree queries on its data.

A full load takes about two seconds, so the assertions are grouped into few tests.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from thongtincoso.audit.models import AuditRecord
from thongtincoso.units.models import Unit, UnitKind
from thongtincoso.units.services import unit_update, units_load_official

# Facts of the 2025 reform (QĐ 19/2025, Nghị quyết 202/2025/QH15 and 1656-1682/NQ-UBTVQH15).
PROVINCES = 34
COMMUNES = 3321
CENTRAL_CITIES = 6  # Hà Nội, Hải Phòng, Huế, Đà Nẵng, Cần Thơ, Hồ Chí Minh
SPECIAL_ZONES = 13  # đặc khu
HANOI_COMMUNES = 126


def _current_counts() -> dict[str, int]:
    return {kind: Unit.objects.current().filter(kind=kind).count() for kind in UnitKind.values}


@pytest.mark.django_db
def test_load_official_tree_then_reload_changes_nothing_and_keeps_edits(
    django_assert_num_queries,
):
    report = units_load_official()

    assert report.created == 1 + PROVINCES + COMMUNES
    assert report.updated == 0
    counts = _current_counts()
    assert counts[UnitKind.NATION] == 1
    assert counts[UnitKind.PROVINCE] == PROVINCES
    assert counts[UnitKind.COMMUNE] == COMMUNES
    assert counts[UnitKind.DISTRICT] == 0
    assert counts[UnitKind.ZONE] == 0

    nation = Unit.objects.get(code="VN")
    assert nation.parent is None
    # Every province hangs under VN and every commune under a province.
    assert set(
        Unit.objects.filter(kind=UnitKind.PROVINCE).values_list("parent__code", flat=True)
    ) == {"VN"}
    assert set(
        Unit.objects.filter(kind=UnitKind.COMMUNE).values_list("parent__kind", flat=True)
    ) == {UnitKind.PROVINCE}

    # Codes are strings with their leading zeros: 2 digits for provinces, 5 for communes.
    province_codes = list(
        Unit.objects.filter(kind=UnitKind.PROVINCE).values_list("code", flat=True)
    )
    commune_codes = list(Unit.objects.filter(kind=UnitKind.COMMUNE).values_list("code", flat=True))
    assert all(re.fullmatch(r"\d{2}", c) for c in province_codes)
    assert all(re.fullmatch(r"\d{5}", c) for c in commune_codes)
    assert len(set(commune_codes)) == COMMUNES

    hanoi = Unit.objects.get(code="01")
    assert hanoi.name == "Thành phố Hà Nội"
    assert hanoi.kind == UnitKind.PROVINCE
    assert hanoi.type_name == "Thành phố"
    hoankiem = Unit.objects.select_related("parent").get(code="00070")
    assert hoankiem.name == "Phường Hoàn Kiếm"
    assert hoankiem.kind == UnitKind.COMMUNE
    assert hoankiem.type_name == "Phường"
    assert hoankiem.parent == hanoi
    assert hoankiem.committee_name == "Ủy ban nhân dân phường Hoàn Kiếm"

    # Type names as written in Vietnamese, and their numbers after the reform.
    province_types = list(
        Unit.objects.filter(kind=UnitKind.PROVINCE).values_list("type_name", flat=True)
    )
    assert set(province_types) == {"Tỉnh", "Thành phố"}
    assert province_types.count("Thành phố") == CENTRAL_CITIES
    commune_types = list(
        Unit.objects.filter(kind=UnitKind.COMMUNE).values_list("type_name", flat=True)
    )
    assert set(commune_types) == {"Phường", "Xã", "Đặc khu"}
    assert commune_types.count("Đặc khu") == SPECIAL_ZONES

    # The subtree of Hà Nội: itself and exactly the communes whose parent is 01, in ONE query.
    expected = {"01", *Unit.objects.filter(parent=hanoi).values_list("code", flat=True)}
    assert len(expected) == 1 + HANOI_COMMUNES
    with django_assert_num_queries(1):
        subtree = list(Unit.objects.subtree_of(hanoi).values_list("code", flat=True))
    assert len(subtree) == len(expected)
    assert set(subtree) == expected
    without_self = set(
        Unit.objects.subtree_of(hanoi, include_self=False).values_list("code", flat=True)
    )
    assert without_self == expected - {"01"}

    # An operator edits an agency name; the next load must keep it.
    edited = "Ủy ban nhân dân phường Hoàn Kiếm (nhiệm kỳ 2025-2030)"
    unit_update(actor=None, unit=hoankiem, committee_name=edited)
    audit_before = AuditRecord.objects.count()

    again = units_load_official()

    assert again.created == 0
    assert again.updated == 0
    assert again.unchanged == 1 + PROVINCES + COMMUNES
    assert _current_counts() == counts
    assert Unit.objects.count() == 1 + PROVINCES + COMMUNES
    hoankiem.refresh_from_db()
    assert hoankiem.committee_name == edited
    # A reload that changed nothing leaves nothing on record either.
    assert AuditRecord.objects.count() == audit_before
    assert AuditRecord.objects.filter(action="units.tree.load").count() == 1


@pytest.mark.django_db
def test_load_units_command_prints_counts_and_subtree_uses_path_index():
    out = StringIO()
    call_command("load_units", stdout=out)
    text = out.getvalue()
    total = 1 + PROVINCES + COMMUNES
    assert f"{total} created" in text
    assert "0 updated" in text
    assert f"({total} in all)" in text

    hanoi = Unit.objects.get(code="01")
    qs = Unit.objects.subtree_of(hanoi)
    with CaptureQueriesContext(connection) as ctx:
        list(qs)
    assert len(ctx.captured_queries) == 1
    sql = ctx.captured_queries[0]["sql"]
    where = sql.split(" WHERE ", 1)[1]
    # A range on the materialised path, not a LIKE or a recursive query.
    assert re.search(r'"units_unit"\."path" >= ', where), sql
    assert re.search(r'"units_unit"\."path" < ', where), sql
    assert "LIKE" not in where.upper()

    if connection.vendor == "sqlite":
        raw_sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {raw_sql}", params)
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
        assert re.search(r"SEARCH .*USING (COVERING )?INDEX \S*path\S*", plan), plan
        assert "SCAN units_unit" not in plan, plan


@pytest.mark.django_db
def test_loader_moving_a_commune_to_its_official_province_updates_its_path():
    # State left by an older list: Phường Hoàn Kiếm filed under province 79.
    nation = Unit(code="VN", name="Việt Nam", kind=UnitKind.NATION, type_name="Quốc gia")
    nation.save()
    hcm = Unit(
        code="79",
        name="Thành phố Hồ Chí Minh",
        kind=UnitKind.PROVINCE,
        type_name="Thành phố",
        parent=nation,
    )
    hcm.save()
    stray = Unit(
        code="00070", name="Phường Hoàn Kiếm", kind=UnitKind.COMMUNE, type_name="Phường", parent=hcm
    )
    stray.save()

    units_load_official()

    stray.refresh_from_db()
    hanoi = Unit.objects.get(code="01")
    assert stray.parent_id == hanoi.pk
    assert Unit.objects.subtree_of(hanoi).filter(code="00070").exists()
    assert not Unit.objects.subtree_of(hcm).filter(code="00070").exists()


def test_moving_a_unit_carries_its_subtree(tree):
    # No full load needed: the same save() path the loader uses, on the small tree.
    hoankiem = Unit.objects.get(code="00070")
    hoankiem.parent = tree.hcm
    hoankiem.save()

    in_hcm = set(Unit.objects.subtree_of(tree.hcm).values_list("code", flat=True))
    in_hanoi = set(Unit.objects.subtree_of(tree.hanoi).values_list("code", flat=True))
    assert in_hcm == {"79", "26734", "00070", "00070.001"}
    assert in_hanoi == {"01", "00073"}
    zone = Unit.objects.get(code="00070.001")
    assert zone.depth == hoankiem.depth + 1 == 3
    assert zone.is_descendant_of(tree.hcm)
