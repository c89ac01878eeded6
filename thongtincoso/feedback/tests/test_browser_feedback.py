"""Citizen feedback in a real browser on a phone: send with a photo, read the answer by code.

Drives Debian's Chromium through Playwright against pytest-django's live server (skipped when
/usr/bin/chromium is missing; see conftest.py). Run only these: `uv run pytest -m browser`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page, ViewportSize, expect

from conftest import BROWSER_TEST, login
from thongtincoso.accounts.roles import Role
from thongtincoso.feedback.models import Contact, Feedback, Photo

pytestmark = BROWSER_TEST

PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def phone_page(chromium: Browser, live_server: Any, transactional_db: None) -> Iterator[Page]:
    context = chromium.new_context(
        base_url=live_server.url,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        viewport=PHONE_VIEWPORT,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live_server.url}]
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 140, 60)).save(out, format="PNG")
    return out.getvalue()


def _no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_VIEWPORT["width"], f"{page.url} scrolls sideways ({width}px)"


def _staff_page(browser: Browser, base_url: str, user: Any) -> Page:
    """A desktop browser logged in as `user` (2FA passed), reading pages in English."""
    context = browser.new_context(base_url=base_url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(20_000)
    session = login(Client(), user).cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base_url},
        ]
    )
    return context.new_page()


def test_sender_sends_from_a_phone_and_reads_the_answer(
    phone_page: Page, tree: Any, make_user: Any
) -> None:
    page = phone_page
    officer = make_user("hk_officer", tree.hoankiem, role=Role.FEEDBACK_OFFICER)

    page.goto("/feedback/new/?commune=00070")
    expect(page.locator("#id_commune")).to_have_value("00070")
    expect(page.locator("#id_province")).to_have_value("01")
    _no_horizontal_scroll(page)

    # The category's questions arrive with htmx.
    page.select_option("#id_category", "truyen-thanh")
    page.get_by_label("Quá to").check()
    page.fill("#id_address", "Nhà văn hoá tổ dân phố số 5")
    page.fill("#id_description", "Loa phát quá to lúc 5 giờ sáng, cả xóm không ngủ được.")
    expect(page.locator("[data-fb-counter]")).to_contain_text("54 of 4000")
    photo: FilePayload = {"name": "loa.png", "mimeType": "image/png", "buffer": _png()}
    page.set_input_files("#id_photos", files=[photo])
    page.fill("#id_phone", "0912 345 678")
    page.locator("#id_consent").check()
    _no_horizontal_scroll(page)
    page.get_by_role("button", name="Send feedback").click()

    expect(page).to_have_url(re.compile(r"/feedback/track/[A-Z0-9]+/\?new=1&key=[\w-]+$"))
    code_box = page.get_by_test_id("tracking-code")
    expect(code_box).to_be_visible()
    code = code_box.inner_text().strip()
    feedback = Feedback.objects.get(code=code)
    # The receipt offers the sender-key link to keep (wrapped, not scrolling sideways).
    expect(page.get_by_test_id("receipt-link")).to_contain_text(f"?key={feedback.token}")
    assert feedback.attributes == {"van-de": "qua-to"}
    assert Photo.objects.filter(feedback=feedback).count() == 1
    assert Contact.objects.get(feedback=feedback).phone_key == "0912345678"
    assert "0912 345 678" not in page.content()
    _no_horizontal_scroll(page)

    # The commune's feedback officer answers from the staff pages, in a browser of their own.
    staff = _staff_page(page.context.browser, page.url.split("/feedback/")[0], officer)  # type: ignore[arg-type]
    staff.goto("/feedback/staff/?status=open")
    staff.get_by_role("link", name=code).click()
    staff.get_by_role("button", name="Accept (in scope; becomes public)").click()
    staff.get_by_label("Answer (public once published)").fill(
        "Đã chỉnh âm lượng và giờ phát từ ngày mai."
    )
    staff.get_by_role("button", name="Publish").click()
    expect(staff.get_by_test_id("status")).to_contain_text("Answered")
    staff.context.close()
    feedback.refresh_from_db()
    assert feedback.status == "answered"

    # Days later the sender types the code they wrote down, in lower case with a space.
    page.goto("/feedback/track/")
    page.fill("#id_code", f"{code[:4].lower()} {code[4:].lower()}")
    page.get_by_role("button", name="Show my feedback").click()
    expect(page).to_have_url(re.compile(rf"/feedback/track/{code}/$"))
    expect(page.get_by_test_id("answer")).to_contain_text(
        "Đã chỉnh âm lượng và giờ phát từ ngày mai."
    )
    _no_horizontal_scroll(page)

    # Not satisfied: the reopen form posts from the tracking page (its Referrer-Policy must still
    # let the browser send a real Origin, or CSRF protection refuses the form).
    # Without the receipt link, the sender proves it is them with the phone they gave; a wrong
    # number is refused first.
    page.fill("#id_reason", "Sáng nay loa vẫn phát rất to.")
    page.fill("#id_verification", "0987 654 321")
    page.get_by_role("button", name="Reopen my feedback").click()
    expect(page.get_by_text("does not match the phone number")).to_be_visible()
    feedback.refresh_from_db()
    assert feedback.status == "answered"
    page.fill("#id_verification", "0912 345 678")
    page.get_by_role("button", name="Reopen my feedback").click()
    expect(page.get_by_text("Your feedback was reopened")).to_be_visible()
    feedback.refresh_from_db()
    assert feedback.status == "reopened"
