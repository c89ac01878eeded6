"""Managing an account from its page (details, deactivation, new password) and one's own password.

Every change goes through the pages as a unit admin does it; a refusal shows the service's message
in Vietnamese and saves nothing.
"""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import PASSWORD
from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create
from thongtincoso.audit.models import AuditRecord

from .test_forms import VIETNAMESE, assert_shown, snapshot, vi

NEW_PASSWORD = "new-horse-battery-2"
GENERIC_LOGIN_ERROR = "The user name or password is incorrect. Check both and try again."


@pytest.fixture
def admin01(tree, make_user):
    """A unit admin of Hà Nội (01)."""
    return make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)


@pytest.fixture
def canbo(tree, make_user):
    """An editor of Phường Hoàn Kiếm (00070), inside Hà Nội."""
    return make_user("canbo70", tree.hoankiem, role=Role.EDITOR)


@pytest.fixture
def admin(admin01, canbo, client_for):
    return client_for(admin01)


def _page(client: Client, user: User) -> str:
    response = client.get(f"/users/{user.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def field_errors(response, form: str, field: str) -> list[str]:
    """Errors of one field of one of the page's forms (`edit_form`, `password_form`)."""
    return [str(e) for e in response.context[form].errors.get(field, [])]


def _last_audit() -> AuditRecord:
    record = AuditRecord.objects.order_by("-seq").first()
    assert record is not None
    return record


def _login(username: str, password: str) -> tuple[Client, str]:
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    return client, response.content.decode() if response.status_code == 200 else ""


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# --- The page -------------------------------------------------------------------------------


def test_user_page_offers_each_change_as_its_own_form(admin, canbo):
    html = _page(admin, canbo)
    for action in ("edit", "deactivate", "password"):
        assert f'action="/users/{canbo.pk}/{action}/"' in html
    assert f'action="/users/{canbo.pk}/reactivate/"' not in html
    for text in ("Contact details", "Deactivate the account", "Set the password", "New password"):
        assert vi(text) in html
    # The form starts from the account's current details.
    assert 'value="Canbo70"' in html


def test_own_page_offers_neither_deactivation_nor_a_password_without_the_current_one(
    admin, admin01
):
    html = _page(admin, admin01)
    assert f'action="/users/{admin01.pk}/deactivate/"' not in html
    assert f'action="/users/{admin01.pk}/password/"' not in html
    assert 'href="/account/"' in html


def test_page_of_an_account_without_unit_opens_for_a_system_admin(
    tree, system_admin, client_for, django_user_model
):
    """`createsuperuser` makes accounts without a unit; their page must not fail."""
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    assert root.unit is None
    client = client_for(system_admin)
    assert client.get(f"/users/{root.pk}/").status_code == 200
    # A system administrator of the whole tree manages accounts that belong to no unit.
    response = client.post(f"/users/{root.pk}/edit/", {"full_name": "Quản trị gốc"})
    assert response.status_code == 302
    root.refresh_from_db()
    assert root.full_name == "Quản trị gốc"


def test_unit_admin_cannot_touch_an_account_without_unit(
    tree, make_user, client_for, django_user_model
):
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    admin = client_for(make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN))
    before = snapshot()
    assert admin.get(f"/users/{root.pk}/").status_code == 404
    assert admin.post(f"/users/{root.pk}/edit/", {"full_name": "x"}).status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("action", ["edit", "deactivate", "reactivate", "password"])
def test_changes_need_post(admin, canbo, action):
    assert admin.get(f"/users/{canbo.pk}/{action}/").status_code == 405


