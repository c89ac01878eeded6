"""The bulletin body's WYSIWYG editor (django-prose-editor) in a real browser.

An editor formats text with the toolbar and the keyboard instead of typing HTML; what is saved
is the editor's HTML after our own sanitiser. The editor's scripts, styles and font are served
from our static files: the page must not fetch anything from another host (intranet, no CDN).
Drives /usr/bin/chromium like web/tests/test_browser.py (skips without it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_prose_editor.config import allowlist_from_extensions
from playwright.sync_api import Browser, Page, expect

from conftest import Tree, login, needs_chromium
from thongtincoso.bulletins import content
from thongtincoso.bulletins.forms import BODY_EDITOR_EXTENSIONS
from thongtincoso.bulletins.models import Bulletin

from .factories import draft

CATEGORY = "kien-thuc-san-xuat-doi-song"


def test_the_toolbar_offers_only_what_the_sanitiser_keeps() -> None:
    """No button may produce markup that content.sanitise_html would silently remove."""
    produced = allowlist_from_extensions(BODY_EDITOR_EXTENSIONS)
    assert produced["tags"] <= content.ALLOWED_TAGS
    assert produced["url_schemes"] <= content.ALLOWED_URL_SCHEMES
    assert {"h2", "h3", "h4", "strong", "em", "u", "s", "sub", "sup", "a", "table", "hr"} <= (
        produced["tags"]
    )
    assert not produced["tags"] & {"img", "span", "h1", "pre", "code", "figure"}


class Session:
    """A logged-in browser page (2FA passed, pages in English) and every URL it requested."""

    def __init__(self, browser: Browser, base_url: str, user: Any) -> None:
        self.base_url = base_url
        self.requested: list[str] = []
        context = browser.new_context(
            base_url=base_url, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
        )
        context.set_default_timeout(15_000)
        session = login(Client(), user).cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [
                {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url},
                {"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": base_url},
            ]
        )
        self.errors: list[str] = []
        self.page: Page = context.new_page()
        self.page.on("request", lambda request: self.requested.append(request.url))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def external(self) -> list[str]:
        """Requested URLs outside the live server (data: URLs are inline, not fetched)."""
        own = self.base_url.rstrip("/") + "/"
        return [u for u in self.requested if not u.startswith((own, "data:", "blob:"))]

    def close(self) -> None:
        self.page.context.close()


@pytest.fixture
def editor_session(
    chromium: Browser, live_server: Any, transactional_db: None, tree: Tree, staff: Any
) -> Iterator[Session]:
    session = Session(chromium, live_server.url, staff.hk_editor)
    yield session
    session.close()


@pytest.mark.browser
@needs_chromium
def test_editor_makes_words_bold_and_the_html_is_saved(editor_session: Session) -> None:
    page = editor_session.page
    page.goto("/bulletins/")
    page.get_by_role("link", name="New bulletin").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("New bulletin")
    page.get_by_label("Title").fill("Lịch tiêm chủng tháng 4")
    page.get_by_label("Category").select_option(CATEGORY)

    # The editor's box carries the field's label; the raw textarea is hidden behind it.
    body = page.get_by_role("textbox", name="Body")
    expect(body).to_be_visible()
    expect(page.locator("textarea#id_body")).to_be_hidden()
    body.click()
    page.keyboard.type("Mời các gia đình đưa trẻ đến trạm y tế ")
    page.keyboard.press("Control+B")
    page.keyboard.type("đúng giờ")
    page.keyboard.press("Control+B")
    page.keyboard.type(".")
    page.keyboard.press("Enter")
    page.keyboard.type("Mang theo sổ tiêm chủng ")
    bold = page.get_by_role("button", name="bold", exact=True)
    bold.click()
    page.keyboard.type("bản gốc")
    bold.click()

    # The editor writes its HTML into the textarea, which is what htmx and the form post...
    expect(page.locator("textarea#id_body")).to_have_value(
        re.compile(r"<strong>đúng giờ</strong>.*<strong>bản gốc</strong>")
    )
    # ...and its "input" events reach htmx: the live estimate reads the body as it is typed.
    expect(page.get_by_test_id("spoken")).not_to_contain_text("about 0:00")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lịch tiêm chủng tháng 4")

    saved = Bulletin.objects.get(title="Lịch tiêm chủng tháng 4").body
    assert "<p>Mời các gia đình đưa trẻ đến trạm y tế <strong>đúng giờ</strong>.</p>" in saved
    assert "<p>Mang theo sổ tiêm chủng <strong>bản gốc</strong></p>" in saved

    assert any("/static/django_prose_editor/" in url for url in editor_session.requested)
    assert editor_session.external() == [], "the compose page fetched from another host"
    assert editor_session.errors == []


@pytest.mark.browser
@needs_chromium
def test_autosave_posts_what_the_editor_shows(
    editor_session: Session, tree: Tree, staff: Any
) -> None:
    bulletin = draft(staff.hk_editor, tree.hoankiem, title="Tổng vệ sinh cuối tuần")
    page = editor_session.page
    # htmx waits 30 s after the last change before autosaving; the test moves the clock instead.
    page.clock.install()
    page.goto(f"/bulletins/{bulletin.pk}/edit/")
    body = page.get_by_role("textbox", name="Body")
    expect(body).to_contain_text("Trạm y tế tiêm chủng ngày 20/4/2026.")
    body.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" Nhớ ")
    page.keyboard.press("Control+B")
    page.keyboard.type("mang sổ")
    page.keyboard.press("Control+B")
    expect(page.locator("textarea#id_body")).to_have_value(re.compile(r"<strong>mang sổ</strong>"))

    page.clock.fast_forward(31_000)
    expect(page.locator("#autosave")).to_contain_text("Saved at")
    bulletin.refresh_from_db()
    assert "<strong>mang sổ</strong>" in bulletin.body
    assert "Trạm y tế tiêm chủng ngày 20/4/2026. Nhớ" in bulletin.body
    assert editor_session.external() == []
    assert editor_session.errors == []


@pytest.mark.browser
@needs_chromium
def test_a_link_from_the_toolbar_dialog_is_kept(
    editor_session: Session, tree: Tree, staff: Any
) -> None:
    """The link dialog sits inside the bulletin form: it must not submit or pollute it."""
    bulletin = draft(staff.hk_editor, tree.hoankiem, body="<p>Xem lịch tại cổng thông tin.</p>")
    page = editor_session.page
    page.goto(f"/bulletins/{bulletin.pk}/edit/")
    body = page.get_by_role("textbox", name="Body")
    expect(body).to_contain_text("cổng thông tin")
    body.click()
    expect(body).to_be_focused()
    # Select "cổng thông tin" as a person would with the mouse: a DOM range over the words, which
    # ProseMirror takes over on `selectionchange` (keyboard word-jumps raced the editor's focus).
    page.evaluate(
        """(words) => {
            const box = document.querySelector('[contenteditable="true"]');
            const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const at = node.data.indexOf(words);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + words.length);
                getSelection().removeAllRanges();
                getSelection().addRange(range);
                return;
            }
        }""",
        "cổng thông tin",
    )
    page.wait_for_function("() => getSelection().toString() === 'cổng thông tin'")
    page.wait_for_timeout(200)  # the editor reads the new selection on its next event turn
    page.get_by_role("button", name="insert link", exact=True).click()
    page.get_by_label("URL").fill("https://hoankiem.hanoi.gov.vn/lich")
    page.get_by_role("button", name="Update").click()
    expect(page.locator("textarea#id_body")).to_have_value(
        re.compile(r'<a [^>]*href="https://hoankiem\.hanoi\.gov\.vn/lich"')
    )
    expect(page).to_have_url(re.compile(rf"/bulletins/{bulletin.pk}/edit/$"))

    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(bulletin.title)
    bulletin.refresh_from_db()
    assert '">cổng thông tin</a>.</p>' in bulletin.body
    assert 'href="https://hoankiem.hanoi.gov.vn/lich"' in bulletin.body
    assert (
        'rel="noopener noreferrer nofollow"' in bulletin.body
    )  # our sanitiser's, not the editor's
    assert editor_session.external() == []
    assert editor_session.errors == []
