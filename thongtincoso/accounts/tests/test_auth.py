"""Logging in, lockout, two-factor enrolment, sessions, and personal API tokens."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD, login
from thongtincoso.accounts.models import ApiToken
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create, user_update
from thongtincoso.audit.models import AuditRecord

VIETNAMESE = re.compile(
    "[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]", re.IGNORECASE
)


def vi(msgid: str) -> str:
    """The Vietnamese the page should show for a source message, checked to be Vietnamese."""
    with translation.override("vi"):
        text = gettext(msgid)
    assert VIETNAMESE.search(text), f"no Vietnamese translation for {msgid!r}"
    return text


def _post_login(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{value:0{device.digits}d}"


def _form_errors(response) -> list[str]:
    form = response.context["form"]
    return [str(e) for errors in form.errors.values() for e in errors]


# --- The login page -------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_is_vietnamese_by_default():
    response = Client().get("/login/")
    assert response.status_code == 200
    content = response.content.decode()
    assert '<html lang="vi">' in content
    assert response["Content-Language"] == "vi"
    assert vi("Log in") in content
    assert ">Log in<" not in content


@pytest.mark.django_db
def test_language_is_what_the_person_chose_not_the_browser():
    client = Client()
    # An office PC set up in English still gets the working language.
    english_browser = client.get("/login/", headers={"Accept-Language": "en"})
    assert '<html lang="vi">' in english_browser.content.decode()

    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    chosen = client.get("/login/")
    assert '<html lang="en">' in chosen.content.decode()
    assert ">Log in<" in chosen.content.decode()


def test_wrong_password_and_unknown_user_get_the_same_message(tree, make_user):
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)

    wrong_password = _post_login(Client(), "canbo70", "not-the-password-1")
    unknown_user = _post_login(Client(), "nobody_here", "not-the-password-1")

    assert wrong_password.status_code == unknown_user.status_code == 200
    wrong_errors = wrong_password.context["form"].non_field_errors()
    unknown_errors = unknown_user.context["form"].non_field_errors()
    assert list(wrong_errors) == list(unknown_errors)
    assert len(wrong_errors) == 1
    assert wrong_errors[0] == vi(
        "The user name or password is incorrect. Check both and try again."
    )
    assert wrong_errors[0] in wrong_password.content.decode()


def test_inactive_account_gets_the_same_message(tree, make_user):
    user = make_user("nghi_viec", tree.hoankiem, role=Role.EDITOR)
    user_update(actor=None, user=user, is_active=False)
    client = Client()
    response = _post_login(client, "nghi_viec", PASSWORD)
    assert response.status_code == 200
    assert not _logged_in(client)
    assert list(response.context["form"].non_field_errors()) == [
        vi("The user name or password is incorrect. Check both and try again.")
    ]


def test_right_password_logs_in_and_is_on_record(tree, make_user):
    user = make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    client = Client()
    response = _post_login(client, "canbo70", PASSWORD)
    assert response.status_code == 302
    assert _logged_in(client)
    record = AuditRecord.objects.filter(action="accounts.session.login").get()
    assert record.actor_id == user.pk
    assert record.ip == "127.0.0.1"


def test_failed_login_is_on_record_without_the_password(tree, make_user):
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    secret = "my-Secret-guess-42"

    _post_login(Client(REMOTE_ADDR="198.51.100.9"), "canbo70", secret)

    records = list(AuditRecord.objects.filter(action="accounts.session.login_failed"))
    assert len(records) == 1
    record = records[0]
    assert record.object_repr == "canbo70"
    assert record.actor_id is None
    assert record.ip == "198.51.100.9"
    assert record.request_id
    for row in AuditRecord.objects.values():
        assert secret not in json.dumps(row, default=str)


# --- Lockout (django-axes) ------------------------------------------------------------------


def _fail(client: Client, username: str, times: int) -> list[int]:
    return [_post_login(client, username, f"wrong-password-{i}").status_code for i in range(times)]


def test_sixth_attempt_is_refused_even_with_the_right_password(tree, make_user):
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5

    statuses = _fail(client, "canbo70", limit)
    assert statuses[: limit - 1] == [200] * (limit - 1)

    response = _post_login(client, "canbo70", PASSWORD)

    assert response.status_code in (403, 429)
    assert response.status_code != 500
    assert not _logged_in(client)
    assert "web/lockout.html" in [t.name for t in response.templates]
    assert vi("Too many attempts") in response.content.decode()


def test_unknown_usernames_are_locked_out_too(tree):
    client = Client()
    _fail(client, "khong_ton_tai", settings.AXES_FAILURE_LIMIT)
    response = _post_login(client, "khong_ton_tai", "whatever-password")
    assert response.status_code in (403, 429)
    assert "web/lockout.html" in [t.name for t in response.templates]


def test_lockout_is_per_username_and_address(tree, make_user):
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    make_user("canbo73", tree.cuanam, role=Role.EDITOR)
    attacker = Client(REMOTE_ADDR="203.0.113.50")
    _fail(attacker, "canbo70", settings.AXES_FAILURE_LIMIT)
    assert _post_login(attacker, "canbo70", PASSWORD).status_code in (403, 429)

    # Another account from the same address, and the same account from its owner's office.
    other_user = Client(REMOTE_ADDR="203.0.113.50")
    assert _post_login(other_user, "canbo73", PASSWORD).status_code == 302
    owner = Client(REMOTE_ADDR="192.0.2.10")
    assert _post_login(owner, "canbo70", PASSWORD).status_code == 302
    assert _logged_in(owner)


def test_success_resets_the_failure_count(tree, make_user):
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    client = Client()
    _fail(client, "canbo70", settings.AXES_FAILURE_LIMIT - 1)
    assert _post_login(client, "canbo70", PASSWORD).status_code == 302
    client.post("/logout/")
    _fail(client, "canbo70", settings.AXES_FAILURE_LIMIT - 1)
    assert _post_login(client, "canbo70", PASSWORD).status_code == 302


# --- Two-factor authentication --------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.SYSTEM_ADMIN, Role.UNIT_ADMIN, Role.APPROVER])
def test_roles_needing_2fa_are_sent_to_enrol(tree, make_user, role):
    unit = tree.nation if role == Role.SYSTEM_ADMIN else tree.hanoi
    make_user("can_2fa", unit, role=role)
    client = Client()
    assert _post_login(client, "can_2fa", PASSWORD).status_code == 302

    for path in ("/", "/units/", "/account/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/account/2fa/setup/"), path
    # The API does not accept the half-logged-in session either.
    assert client.get("/api/v1/me").status_code == 401


def test_enrolling_with_a_valid_code_reaches_the_dashboard(tree, make_user):
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    client = Client()
    _post_login(client, "admin01", PASSWORD)
    assert client.get("/").status_code == 302

    setup = client.get("/account/2fa/setup/?next=/units/")
    assert setup.status_code == 200
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    assert "<svg" in setup.content.decode()

    response = client.post(
        "/account/2fa/setup/?next=/units/", {"code": _code(device), "next": "/units/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/units/"
    device.refresh_from_db()
    assert device.confirmed
    assert AuditRecord.objects.filter(action="accounts.totp.enrol", actor_id=admin.pk).count() == 1
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "web/dashboard.html" in [t.name for t in dashboard.templates]
    assert client.get("/api/v1/me").status_code == 200


def test_invalid_code_shows_an_error_and_enrols_nothing(tree, make_user):
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    client = Client()
    _post_login(client, "admin01", PASSWORD)
    client.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=admin)
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"

    response = client.post("/account/2fa/setup/", {"code": wrong})

    assert response.status_code == 200
    assert _form_errors(response) == [
        vi("That code is not valid. Check the time on your phone and enter the newest code.")
    ]
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/").status_code == 302
    assert not AuditRecord.objects.filter(action="accounts.totp.enrol").exists()

    short = client.post("/account/2fa/setup/", {"code": "12 3"})
    assert short.status_code == 200
    assert _form_errors(short) == [vi("Enter the 6 digits shown in your authenticator app.")]


def test_enrolled_user_verifies_at_next_login(tree, make_user):
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client = Client()
    _post_login(client, "admin01", PASSWORD)

    response = client.get("/units/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/2fa/verify/")

    # The next time step's code (the device allows one step of drift).
    verified = client.post("/account/2fa/verify/", {"code": _code(device, 1), "next": "/"})
    assert verified.status_code == 302
    assert client.get("/").status_code == 200


def test_2fa_next_cannot_leave_the_site(tree, make_user):
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    client = Client()
    _post_login(client, "admin01", PASSWORD)
    client.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=admin)

    response = client.post(
        "/account/2fa/setup/?next=https://evil.example/",
        {"code": _code(device), "next": "https://evil.example/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_next_cannot_leave_the_site(tree, make_user):
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    response = Client().post(
        "/login/", {"username": "canbo70", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_htmx_request_without_second_factor_gets_403_json(tree, make_user):
    make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    client = Client()
    _post_login(client, "admin01", PASSWORD)
    response = client.get("/units/01/children/", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.json()["detail"]


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER, Role.FEEDBACK_OFFICER])
def test_other_roles_are_not_forced_into_2fa(tree, make_user, role):
    make_user("canbo", tree.hoankiem, role=role)
    client = Client()
    assert _post_login(client, "canbo", PASSWORD).status_code == 302
    response = client.get("/")
    assert response.status_code == 200
    assert "web/dashboard.html" in [t.name for t in response.templates]


# --- Logout and session expiry --------------------------------------------------------------


def test_logout_needs_post(tree, make_user):
    user = make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    client = Client()
    _post_login(client, "canbo70", PASSWORD)

    assert client.get("/logout/").status_code == 405
    assert _logged_in(client)

    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert not _logged_in(client)
    assert client.get("/").status_code == 302
    assert (
        AuditRecord.objects.filter(action="accounts.session.logout", actor_id=user.pk).count() == 1
    )


def test_logout_is_csrf_protected(tree, make_user):
    user = make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/logout/").status_code == 403
    assert _logged_in(client)


def test_session_expires_after_idle_time(tree, make_user):
    assert settings.SESSION_COOKIE_AGE != 1209600  # not Django's two-week default
    assert 0 < settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    make_user("canbo70", tree.hoankiem, role=Role.EDITOR)
    client = Client()

    login_response = _post_login(client, "canbo70", PASSWORD)
    cookie = login_response.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE
    # Every request renews the idle timer.
    renewed = client.get("/")
    assert (
        int(renewed.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == settings.SESSION_COOKIE_AGE
    )

    # Idle for longer than the limit: the session is gone.
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    # The front door sends an anonymous visitor to the public portal instead.
    assert client.get("/")["Location"] == "/portal/"


# --- Personal API tokens --------------------------------------------------------------------


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def editor(tree, make_user):
    return make_user("canbo70", tree.hoankiem, role=Role.EDITOR)


def test_token_created_over_api_works_and_is_stored_hashed(editor, client_for):
    _first, first_raw = api_token_create(actor=editor, user=editor, name="máy chủ")
    api = Client(enforce_csrf_checks=True)

    # A token cannot mint tokens (they would outlive its expiry and revocation) ...
    minted = api.post(
        "/api/v1/tokens",
        data={"name": "con"},
        content_type="application/json",
        headers=_bearer(first_raw),
    )
    assert minted.status_code == 401
    # ... a person in a logged-in session can.
    response = client_for(editor).post(
        "/api/v1/tokens", data={"name": "báo cáo tuần"}, content_type="application/json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    raw = body["token"]
    assert raw.startswith("ttcs_")
    assert body["name"] == "báo cáo tuần"
    me = api.get("/api/v1/me", headers=_bearer(raw))
    assert me.status_code == 200
    assert me.json()["username"] == "canbo70"
    assert me.json()["unit"]["code"] == "00070"

    # Neither secret is stored or logged in clear.
    for secret in (raw, first_raw):
        for row in ApiToken.objects.values():
            assert secret not in json.dumps(row, default=str)
        for row in AuditRecord.objects.values():
            assert secret not in json.dumps(row, default=str)
    # The secret is shown once: listing tokens does not reveal it.
    listing = api.get("/api/v1/tokens", headers=_bearer(raw))
    assert listing.status_code == 200
    assert raw not in listing.content.decode()
    assert {t["name"] for t in listing.json()} == {"máy chủ", "báo cáo tuần"}


def test_session_api_calls_need_csrf(editor):
    client = login(Client(enforce_csrf_checks=True), editor)
    assert client.get("/api/v1/me").status_code == 200

    refused = client.post("/api/v1/tokens", data={"name": "x"}, content_type="application/json")
    assert refused.status_code == 403
    assert not ApiToken.objects.exists()

    client.get("/account/")  # any page with a form sets the CSRF cookie
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    accepted = client.post(
        "/api/v1/tokens",
        data={"name": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert accepted.status_code == 201
    assert ApiToken.objects.filter(user=editor).count() == 1


def test_revoked_token_is_refused(editor):
    _keeper, keeper_raw = api_token_create(actor=editor, user=editor, name="giữ lại")
    doomed, doomed_raw = api_token_create(actor=editor, user=editor, name="thu hồi")
    api = Client()
    assert api.get("/api/v1/me", headers=_bearer(doomed_raw)).status_code == 200

    response = api.delete(f"/api/v1/tokens/{doomed.pk}", headers=_bearer(keeper_raw))

    assert response.status_code == 204
    refused = api.get("/api/v1/me", headers=_bearer(doomed_raw))
    assert refused.status_code == 401
    assert refused.json()["detail"]
    assert api.get("/api/v1/me", headers=_bearer(keeper_raw)).status_code == 200
    doomed.refresh_from_db()
    assert doomed.revoked_at is not None


def test_token_revoked_from_account_page_is_refused(editor, client_for):
    token, raw = api_token_create(actor=editor, user=editor, name="trang tài khoản")
    response = client_for(editor).post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert Client().get("/api/v1/me", headers=_bearer(raw)).status_code == 401


def test_cannot_revoke_someone_elses_token(editor, make_user, tree):
    other = make_user("canbo73", tree.cuanam, role=Role.EDITOR)
    theirs, their_raw = api_token_create(actor=other, user=other, name="của người khác")
    _mine, my_raw = api_token_create(actor=editor, user=editor, name="của tôi")

    response = Client().delete(f"/api/v1/tokens/{theirs.pk}", headers=_bearer(my_raw))

    assert response.status_code == 404
    assert Client().get("/api/v1/me", headers=_bearer(their_raw)).status_code == 200


def test_expired_token_is_refused(editor):
    token, raw = api_token_create(
        actor=editor, user=editor, name="hết hạn", expires_at=timezone.now() + dt.timedelta(days=1)
    )
    api = Client()
    assert api.get("/api/v1/me", headers=_bearer(raw)).status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))

    assert api.get("/api/v1/me", headers=_bearer(raw)).status_code == 401


def test_token_with_past_expiry_cannot_be_created(editor, client_for):
    api_token_create(actor=editor, user=editor, name="máy chủ")
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    response = client_for(editor).post(
        "/api/v1/tokens",
        data={"name": "cũ", "expires_at": past},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "expires_at"
    assert ApiToken.objects.count() == 1


def test_token_of_deactivated_account_is_refused(editor):
    _t, raw = api_token_create(actor=editor, user=editor, name="máy chủ")
    user_update(actor=None, user=editor, is_active=False)
    assert Client().get("/api/v1/me", headers=_bearer(raw)).status_code == 401


def test_me_without_credentials_is_401(db):
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["detail"]
