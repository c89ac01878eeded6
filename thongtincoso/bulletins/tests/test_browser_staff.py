"""A bulletin from the commune's editor to the public page, in a real browser.

The editor writes and submits, the approver approves from the queue, and the commune's public
page shows it. Drives /usr/bin/chromium like web/tests/test_browser.py (skips without it); pages
are read in English through the language switch's cookie, so the test holds whatever the
Vietnamese catalog says.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve
from playwright.sync_api import Browser, Page, expect

from conftest import BROWSER_TEST, Tree, login
from thongtincoso.bulletins.models import Bulletin, Status

pytestmark = BROWSER_TEST


def _page_as(browser: Browser, base_url: str, user: Any) -> Page:
    """A browser logged in as `user` (2FA passed), reading pages in English."""
    context = browser.new_context(base_url=base_url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    context.set_default_timeout(15_000)
    session = login(Client(), user).cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base_url},
        ]
    )
    return context.new_page()


def test_editor_writes_approver_approves_and_the_public_sees_it(
    chromium: Browser, live_server: Any, transactional_db: None, tree: Tree, staff: Any
) -> None:
    title = "Lịch tiêm chủng mở rộng tháng 4"
    editor = _page_as(chromium, live_server.url, staff.hk_editor)

    editor.goto("/bulletins/")
    editor.get_by_role("link", name="New bulletin").click()
    expect(editor.get_by_role("heading", level=1)).to_contain_text("New bulletin")
    editor.get_by_label("Title").fill(title)
    editor.get_by_label("Summary").fill("Trạm y tế phường tiêm chủng ngày 20/4.")
    editor.get_by_label("Body").fill("Mời các gia đình đưa trẻ dưới 5 tuổi đến trạm y tế.")
    # The live estimate follows the text as it is typed (htmx).
    expect(editor.get_by_test_id("spoken")).to_contain_text("Spoken length about 0:")
    expect(editor.get_by_test_id("sms")).to_contain_text("1 message")
    editor.get_by_label("Category").select_option("kien-thuc-san-xuat-doi-song")
    editor.get_by_role("button", name="Save draft").click()

    expect(editor.get_by_role("heading", level=1)).to_have_text(title)
    expect(editor.get_by_test_id("status")).to_have_text("Draft")
    editor.get_by_role("button", name="Submit for approval").click()
    expect(editor.get_by_test_id("status")).to_have_text("Submitted for approval")
    editor.context.close()

    approver = _page_as(chromium, live_server.url, staff.hk_approver)
    approver.goto("/")
    expect(approver.get_by_test_id("queue-count")).to_contain_text("1")
    approver.get_by_role("link", name="Approval queue").click()
    expect(approver.get_by_role("heading", name=title)).to_be_visible()
    approver.get_by_role("button", name="Approve", exact=True).click()
    expect(approver.get_by_role("status")).to_contain_text("Approved.")
    expect(approver.get_by_text("Nothing is waiting for approval.")).to_be_visible()
    approver.context.close()

    bulletin = Bulletin.objects.get(title=title)
    assert bulletin.status == Status.PUBLISHED

    try:
        resolve(f"/portal/{tree.hoankiem.code}/")
    except Resolver404:
        pytest.skip("the public commune page (/portal/<code>/) is not built yet")
    public = chromium.new_page(base_url=live_server.url)
    public.goto(f"/portal/{tree.hoankiem.code}/")
    expect(public.get_by_text(title).first).to_be_visible()
    public.context.close()
