"""The staff interface in a real browser: what a person sees when they log in.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright against pytest-django's live
server. Playwright must never download a browser of its own (offline machines, CI installs the
distribution package), so these tests skip when /usr/bin/chromium is missing.
Run only these: `uv run pytest -m browser`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, expect

from conftest import BROWSER_TEST, PASSWORD, Tree, login
from thongtincoso.accounts.roles import Role

PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"

pytestmark = BROWSER_TEST


def _new_page(browser: Browser, base_url: str, **context_options: Any) -> Page:
    # A browser set to Vietnamese, like the staff of a commune (Accept-Language: vi-VN).
    context = browser.new_context(
        base_url=base_url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **context_options
    )
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.fixture
def page(chromium: Browser, live_server: Any, transactional_db: None) -> Iterator[Page]:
    page = _new_page(chromium, live_server.url)
    yield page
    page.context.close()


@pytest.fixture
def phone_page(chromium: Browser, live_server: Any, transactional_db: None) -> Iterator[Page]:
    page = _new_page(
        chromium,
        live_server.url,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield page
    page.context.close()


def _log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập", exact=True).click()


def _heading(page: Page) -> Any:
    return page.get_by_role("heading", level=1)


def test_editor_logs_in_and_sees_the_dashboard_in_vietnamese(
    page: Page, live_server: Any, tree: Tree, make_user: Any
) -> None:
    make_user("bientap", tree.hanoi, role=Role.EDITOR)

    page.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(_heading(page)).to_have_text("Đăng nhập")
    # The stylesheet is served (live_server's static handler): the top bar has its red.
    expect(page.locator(".topbar")).to_have_css("background-color", "rgb(164, 22, 26)")

    _log_in(page, "bientap")

    expect(page).to_have_url(f"{live_server.url}/")
    expect(_heading(page)).to_have_text("Trang tổng quan")
    expect(page.get_by_role("heading", level=2)).to_contain_text("Thành phố Hà Nội")
    expect(page.get_by_role("link", name="Xem đơn vị")).to_be_visible()
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()


def test_header_button_switches_the_same_page_to_english_and_back(
    page: Page, live_server: Any, tree: Tree, make_user: Any
) -> None:
    make_user("bientap", tree.hanoi, role=Role.EDITOR)
    _log_in(page, "bientap")
    expect(_heading(page)).to_have_text("Trang tổng quan")

    page.get_by_role("button", name="English").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(_heading(page)).to_have_text("Dashboard")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_contain_text("Thành phố Hà Nội")

    page.get_by_role("button", name="Tiếng Việt").click()

    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(_heading(page)).to_have_text("Trang tổng quan")


def _totp_code(displayed_secret: str) -> str:
    """What an authenticator app shows for the key typed in by hand (spaces, no padding)."""
    raw = re.sub(r"\s+", "", displayed_secret).upper()
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    return f"{TOTP(key).token():06d}"


def test_unit_admin_sets_up_two_factor_authentication_at_first_login(
    page: Page, live_server: Any, tree: Tree, make_user: Any
) -> None:
    admin = make_user("quantri", tree.hanoi, role=Role.UNIT_ADMIN)

    _log_in(page, "quantri")

    expect(page).to_have_url(re.compile(r"/account/2fa/setup/"))
    expect(_heading(page)).to_have_text("Thiết lập xác thực hai lớp")
    expect(page.locator("figure.qr svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    assert " " in secret  # shown in groups of four, easier to type

    page.get_by_label("Mã 6 chữ số trên ứng dụng xác thực").fill(_totp_code(secret))
    page.get_by_role("button", name="Bật", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(_heading(page)).to_have_text("Trang tổng quan")
    expect(page.get_by_role("status")).to_contain_text(
        "Đã bật xác thực hai lớp cho tài khoản của bạn."
    )
    expect(page.get_by_role("link", name="Nhật ký hệ thống", exact=True)).to_be_visible()
    assert TOTPDevice.objects.filter(user=admin, confirmed=True).count() == 1


def test_wrong_password_shows_the_generic_error_and_stays_on_login(
    page: Page, live_server: Any, tree: Tree, make_user: Any
) -> None:
    make_user("bientap", tree.hanoi, role=Role.EDITOR)
    generic = "Tên đăng nhập hoặc mật khẩu không đúng."

    _log_in(page, "bientap", "not-the-password-1")

    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(_heading(page)).to_have_text("Đăng nhập")
    expect(page.get_by_role("alert")).to_contain_text(generic)

    # An unknown user name reads exactly the same, so accounts cannot be probed.
    _log_in(page, "khongtontai", "not-the-password-1")
    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.get_by_role("alert")).to_contain_text(generic)


def test_dashboard_is_usable_on_a_phone(
    phone_page: Page, live_server: Any, tree: Tree, make_user: Any
) -> None:
    page = phone_page
    make_user("bientap", tree.hanoi, role=Role.EDITOR)
    _log_in(page, "bientap")
    expect(_heading(page)).to_have_text("Trang tổng quan")

    # Nothing wider than the screen: no sideways scrolling on a 390 px phone.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    for name in ("Trang tổng quan", "Đơn vị", "Xem đơn vị"):
        expect(page.get_by_role("link", name=name, exact=True).first).to_be_in_viewport()
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_in_viewport()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-mobile.png"), full_page=True)


def test_busy_unit_admin_dashboard_fits_a_phone(
    phone_page: Page, live_server: Any, tree: Tree, make_user: Any
) -> None:
    """The longest menu (audit log, back office) and the recent-changes list on a phone."""
    page = phone_page
    admin = make_user("quantri", tree.hanoi, role=Role.UNIT_ADMIN)
    make_user("canbo.hoankiem", tree.hoankiem, role=Role.EDITOR)  # audited: recent changes
    # Skip the 2FA enrolment shown above: reuse the session of an already verified login.
    session = login(Client(), admin).cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    page.goto("/")
    expect(_heading(page)).to_have_text("Trang tổng quan")
    expect(page.get_by_role("heading", name="Thay đổi gần đây")).to_be_visible()

    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    expect(page.get_by_role("link", name="Nhật ký hệ thống", exact=True)).to_be_in_viewport()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-mobile-admin.png"), full_page=True)


def test_system_admin_reloads_the_official_units_and_sees_the_job_finish_on_a_phone(
    phone_page: Page, live_server: Any, tree: Tree, system_admin: Any
) -> None:
    """The reload button on the nation's page leads to the job page, which ends at 100%.

    Huey runs in immediate mode in tests, so the job (the real loader, 3,356 units) has finished
    by the time the POST answers; in production the page polls until it does.
    """
    page = phone_page
    # Skip the 2FA enrolment: reuse the session of an already verified login.
    session = login(Client(), system_admin).cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    page.goto("/units/VN/")
    expect(_heading(page)).to_contain_text("Việt Nam")

    page.get_by_role("button", name="Tải lại danh mục đơn vị chính thức").click()

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    expect(_heading(page)).to_have_text("Tải lại danh mục đơn vị hành chính chính thức")
    expect(page.get_by_test_id("job-state")).to_have_text("Thành công")
    expect(page.get_by_role("progressbar", name="Tiến độ")).to_have_attribute("value", "100")
    expect(page.get_by_test_id("job-count")).to_have_text("3356/3356 · 100%")
    result = page.get_by_test_id("job-result")
    expect(result).to_contain_text("Tạo mới")
    expect(result).to_contain_text("Tổng cộng")
    expect(result.locator("dd").last).to_have_text("3356")
    # Finished: nothing polls any more.
    assert page.locator("[hx-trigger]").count() == 0

    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "job-mobile.png"), full_page=True)
