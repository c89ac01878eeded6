"""Shared test fixtures: a small real unit tree, users with roles, logged-in clients.

Most tests use `tree`, a handful of real units (two provinces, their communes, a zone) created
through the same code paths as the official loader; tests of the loader itself load all 3,356.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import role_assign, user_create
from thongtincoso.units.models import Unit, UnitKind

# --- Real browser (Playwright driving Debian's Chromium) ------------------------------------

# Playwright must never download a browser of its own (offline machines; CI installs the
# distribution package), so browser tests skip when /usr/bin/chromium is missing.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: apt-get install chromium "
    "(Playwright's own browser download is never used)",
)
# `pytestmark = BROWSER_TEST` in a module whose every test drives the browser.
BROWSER_TEST = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop in this thread, so Django would refuse ORM
    # calls made from the test (fixtures, DB assertions) while the browser is open.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()


def pytest_sessionstart(session: Any) -> None:
    """Compile the gettext catalogs once, so every test sees pages as people do."""
    from pathlib import Path

    from django.core.management import call_command
    from django.utils.translation.reloader import translation_file_changed

    call_command("compile_catalogs", verbosity=0)
    # Drop catalogs cached before the .mo files existed (Django's autoreloader does the same).
    translation_file_changed(sender=None, file_path=Path("django.mo"))


@contextmanager
def tamper_cursor() -> Iterator[Any]:
    """A raw cursor as an attacker with the audit table owner's rights would have it: on
    PostgreSQL the append-only trigger is switched off first (inside the test's transaction)."""
    from django.db import connection

    from thongtincoso.audit.models import AuditRecord

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            table = AuditRecord._meta.db_table
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_record_append_only")
        yield cursor


PASSWORD = "correct-horse-battery-1"  # noqa: S105  (test fixture)


@dataclass
class Tree:
    nation: Unit
    hanoi: Unit  # province 01
    hoankiem: Unit  # commune 00070 in 01
    cuanam: Unit  # commune 00073 in 01 (sibling of hoankiem)
    zone: Unit  # a zone inside hoankiem
    hcm: Unit  # province 79 (another province)
    saigon: Unit  # commune 26734 in 79

    def by_name(self, name: str) -> Unit:
        return getattr(self, name)


def _unit(code: str, name: str, kind: str, type_name: str, parent: Unit | None) -> Unit:
    unit = Unit(
        code=code,
        name=name,
        kind=kind,
        type_name=type_name,
        parent=parent,
        valid_from=dt.date(2025, 7, 1),
    )
    unit.save()
    return unit


@pytest.fixture
def tree(db: Any) -> Tree:
    nation = _unit("VN", "Việt Nam", UnitKind.NATION, "Quốc gia", None)
    hanoi = _unit("01", "Thành phố Hà Nội", UnitKind.PROVINCE, "Thành phố", nation)
    hoankiem = _unit("00070", "Phường Hoàn Kiếm", UnitKind.COMMUNE, "Phường", hanoi)
    cuanam = _unit("00073", "Phường Cửa Nam", UnitKind.COMMUNE, "Phường", hanoi)
    zone = _unit("00070.001", "Tổ dân phố số 1", UnitKind.ZONE, "Tổ dân phố", hoankiem)
    hcm = _unit("79", "Thành phố Hồ Chí Minh", UnitKind.PROVINCE, "Thành phố", nation)
    saigon = _unit("26734", "Phường Sài Gòn", UnitKind.COMMUNE, "Phường", hcm)
    return Tree(nation, hanoi, hoankiem, cuanam, zone, hcm, saigon)


@pytest.fixture
def make_user(db: Any) -> Any:
    """make_user("name", unit, role=..., role_unit=..., covers_descendants=True)."""
    counter = {"n": 0}

    def make(
        username: str | None = None,
        unit: Unit | None = None,
        *,
        role: str | None = None,
        role_unit: Unit | None = None,
        covers_descendants: bool = True,
    ) -> User:
        counter["n"] += 1
        username = username or f"user{counter['n']}"
        assert unit is not None or role_unit is not None
        home = unit or role_unit
        assert home is not None
        user = user_create(
            actor=None, username=username, unit=home, password=PASSWORD, full_name=username.title()
        )
        if role:
            role_assign(
                actor=None,
                user=user,
                role=role,
                unit=role_unit or home,
                covers_descendants=covers_descendants,
            )
        return user

    return make


def login(client: Client, user: User) -> Client:
    """Log in through the session and, for roles that need it, a verified TOTP device."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="test", defaults={"confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def api_token_for(user: User) -> str:
    """A personal API token for `user`, with the TOTP device their role may require enrolled."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from thongtincoso.accounts.services import api_token_create

    TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
    return api_token_create(actor=user, user=user, name="test token")[1]


@pytest.fixture
def client_for(db: Any) -> Any:
    """client_for(user) -> a Client logged in as user with 2FA satisfied."""

    def make(user: User) -> Client:
        return login(Client(), user)

    return make


@pytest.fixture
def system_admin(tree: Tree, make_user: Any) -> User:
    return make_user("sysadmin", tree.nation, role=Role.SYSTEM_ADMIN)
