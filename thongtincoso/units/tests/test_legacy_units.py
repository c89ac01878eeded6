"""Units from before the 2025 reorganisation live beside today's, so older records stay valid."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Role
from thongtincoso.units.models import Unit, UnitKind

BEFORE = dt.date(2025, 6, 30)


@pytest.fixture
def legacy(tree):
    """Pre-2025 Hà Nội (same code 01), one of its districts and a ward under that district."""
    province = Unit(
        code="01",
        name="Thành phố Hà Nội (trước 2025)",
        kind=UnitKind.PROVINCE,
        type_name="Thành phố",
        parent=tree.nation,
        valid_from=dt.date(2008, 8, 1),
        valid_to=BEFORE,
    )
    province.save()
    district = Unit(
        code="002",
        name="Quận Hoàn Kiếm",
        kind=UnitKind.DISTRICT,
        type_name="Quận",
        parent=province,
        valid_from=dt.date(2008, 8, 1),
        valid_to=BEFORE,
    )
    district.save()
    ward = Unit(
        code="00037",
        name="Phường Hàng Bạc",
        kind=UnitKind.COMMUNE,
        type_name="Phường",
        parent=district,
        valid_from=dt.date(2008, 8, 1),
        valid_to=BEFORE,
    )
    ward.save()
    return province, district, ward


def test_a_retired_unit_keeps_its_code_beside_todays(tree, legacy, client):
    province, _district, ward = legacy
    assert Unit.objects.filter(code="01").count() == 2
    assert Unit.objects.current().get(code="01") == tree.hanoi
    # Three tiers under the old province: nothing assumes a fixed depth.
    assert set(Unit.objects.subtree_of(province).values_list("code", flat=True)) == {
        "01",
        "002",
        "00037",
    }
    assert ward.depth == 3
    # The public API serves the unit in force.
    body = client.get("/api/v1/units/01").json()
    assert body["name"] == "Thành phố Hà Nội"
    assert client.get("/api/v1/units/00037").status_code == 404


def test_two_units_in_force_cannot_share_a_code(tree):
    duplicate = Unit(
        code="01",
        name="Trùng mã",
        kind=UnitKind.PROVINCE,
        parent=tree.nation,
        valid_from=dt.date(2026, 1, 1),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_roles_cannot_be_given_on_retired_units(tree, legacy, make_user):
    from thongtincoso.accounts.models import RoleAssignment
    from thongtincoso.accounts.services import role_assign
    from thongtincoso.core.errors import ServiceError

    province, _district, _ward = legacy
    user = make_user("old-editor", tree.hanoi)
    with pytest.raises(ServiceError, match="đã hết hiệu lực"):
        role_assign(actor=None, user=user, role=Role.EDITOR, unit=province)
    assert not RoleAssignment.objects.filter(user=user).exists()
    assert not policy.may(user, "view", province)
