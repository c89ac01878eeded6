"""A password alone must never be enough to replace an admin's second factor."""

from __future__ import annotations

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD
from thongtincoso.accounts.roles import Role


def test_password_alone_cannot_enrol_a_new_device(tree, make_user, client):
    admin = make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN)
    TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    assert client.post("/login/", {"username": "hn-admin", "password": PASSWORD}).status_code == 302

    # Password known, second factor not passed: the setup page sends to verification.
    setup = client.get("/account/2fa/setup/")
    assert setup.status_code == 302
    assert setup["Location"].startswith("/account/2fa/verify/")
    assert TOTPDevice.objects.filter(user=admin).count() == 1

    # Neither does posting a code for a device the attacker made up.
    client.post("/account/2fa/setup/", {"code": "123456"})
    assert TOTPDevice.objects.filter(user=admin, confirmed=True).count() == 1
    assert client.get("/").status_code == 302


def test_verified_admin_reaches_pages_after_the_code(tree, make_user, client):
    admin = make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client.post("/login/", {"username": "hn-admin", "password": PASSWORD})
    code = f"{totp(device.bin_key):06d}"
    ok = client.post("/account/2fa/verify/", {"code": code, "next": "/units/01/"})
    assert ok.status_code == 302
    assert ok["Location"] == "/units/01/"
    assert client.get("/units/01/").status_code == 200


def test_wrong_code_is_refused_and_then_throttled(tree, make_user, client):
    admin = make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client.post("/login/", {"username": "hn-admin", "password": PASSWORD})
    wrong = f"{(totp(device.bin_key) + 1) % 10**6:06d}"
    refused = client.post("/account/2fa/verify/", {"code": wrong})
    assert refused.status_code == 200
    assert refused.context["form"].errors["code"]
    # django-otp backs off after a failure, so even the right code must wait a moment.
    right = f"{totp(device.bin_key):06d}"
    assert client.post("/account/2fa/verify/", {"code": right}).status_code == 200
    assert client.get("/").status_code == 302
