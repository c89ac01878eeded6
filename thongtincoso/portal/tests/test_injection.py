"""The injection battery: stored-XSS payloads in every field a visitor sees, then every public page
and feed is fetched and checked for markup that could run (not for the text, which may show)."""

from __future__ import annotations

import feedparser
import pytest
from django.test import Client
from django.urls import reverse

from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Attachment, Bulletin, Tag
from thongtincoso.bulletins.tests.factories import draft
from thongtincoso.portal import downloads

from .helpers import attach, mp3_bytes, pdf_bytes, png_bytes
from .xss import PAYLOADS, feed_problems, html_problems

pytestmark = pytest.mark.django_db


def plant(staff, tree, payload: str, n: int, *, raw: bool) -> Bulletin:
    """A published bulletin with `payload` in title, summary, body, source, tags and file names.

    With raw=True the text columns are then overwritten around the services (no cleaning on the
    way in), so only the output side stands between the payload and a visitor.
    """
    b = draft(
        staff.hk_editor,
        tree.hoankiem,
        title=payload,
        summary=payload if n % 2 == 0 else "",  # odd ones: feeds fall back to the body's text
        body=f"<p>{payload}</p>{payload}",
        source_note=payload,
    )
    attach(staff.hk_editor, b, mp3_bytes(2_000 + n), f"a{n}.mp3")
    attach(staff.hk_editor, b, png_bytes(), f"i{n}.png")
    attach(staff.hk_editor, b, pdf_bytes(), f"p{n}.pdf")
    tag, _ = Tag.objects.get_or_create(name=f"{n}{payload}"[:50])
    b.tags.add(tag)
    services.bulletin_submit(actor=staff.hk_editor, bulletin=b)
    b = services.bulletin_approve(actor=staff.hk_approver, bulletin=b)
    Attachment.objects.filter(bulletin=b).update(original_name=payload[:190])
    if raw:
        Bulletin.objects.filter(pk=b.pk).update(
            title=payload,
            summary=payload if n % 2 == 0 else "",
            body=f"<p>{payload}</p>{payload}",
            source_note=payload[:200],
        )
    return b


@pytest.fixture
def planted(tree, staff):
    rows = []
    for n, payload in enumerate(PAYLOADS):
        rows.append(plant(staff, tree, payload, n, raw=False))
        rows.append(plant(staff, tree, payload, n + 100, raw=True))
    return rows


def test_there_are_enough_payloads():
    assert len(PAYLOADS) >= 15


def test_no_public_page_carries_executable_markup(tree, planted):
    client = Client()
    pages = ["/portal/", "/portal/00070/", "/portal/00070/?page=2", "/portal/00070/?page=3"]
    pages += ["/portal/01/", "/portal/?q=" + PAYLOADS[0]]
    pages += [reverse("portal:bulletin", args=["00070", b.pk]) for b in planted]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        problems = html_problems(response.content.decode())
        assert problems == [], f"{path}: {problems}"
    # The payloads are there, as text.
    html = client.get(reverse("portal:bulletin", args=["00070", planted[1].pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_search_box_reflects_payloads_as_text(tree, planted):
    for payload in PAYLOADS:
        response = Client().get("/portal/", {"q": payload})
        assert response.status_code == 200
        assert html_problems(response.content.decode()) == [], payload


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml", "podcast.xml"])
def test_feeds_stay_well_formed_and_carry_text_only(tree, planted, name):
    response = Client().get(f"/portal/00070/{name}")
    assert response.status_code == 200
    assert feed_problems(response.content) == []
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert len(feed.entries) == min(50, len(planted))
    titles = {e.title for e in feed.entries}
    assert '"><img src=x onerror=alert(17)>' in titles  # as text, for the reader to escape
    for entry in feed.entries:
        assert "<script" not in entry.get("summary", "").lower()
    if name == "podcast.xml":
        assert all(len(e.enclosures) == 1 for e in feed.entries)


def test_file_names_are_safe_in_download_headers(tree, planted):
    for attachment in Attachment.objects.filter(bulletin__in=planted[:20]):
        path = reverse("portal:attachment", args=[attachment.pk, downloads.url_name(attachment)])
        assert path.isascii()
        response = Client().get(path)
        assert response.status_code == 200
        disposition = response["Content-Disposition"]
        assert disposition.startswith("inline; filename")
        assert "<" not in disposition
        assert "\n" not in disposition
        assert disposition.endswith(f".{attachment.extension}") or disposition.endswith(
            f'.{attachment.extension}"'
        )
        assert response["X-Content-Type-Options"] == "nosniff"
