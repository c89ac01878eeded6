"""The public pages in a real browser: planted payloads never run (no alert dialog opens).

Same set-up as thongtincoso/web/tests/test_browser.py: Debian's Chromium through Playwright,
skipped when /usr/bin/chromium is missing. Run only browser tests: `uv run pytest -m browser`.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from playwright.sync_api import Browser, Dialog, expect

from conftest import BROWSER_TEST

from .test_injection import plant
from .xss import PAYLOADS

pytestmark = BROWSER_TEST


def test_planted_payloads_open_no_dialog(
    chromium: Browser, live_server: Any, transactional_db: None, tree: Any, staff: Any
) -> None:
    planted = [plant(staff, tree, p, n, raw=True) for n, p in enumerate(PAYLOADS)]
    context = chromium.new_context(base_url=live_server.url, locale="vi-VN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    # The control: a payload rendered unescaped is caught by this very listener.
    page.set_content("<img src=x onerror=alert('control')>")
    page.wait_for_timeout(150)
    assert dialogs == ["control"]
    dialogs.clear()
    paths = [reverse("portal:bulletin", args=["00070", b.pk]) for b in planted]
    paths += ["/portal/00070/", "/portal/00070/?page=2", "/portal/?q=%3Cscript%3Ealert(0)"]
    try:
        for path in paths:
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_have_count(1)
            # Let load and toggle handlers, lazy images and media errors fire.
            page.wait_for_timeout(150)
    finally:
        context.close()
    assert dialogs == []
