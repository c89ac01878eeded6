"""The public pages in a real browser: planted payloads never run (no alert dialog opens).

Same set-up as thongtincoso/web/tests/test_browser.py: Debian's Chromium through Playwright,
skipped when /usr/bin/chromium is missing. Run only browser tests: `uv run pytest -m browser`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Dialog, expect, sync_playwright

from .test_injection import plant
from .xss import PAYLOADS

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test's
    # fixtures must still be allowed.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            yield browser
            browser.close()


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
