"""A unit admin manages the accounts of their area, never an account with power beyond it."""

from __future__ import annotations

import pytest

from conftest import PASSWORD
from thongtincoso.accounts.models import RoleAssignment, User
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import (
    role_assign,
    user_set_password,
    user_update,
)
from thongtincoso.audit.models import AuditRecord
from thongtincoso.core.errors import PermissionDeniedError


@pytest.fixture
def commune_admin(tree, make_user):
    return make_user("hk-admin", tree.hoankiem, role=Role.UNIT_ADMIN)


@pytest.fixture
def big_boss(tree, make_user):
    """A system admin whose home unit happens to be the commune."""
    return make_user("boss", tree.hoankiem, role=Role.SYSTEM_ADMIN, role_unit=tree.nation)


@pytest.fixture
def province_editor_living_in_commune(tree, make_user):
    user = make_user("pe", tree.hoankiem)
    role_assign(actor=None, user=user, role=Role.EDITOR, unit=tree.hanoi)
    return user


def test_commune_admin_cannot_reset_a_system_admins_password(commune_admin, big_boss):
    before = User.objects.get(pk=big_boss.pk).password
    with pytest.raises(PermissionDeniedError):
        user_set_password(actor=commune_admin, user=big_boss, password="a-new-password-99")
    assert User.objects.get(pk=big_boss.pk).password == before


def test_commune_admin_cannot_deactivate_or_edit_a_province_role_holder(
    commune_admin, province_editor_living_in_commune
):
    subject = province_editor_living_in_commune
    with pytest.raises(PermissionDeniedError):
        user_update(actor=commune_admin, user=subject, is_active=False)
    with pytest.raises(PermissionDeniedError):
        user_update(actor=commune_admin, user=subject, email="x@example.vn")
    subject.refresh_from_db()
    assert subject.is_active
    assert subject.email != "x@example.vn"
    assert not AuditRecord.objects.filter(action="accounts.user.update").exists()


def test_commune_admin_cannot_add_roles_to_such_an_account(
    tree, commune_admin, province_editor_living_in_commune
):
    with pytest.raises(PermissionDeniedError):
        role_assign(
            actor=commune_admin,
            user=province_editor_living_in_commune,
            role=Role.VIEWER,
            unit=tree.hoankiem,
        )
    assert not RoleAssignment.objects.filter(role=Role.VIEWER).exists()


def test_the_page_refuses_too_and_says_why(tree, commune_admin, big_boss, client_for):
    client = client_for(commune_admin)
    response = client.post(
        f"/users/{big_boss.pk}/password/",
        {"password": "a-new-password-99", "password_confirm": "a-new-password-99"},
        follow=True,
    )
    big_boss.refresh_from_db()
    assert big_boss.check_password(PASSWORD)
    # The account is visible (its home unit is in the admin's area), so the refusal is explained.
    assert response.status_code in (200, 400, 403)
    assert "mọi vai trò đều nằm trong phạm vi bạn quản trị" in response.content.decode()


def test_province_admin_manages_the_same_account(
    tree, make_user, province_editor_living_in_commune
):
    province_admin = make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN)
    user_update(actor=province_admin, user=province_editor_living_in_commune, email="pe@example.vn")
    province_editor_living_in_commune.refresh_from_db()
    assert province_editor_living_in_commune.email == "pe@example.vn"


def test_commune_admin_still_manages_plain_commune_accounts(tree, commune_admin, make_user):
    staff = make_user("hk-staff", tree.hoankiem, role=Role.EDITOR)
    user_set_password(actor=commune_admin, user=staff, password="a-new-password-99")
    staff.refresh_from_db()
    assert staff.check_password("a-new-password-99")