@pytest.mark.parametrize("action", ["edit", "deactivate", "reactivate", "password"])
def test_accounts_outside_the_admins_area_answer_404(tree, make_user, client_for, canbo, action):
    """A commune admin next door and an admin of another province see nothing of canbo70."""
    neighbour = client_for(make_user("admin73", tree.cuanam, role=Role.UNIT_ADMIN))
    other_province = client_for(make_user("admin79", tree.hcm, role=Role.UNIT_ADMIN))
    editor = client_for(make_user("editor01", tree.hanoi, role=Role.EDITOR))
    data = {
        "full_name": "Tên mới",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    before = snapshot()
    for client in (neighbour, other_province, editor):
        assert client.get(f"/users/{canbo.pk}/").status_code == 404
        assert client.post(f"/users/{canbo.pk}/{action}/", data).status_code == 404
    assert snapshot() == before
    canbo.refresh_from_db()
    assert canbo.check_password(PASSWORD)


# --- Contact details ------------------------------------------------------------------------


def test_admin_edits_the_contact_details(admin, canbo):
    audit_before = AuditRecord.objects.count()
    response = admin.post(
        f"/users/{canbo.pk}/edit/",
        {"full_name": " Nguyễn Thị Lan ", "email": "lan@hoankiem.gov.vn", "phone": "0243 825 1234"},
        follow=True,
    )

    assert response.redirect_chain == [(f"/users/{canbo.pk}/", 302)]
    assert vi("The account's details have been saved.") in response.content.decode()
    canbo.refresh_from_db()
    assert canbo.full_name == "Nguyễn Thị Lan"
    assert canbo.email == "lan@hoankiem.gov.vn"
    assert canbo.phone == "0243 825 1234"
    assert canbo.is_active
    assert AuditRecord.objects.count() == audit_before + 1
    record = _last_audit()
    assert record.action == "accounts.user.update"
    assert record.actor_username == "admin01"
    assert record.after["full_name"] == "Nguyễn Thị Lan"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"full_name": "", "email": "", "phone": ""}, "full_name", "This field is required."),
        (
            {"full_name": "Lan", "email": "lan@", "phone": ""},
            "email",
            "Enter a valid email address.",
        ),
        (
            {"full_name": "Lan", "email": "", "phone": "09x"},
            "phone",
            "Enter a phone number of 8 to 20 digits, e.g. 0912 345 678.",
        ),
    ],
)
def test_bad_contact_details_are_refused(admin, canbo, data, field, message):
    before = snapshot()
    response = admin.post(f"/users/{canbo.pk}/edit/", data)

    assert response.status_code == 400
    assert field_errors(response, "edit_form", field) == [vi(message)]
    assert_shown(response, vi(message))
    assert snapshot() == before


def test_too_long_email_shows_the_services_message(admin, canbo):
    """The form accepts it; the model (254 characters) does not: the service says so."""
    email = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".vn"
    assert 254 < len(email) <= 320
    before = snapshot()

    response = admin.post(f"/users/{canbo.pk}/edit/", {"full_name": "Lan", "email": email})

    assert response.status_code == 400
    errors = field_errors(response, "edit_form", "email")
    assert len(errors) == 1
    assert VIETNAMESE.search(errors[0]), errors
    assert "254" in errors[0]
    assert_shown(response, errors[0])
    assert snapshot() == before
    # The page still shows the account as saved, not the refused values.
    assert "Lan" not in response.content.decode().split("<h1>")[1].split("</h1>")[0]


# --- Deactivation ---------------------------------------------------------------------------


def test_deactivated_account_cannot_log_in_and_reads_like_a_wrong_password(admin, canbo):
    signed_in = Client()
    signed_in.force_login(canbo)
    _token, raw = api_token_create(actor=canbo, user=canbo, name="báo cáo")
    bearer = {"Authorization": f"Bearer {raw}"}
    assert Client().get("/api/v1/me", headers=bearer).status_code == 200
    audit_before = AuditRecord.objects.count()

    response = admin.post(f"/users/{canbo.pk}/deactivate/", follow=True)

    html = response.content.decode()
    assert response.redirect_chain == [(f"/users/{canbo.pk}/", 302)]
    assert (
        vi("Account “%(u)s” deactivated: it can no longer log in or use its tokens.", u="canbo70")
        in html
    )
    assert vi("Deactivated") in html
    assert f'action="/users/{canbo.pk}/reactivate/"' in html
    canbo.refresh_from_db()
    assert not canbo.is_active
    assert AuditRecord.objects.count() == audit_before + 1
    assert _last_audit().action == "accounts.user.update"
    assert _last_audit().after["is_active"] is False

    # The right password now gets exactly the message of a wrong one.
    client, right_password_page = _login("canbo70", PASSWORD)
    assert not _logged_in(client)
    _, wrong_password_page = _login("canbo70", "not-the-password-9")
    generic = vi(GENERIC_LOGIN_ERROR)
    assert generic in right_password_page
    assert generic in wrong_password_page
    assert vi("This account is inactive.") not in right_password_page
    # A session opened before the deactivation ends too, and its API token stops working.
    assert signed_in.get("/").status_code == 302
    assert Client().get("/api/v1/me", headers=bearer).status_code == 401


def test_reactivated_account_can_log_in_again(admin, canbo):
    admin.post(f"/users/{canbo.pk}/deactivate/")
    response = admin.post(f"/users/{canbo.pk}/reactivate/", follow=True)

    assert vi("Account “%(u)s” reactivated: it can log in again.", u="canbo70") in (
        response.content.decode()
    )
    canbo.refresh_from_db()
    assert canbo.is_active
    client, _ = _login("canbo70", PASSWORD)
    assert _logged_in(client)


def test_admin_cannot_deactivate_their_own_account(admin, admin01):
    before = snapshot()
    response = admin.post(f"/users/{admin01.pk}/deactivate/", follow=True)

    assert response.status_code == 200
    assert vi("You cannot deactivate your own account.") in response.content.decode()
    admin01.refresh_from_db()
    assert admin01.is_active
    assert snapshot() == before


# --- Setting a password for an account ------------------------------------------------------


