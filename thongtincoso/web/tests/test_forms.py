"""Bad input in the staff forms: a Vietnamese message, nothing saved, never a 500."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext, ngettext

from conftest import PASSWORD
from thongtincoso.accounts.models import ApiToken, RoleAssignment, User
from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.units.models import Unit, UnitKind

VIETNAMESE = re.compile(
    "[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]", re.IGNORECASE
)


def vi(msgid: str, **params: object) -> str:
    """The Vietnamese text of a source message (checked to be Vietnamese), with its values."""
    with translation.override("vi"):
        text = gettext(msgid)
    assert VIETNAMESE.search(text), f"no Vietnamese translation for {msgid!r}"
    return text % params if params else text


def field_errors(response, field: str | None = None) -> list[str]:
    form = response.context["form"]
    if field is None:
        return [str(e) for e in form.non_field_errors()]
    return [str(e) for e in form.errors.get(field, [])]


def assert_shown(response, message: str) -> None:
    """The message is on the page, marked as an error."""
    content = response.content.decode()
    assert message in content
    assert 'class="error"' in content


def snapshot() -> dict:
    return {
        "audit": AuditRecord.objects.count(),
        "users": list(User.objects.order_by("pk").values()),
        "roles": list(RoleAssignment.objects.order_by("pk").values()),
        "tokens": ApiToken.objects.count(),
        "units": list(
            Unit.objects.order_by("pk").values(
                "code", "name", "committee_name", "department_name", "valid_to"
            )
        ),
    }


@pytest.fixture
def admin(tree, make_user, client_for):
    """A unit admin of Hà Nội (01), logged in, and an editor account of Hoàn Kiếm."""
    user = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    return client_for(user)


def _new_user(**overrides: str) -> dict:
    data = {
        "username": "canbo_moi",
        "full_name": "Nguyễn Văn Mới",
        "email": "moi@example.vn",
        "phone": "0912 345 678",
        "password": PASSWORD,
    }
    data.update(overrides)
    return data


# --- Creating accounts ----------------------------------------------------------------------


def test_valid_account_is_created(admin, tree):
    response = admin.post("/units/00070/users/new/", _new_user())
    assert response.status_code == 302
    user = User.objects.get(username="canbo_moi")
    assert user.unit == tree.hoankiem
    assert user.check_password(PASSWORD)


def test_taken_username_is_refused(admin):
    before = snapshot()
    response = admin.post("/units/00070/users/new/", _new_user(username="CANBO70"))

    assert response.status_code in (200, 400)
    expected = vi("The user name “%(u)s” is already taken.", u="CANBO70")
    assert field_errors(response, "username") == [expected]
    assert_shown(response, expected)
    assert snapshot() == before


@pytest.mark.parametrize("password", ["12345678901", "abc", "password123"])
def test_weak_password_is_refused(admin, password):
    before = snapshot()
    response = admin.post("/units/00070/users/new/", _new_user(password=password))

    assert response.status_code in (200, 400)
    errors = field_errors(response, "password")
    assert errors
    assert all(VIETNAMESE.search(e) for e in errors), errors
    assert not User.objects.filter(username="canbo_moi").exists()
    assert snapshot() == before


def test_numeric_password_message(admin):
    response = admin.post("/units/00070/users/new/", _new_user(password="98765432101234"))
    errors = " ".join(field_errors(response, "password"))
    assert vi("This password is entirely numeric.") in errors


@pytest.mark.parametrize("phone", ["abc", "12", "0912-345-678-999-000-111", "+84 91x 345 678"])
def test_bad_phone_is_refused(admin, phone):
    before = snapshot()
    response = admin.post("/units/00070/users/new/", _new_user(phone=phone))

    assert response.status_code in (200, 400)
    expected = vi("Enter a phone number of 8 to 20 digits, e.g. 0912 345 678.")
    assert field_errors(response, "phone") == [expected]
    assert_shown(response, expected)
    assert snapshot() == before


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "hà@nội"])
def test_bad_email_is_refused(admin, email):
    before = snapshot()
    response = admin.post("/units/00070/users/new/", _new_user(email=email))

    assert response.status_code in (200, 400)
    expected = vi("Enter a valid email address.")
    assert field_errors(response, "email") == [expected]
    assert_shown(response, expected)
    assert snapshot() == before


def test_bad_username_and_missing_fields(admin):
    before = snapshot()
    response = admin.post(
        "/units/00070/users/new/", {"username": "có dấu cách", "full_name": "", "password": ""}
    )

    assert response.status_code in (200, 400)
    assert field_errors(response, "username") == [
        vi("Use only letters, digits and . @ + - _ in user names.")
    ]
    required = vi("This field is required.")
    assert field_errors(response, "full_name") == [required]
    assert field_errors(response, "password") == [required]
    assert snapshot() == before


def test_account_form_outside_scope_is_404(admin):
    assert admin.get("/units/79/users/new/").status_code == 404
    before = snapshot()
    assert admin.post("/units/26734/users/new/", _new_user()).status_code == 404
    assert snapshot() == before


# --- Assigning roles ------------------------------------------------------------------------


def _subject() -> User:
    return User.objects.get(username="canbo70")


@pytest.mark.parametrize("code", ["99999", "0070", "00070.999", ""])
def test_role_assign_with_unknown_unit_code(admin, code):
    subject = _subject()
    before = snapshot()

    response = admin.post(
        f"/users/{subject.pk}/roles/new/",
        {"role": Role.VIEWER, "unit": code, "covers_descendants": "on"},
    )

    assert response.status_code in (200, 400)
    errors = field_errors(response, "unit")
    assert len(errors) == 1
    if code:
        assert errors == [vi("No unit has the code “%(c)s”. Check the code.", c=code)]
    else:
        assert errors == [vi("This field is required.")]
    assert_shown(response, errors[0])
    assert snapshot() == before


def test_role_assign_with_retired_unit_code(admin, tree):
    Unit.objects.filter(pk=tree.zone.pk).update(valid_to="2025-08-01")
    before = snapshot()
    response = admin.post(
        f"/users/{_subject().pk}/roles/new/", {"role": Role.VIEWER, "unit": "00070.001"}
    )
    assert response.status_code in (200, 400)
    assert field_errors(response, "unit") == [
        vi("No unit has the code “%(c)s”. Check the code.", c="00070.001")
    ]
    assert snapshot() == before


def test_role_assign_outside_area_is_refused_and_audited(admin):
    before = snapshot()
    response = admin.post(f"/users/{_subject().pk}/roles/new/", {"role": Role.EDITOR, "unit": "79"})

    assert response.status_code in (200, 400, 403)
    errors = (
        field_errors(response) + field_errors(response, "role") + field_errors(response, "unit")
    )
    assert len(errors) == 1
    assert VIETNAMESE.search(errors[0]), errors
    assert "Thành phố Hồ Chí Minh" in errors[0]
    assert RoleAssignment.objects.count() == len(before["roles"])
    assert AuditRecord.objects.count() == before["audit"] + 1
    assert AuditRecord.objects.order_by("-seq").first().action == "accounts.role.assign_denied"


def test_role_assign_with_unknown_role(admin):
    before = snapshot()
    response = admin.post(f"/users/{_subject().pk}/roles/new/", {"role": "king", "unit": "00070"})
    assert response.status_code in (200, 400)
    errors = field_errors(response, "role")
    assert len(errors) == 1
    assert VIETNAMESE.search(errors[0]), errors
    assert snapshot() == before


def test_role_assign_system_admin_by_unit_admin_is_refused(admin):
    before = snapshot()
    response = admin.post(
        f"/users/{_subject().pk}/roles/new/", {"role": Role.SYSTEM_ADMIN, "unit": "00070"}
    )
    assert response.status_code in (200, 400, 403)
    errors = field_errors(response) + field_errors(response, "role")
    assert len(errors) == 1
    assert VIETNAMESE.search(errors[0]), errors
    assert RoleAssignment.objects.count() == len(before["roles"])
    assert not RoleAssignment.objects.filter(role=Role.SYSTEM_ADMIN).exists()


def test_role_assign_duplicate_is_refused(admin):
    before = snapshot()
    response = admin.post(
        f"/users/{_subject().pk}/roles/new/",
        {"role": Role.EDITOR, "unit": "00070", "covers_descendants": "on"},
    )
    assert response.status_code in (200, 400)
    expected = vi("This user already has that role in this unit.")
    assert field_errors(response, "role") == [expected]
    assert snapshot() == before


def test_role_assign_needs_post(admin):
    assert admin.get(f"/users/{_subject().pk}/roles/new/").status_code == 405


# --- Zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "    "])
def test_zone_with_empty_name_is_refused(admin, name):
    before = snapshot()
    response = admin.post("/units/00070/zones/new/", {"type_name": "Thôn", "name": name})

    assert response.status_code in (200, 400)
    expected = vi("This field is required.")
    assert field_errors(response, "name") == [expected]
    assert_shown(response, expected)
    assert snapshot() == before


def test_zone_with_duplicate_name_is_refused(admin):
    before = snapshot()
    response = admin.post("/units/00070/zones/new/", {"type_name": "Tổ dân phố", "name": "số 1"})
    assert response.status_code in (200, 400)
    expected = vi("This commune already has a zone named “%(n)s”.", n="Tổ dân phố số 1")
    assert field_errors(response, "name") == [expected]
    assert snapshot() == before


def test_zone_with_unknown_type_is_refused(admin):
    before = snapshot()
    response = admin.post("/units/00070/zones/new/", {"type_name": "Quận", "name": "Một"})
    assert response.status_code in (200, 400)
    errors = field_errors(response, "type_name")
    assert len(errors) == 1
    assert VIETNAMESE.search(errors[0]), errors
    assert snapshot() == before


def test_zone_with_too_long_name_is_refused(admin):
    before = snapshot()
    response = admin.post("/units/00070/zones/new/", {"type_name": "Thôn", "name": "Đ" * 151})
    assert response.status_code in (200, 400)
    errors = field_errors(response, "name")
    assert len(errors) == 1
    assert VIETNAMESE.search(errors[0]), errors
    assert "150" in errors[0]
    assert snapshot() == before


def test_zone_form_only_for_communes(admin):
    assert admin.get("/units/01/zones/new/").status_code == 404
    before = snapshot()
    assert (
        admin.post("/units/01/zones/new/", {"type_name": "Thôn", "name": "Một"}).status_code == 404
    )
    assert snapshot() == before


def test_valid_zone_is_created(admin, tree):
    response = admin.post("/units/00070/zones/new/", {"type_name": "Thôn", "name": "Đông"})
    assert response.status_code == 302
    zone = Unit.objects.get(name="Thôn Đông")
    assert zone.parent == tree.hoankiem
    assert zone.kind == UnitKind.ZONE


# --- Editing a unit -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["committee_name", "department_name"])
def test_unit_edit_with_300_char_name_is_refused(admin, field):
    before = snapshot()
    data = {"committee_name": "UBND", "department_name": ""}
    data[field] = "Ủy ban nhân dân " + "x" * 284
    assert len(data[field]) == 300

    response = admin.post("/units/00070/edit/", data)

    assert response.status_code in (200, 400)
    with translation.override("vi"):
        expected = ngettext(
            "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
            "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
            255,
        ) % {"limit_value": 255, "show_value": 300}
    assert VIETNAMESE.search(expected)
    assert field_errors(response, field) == [expected]
    assert_shown(response, expected)
    assert snapshot() == before


def test_unit_edit_saves_valid_names(admin, tree):
    response = admin.post(
        "/units/00070/edit/",
        {"committee_name": " UBND phường Hoàn Kiếm ", "department_name": "Phòng Văn hóa - Xã hội"},
    )
    assert response.status_code == 302
    tree.hoankiem.refresh_from_db()
    assert tree.hoankiem.committee_name == "UBND phường Hoàn Kiếm"
    assert tree.hoankiem.department_name == "Phòng Văn hóa - Xã hội"


def test_unit_edit_outside_scope_is_404(admin):
    before = snapshot()
    assert admin.post("/units/79/edit/", {"committee_name": "x"}).status_code == 404
    assert snapshot() == before


# --- Audit filter ---------------------------------------------------------------------------


def test_audit_filter_with_from_after_to(admin):
    response = admin.get("/audit/", {"date_from": "2025-07-02", "date_to": "2025-07-01"})

    assert response.status_code == 200
    expected = vi("The start date must not be after the end date.")
    assert field_errors(response) == [expected]
    assert_shown(response, expected)


def test_audit_filter_with_malformed_date(admin):
    response = admin.get("/audit/", {"date_to": "31/02/2025"})
    assert response.status_code == 200
    assert field_errors(response, "date_to") == [vi("Enter a valid date.")]


# --- Tokens on the account page -------------------------------------------------------------


def test_token_without_name_is_refused(admin):
    before = snapshot()
    response = admin.post("/account/", {"name": "   "})
    assert response.status_code in (200, 400)
    assert field_errors(response, "name") == [vi("This field is required.")]
    assert snapshot() == before


def test_django_password_length_message_is_in_vietnamese(tree, make_user, client_for):
    """Django 5.2's own short-password message, missing from its catalog, reads in Vietnamese."""
    from thongtincoso.accounts.roles import Role

    admin = client_for(make_user("hn-admin-pw", tree.hanoi, role=Role.UNIT_ADMIN))
    response = admin.post(
        "/units/01/users/new/",
        {"username": "moi", "full_name": "Người Mới", "password": "ngan"},
    )
    page = response.content.decode()
    assert "Mật khẩu này quá ngắn. Mật khẩu phải có ít nhất 10 ký tự." in page
    assert "too short" not in page
