"""Nobody hands out more than they hold: reach (covers the units below) and removal included."""

from __future__ import annotations

import pytest

from thongtincoso.accounts.models import RoleAssignment
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import role_assign, role_revoke, user_set_password
from thongtincoso.audit.models import AuditRecord
from thongtincoso.core.errors import PermissionDeniedError


@pytest.fixture
def office_admin(tree, make_user):
    """Unit admin of the province office only: their grant does not cover the communes."""
    return make_user("hn-office", tree.hanoi, role=Role.UNIT_ADMIN, covers_descendants=False)


def test_a_non_covering_admin_cannot_mint_covering_grants(tree, make_user, office_admin):
    sock = make_user("sock", tree.hanoi)
    for role in (Role.UNIT_ADMIN, Role.EDITOR):
        with pytest.raises(PermissionDeniedError, match="không bao gồm các đơn vị trực thuộc"):
            role_assign(
                actor=office_admin, user=sock, role=role, unit=tree.hanoi, covers_descendants=True
            )
    with pytest.raises(PermissionDeniedError):
        role_assign(
            actor=office_admin,
            user=office_admin,
            role=Role.EDITOR,
            unit=tree.hanoi,
            covers_descendants=True,
        )
    assert not RoleAssignment.objects.filter(covers_descendants=True, unit=tree.hanoi).exists()
    assert AuditRecord.objects.filter(action="accounts.role.assign_denied").count() == 3


def test_a_non_covering_admin_grants_within_their_own_reach(tree, make_user, office_admin):
    staff = make_user("staff", tree.hanoi)
    role_assign(
        actor=office_admin, user=staff, role=Role.EDITOR, unit=tree.hanoi, covers_descendants=False
    )
    assert RoleAssignment.objects.filter(user=staff, covers_descendants=False).exists()


def test_a_non_covering_admin_cannot_reset_a_covering_role_holder(tree, make_user, office_admin):
    editor = make_user("prov-editor", tree.hanoi, role=Role.EDITOR)  # covers the communes
    with pytest.raises(PermissionDeniedError):
        user_set_password(actor=office_admin, user=editor, password="a-new-password-99")


def test_commune_admin_cannot_remove_roles_they_could_not_grant(tree, make_user, client_for):
    admin = make_user("cn-admin", tree.cuanam, role=Role.UNIT_ADMIN)
    official = make_user("official", tree.hanoi, role=Role.APPROVER)
    local_role = role_assign(actor=None, user=official, role=Role.APPROVER, unit=tree.cuanam)
    boss = make_user("boss", tree.cuanam)
    boss_role = role_assign(actor=None, user=boss, role=Role.SYSTEM_ADMIN, unit=tree.cuanam)

    for assignment in (local_role, boss_role):
        with pytest.raises(PermissionDeniedError):
            role_revoke(actor=admin, assignment=assignment)
    assert RoleAssignment.objects.filter(pk__in=[local_role.pk, boss_role.pk]).count() == 2
    assert AuditRecord.objects.filter(action="accounts.role.revoke_denied").count() == 2

    # Through the page: refused with the reason, nothing removed.
    response = client_for(admin).post(f"/roles/{boss_role.pk}/revoke/", follow=True)
    assert "chính bạn có quyền phân công" in response.content.decode()
    assert RoleAssignment.objects.filter(pk=boss_role.pk).exists()


def test_commune_admin_removes_roles_of_their_own_staff(tree, make_user):
    admin = make_user("cn-admin", tree.cuanam, role=Role.UNIT_ADMIN)
    staff = make_user("cn-staff", tree.cuanam, role=Role.EDITOR)
    assignment = RoleAssignment.objects.get(user=staff)
    role_revoke(actor=admin, assignment=assignment)
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
