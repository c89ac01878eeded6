"""Unit admins manage users and roles within their subtree only; refusals are clear and audited."""

from __future__ import annotations

from conftest import api_token_for
from thongtincoso.accounts.models import RoleAssignment
from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.units.models import Unit


def _denials() -> int:
    return AuditRecord.objects.filter(action="accounts.role.assign_denied").count()


def test_ui_role_assignment_outside_subtree_is_refused_audited_and_unsaved(
    tree, make_user, client_for
):
    admin = make_user("cn-admin", tree.cuanam, role=Role.UNIT_ADMIN)
    staff = make_user("cn-staff", tree.cuanam)
    client = client_for(admin)
    before_assignments, before_denials = RoleAssignment.objects.count(), _denials()

    response = client.post(
        f"/users/{staff.pk}/roles/new/",
        {"role": Role.EDITOR, "unit": tree.hoankiem.code, "covers_descendants": "on"},
    )

    assert response.status_code == 400
    assert "Phường Hoàn Kiếm" in response.content.decode()  # the message names the unit
    assert RoleAssignment.objects.count() == before_assignments
    assert _denials() == before_denials + 1
    record = AuditRecord.objects.get(action="accounts.role.assign_denied")
    assert record.actor_username == "cn-admin"
    assert record.after is not None
    assert record.after["unit"] == tree.hoankiem.code


def test_ui_role_assignment_inside_subtree_works(tree, make_user, client_for):
    admin = make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN)
    staff = make_user("hk-staff", tree.hoankiem)
    response = client_for(admin).post(
        f"/users/{staff.pk}/roles/new/", {"role": Role.EDITOR, "unit": tree.hoankiem.code}
    )
    assert response.status_code == 302
    assert RoleAssignment.objects.filter(user=staff, role=Role.EDITOR, unit=tree.hoankiem).exists()


def test_unit_admin_cannot_mint_a_system_admin(tree, make_user, client_for):
    admin = make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN)
    staff = make_user("hk-staff", tree.hoankiem)
    response = client_for(admin).post(
        f"/users/{staff.pk}/roles/new/", {"role": Role.SYSTEM_ADMIN, "unit": tree.hoankiem.code}
    )
    assert response.status_code == 400
    assert not RoleAssignment.objects.filter(user=staff).exists()
    assert _denials() == 1


def test_api_role_assignment_outside_subtree_is_refused_audited_and_unsaved(
    tree, make_user, client
):
    admin = make_user("cn-admin", tree.cuanam, role=Role.UNIT_ADMIN)
    staff = make_user("cn-staff", tree.cuanam)
    token = api_token_for(admin)
    response = client.post(
        "/api/v1/role-assignments",
        {"username": staff.username, "role": Role.EDITOR, "unit": "79"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 403
    assert "Thành phố Hồ Chí Minh" in response.json()["detail"]
    assert not RoleAssignment.objects.filter(user=staff, role=Role.EDITOR).exists()
    assert _denials() == 1


def test_api_accounts_outside_subtree_answer_like_missing(tree, make_user, client):
    admin = make_user("cn-admin", tree.cuanam, role=Role.UNIT_ADMIN)
    other = make_user("hk-staff", tree.hoankiem)
    token = api_token_for(admin)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    hidden = client.post(
        "/api/v1/role-assignments",
        {"username": other.username, "role": Role.VIEWER, "unit": "00073"},
        content_type="application/json",
        **auth,
    )
    missing = client.post(
        "/api/v1/role-assignments",
        {"username": "nobody-at-all", "role": Role.VIEWER, "unit": "00073"},
        content_type="application/json",
        **auth,
    )
    assert hidden.status_code == missing.status_code == 404
    assert client_for_user_page_status(client, admin, other.pk) == 404


def client_for_user_page_status(client, user, user_id: int) -> int:
    from conftest import login

    return login(client, user).get(f"/users/{user_id}/").status_code


def test_unit_admin_sees_only_accounts_of_their_subtree(tree, make_user, client_for):
    admin = make_user("hk-admin", tree.hoankiem, role=Role.UNIT_ADMIN)
    make_user("zone-staff", tree.zone)
    make_user("cn-staff", tree.cuanam)
    page = client_for(admin).get(f"/units/{tree.hoankiem.code}/users/").content.decode()
    assert "zone-staff" in page
    assert "cn-staff" not in page


def test_django_admin_is_scoped_by_the_policy(tree, make_user, client_for):
    admin = make_user("cn-admin", tree.cuanam, role=Role.UNIT_ADMIN)
    client = client_for(admin)
    listing = client.get("/admin/units/unit/")
    assert listing.status_code == 200
    codes = set(listing.context["cl"].result_list.values_list("code", flat=True))
    assert codes == {"00073"}
    out_of_scope = client.get(f"/admin/units/unit/{tree.hoankiem.pk}/change/")
    missing = client.get(f"/admin/units/unit/{Unit.objects.order_by('-pk')[0].pk + 999}/change/")
    assert out_of_scope.status_code == missing.status_code
    assert out_of_scope["Location"] == missing["Location"]


def test_django_admin_change_goes_through_the_service(tree, make_user, client_for):
    admin = make_user("cn-admin", tree.cuanam, role=Role.UNIT_ADMIN)
    response = client_for(admin).post(
        f"/admin/units/unit/{tree.cuanam.pk}/change/",
        {"committee_name": "Ủy ban nhân dân phường Cửa Nam", "department_name": ""},
    )
    assert response.status_code == 302
    tree.cuanam.refresh_from_db()
    assert tree.cuanam.committee_name == "Ủy ban nhân dân phường Cửa Nam"
    assert AuditRecord.objects.filter(action="units.unit.update", unit_code="00073").count() == 1


def test_viewer_has_no_back_office(tree, make_user, client_for):
    viewer = make_user("viewer", tree.hanoi, role=Role.VIEWER)
    response = client_for(viewer).get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_api_lists_accounts_of_the_subtree_page_by_page(tree, make_user, client):
    admin = make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN)
    for i in range(3):
        make_user(f"hk-{i}", tree.hoankiem)
    make_user("sg-staff", tree.saigon)
    token = api_token_for(admin)
    page = client.get(
        "/api/v1/units/01/users?page_size=2", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    assert page["count"] == 4  # the admin and the three ward accounts, not Sài Gòn's
    assert len(page["items"]) == 2
    rest = client.get(
        "/api/v1/units/01/users?page_size=2&page=2", HTTP_AUTHORIZATION=f"Bearer {token}"
    ).json()
    names = {u["username"] for u in page["items"] + rest["items"]}
    assert names == {"hn-admin", "hk-0", "hk-1", "hk-2"}