def test_admin_sets_a_new_password(admin, canbo):
    audit_before = AuditRecord.objects.count()
    response = admin.post(
        f"/users/{canbo.pk}/password/",
        {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        follow=True,
    )

    assert response.redirect_chain == [(f"/users/{canbo.pk}/", 302)]
    assert (
        vi("New password set for “%(u)s”. Give it to them in person or by phone.", u="canbo70")
        in response.content.decode()
    )
    canbo.refresh_from_db()
    assert canbo.check_password(NEW_PASSWORD)
    assert AuditRecord.objects.count() == audit_before + 1
    assert _last_audit().action == "accounts.user.set_password"
    # The password is never written to the audit log.
    assert _last_audit().after is None
    client, _ = _login("canbo70", NEW_PASSWORD)
    assert _logged_in(client)


def test_mismatched_passwords_are_refused(admin, canbo):
    before = snapshot()
    response = admin.post(
        f"/users/{canbo.pk}/password/",
        {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD + "x"},
    )
    expected = vi("The two passwords do not match. Type the same password twice.")
    assert response.status_code == 400
    assert field_errors(response, "password_form", "password_confirm") == [expected]
    assert_shown(response, expected)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("98765432101234", "This password is entirely numeric."),
        ("canbo70123", "The password is too similar to the %(verbose_name)s."),
    ],
)
def test_weak_password_shows_the_services_message(admin, canbo, password, message):
    before = snapshot()
    response = admin.post(
        f"/users/{canbo.pk}/password/", {"password": password, "password_confirm": password}
    )

    assert response.status_code == 400
    errors = " ".join(field_errors(response, "password_form", "password"))
    assert VIETNAMESE.search(errors), errors
    expected = vi(message).split("%(")[0]
    assert expected in errors
    assert snapshot() == before
    canbo.refresh_from_db()
    assert canbo.check_password(PASSWORD)


def test_admin_is_sent_to_my_account_for_their_own_password(admin, admin01):
    before = snapshot()
    response = admin.post(
        f"/users/{admin01.pk}/password/",
        {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        follow=True,
    )
    assert response.redirect_chain == [("/account/", 302)]
    assert (
        vi("Change your own password on “My account”, with your current password.")
        in response.content.decode()
    )
    assert snapshot() == before


# --- Changing one's own password ------------------------------------------------------------


def test_account_page_has_the_change_password_form(canbo, client_for):
    html = client_for(canbo).get("/account/").content.decode()
    assert 'action="/account/password/"' in html
    for label in ("Current password", "New password", "New password again"):
        assert vi(label) in html


def test_user_changes_their_password_and_stays_logged_in(canbo, client_for):
    client = client_for(canbo)
    elsewhere = client_for(canbo)  # the same person, logged in on another computer
    audit_before = AuditRecord.objects.count()

    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        follow=True,
    )

    assert response.redirect_chain == [("/account/", 302)]
    assert vi("Your password has been changed.") in response.content.decode()
    canbo.refresh_from_db()
    assert canbo.check_password(NEW_PASSWORD)
    assert AuditRecord.objects.count() == audit_before + 1
    assert _last_audit().action == "accounts.user.set_password"
    assert _last_audit().actor_username == "canbo70"
    # This session carries on (update_session_auth_hash); the other one has to log in again.
    assert client.get("/account/").status_code == 200
    assert elsewhere.get("/account/").status_code == 302


def test_wrong_current_password_is_refused(canbo, client_for):
    client = client_for(canbo)
    before = snapshot()
    response = client.post(
        "/account/password/",
        {
            "old_password": "not-my-password",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    expected = vi("Your current password is not correct. Type it again.")
    assert response.status_code == 400
    assert field_errors(response, "password_form", "old_password") == [expected]
    assert_shown(response, expected)
    assert snapshot() == before
    assert client.get("/account/").status_code == 200


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {
                "old_password": PASSWORD,
                "password": "12345678901",
                "password_confirm": "12345678901",
            },
            "password",
            "This password is entirely numeric.",
        ),
        (
            {"old_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": "other-1"},
            "password_confirm",
            "The two passwords do not match. Type the same password twice.",
        ),
        (
            {"old_password": "", "password": "", "password_confirm": ""},
            "old_password",
            "This field is required.",
        ),
    ],
)
def test_bad_new_password_is_refused(canbo, client_for, data, field, message):
    client = client_for(canbo)
    before = snapshot()
    response = client.post("/account/password/", data)

    assert response.status_code == 400
    errors = " ".join(field_errors(response, "password_form", field))
    assert vi(message) in errors
    assert snapshot() == before
    # The token form on the same page still posts to its own address.
    assert 'action="/account/"' in response.content.decode()


def test_change_password_needs_login_and_post(canbo, client_for):
    assert Client().post("/account/password/", {}).status_code == 302
    assert client_for(canbo).get("/account/password/").status_code == 405
