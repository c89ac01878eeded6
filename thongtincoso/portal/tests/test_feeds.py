"""Feeds read the way feed readers and podcast apps read them (feedparser)."""

from __future__ import annotations

import datetime as dt

import feedparser
import pytest
from django.test import Client
from django.utils import timezone

from thongtincoso.bulletins.models import Bulletin, Priority
from thongtincoso.bulletins.tests.factories import draft, published

from .helpers import attach, mp3_bytes

pytestmark = pytest.mark.django_db

FEEDS = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "podcast.xml": "application/rss+xml; charset=utf-8",
}


def fetch(path: str):
    response = Client().get(path)
    assert response.status_code == 200, path
    return response, feedparser.parse(response.content)


def with_audio(staff, tree, title: str, **fields) -> Bulletin:
    b = draft(staff.hk_editor, tree.hoankiem, title=title, **fields)
    attach(staff.hk_editor, b, mp3_bytes(12_345), f"{title}.mp3")
    from thongtincoso.bulletins import services

    services.bulletin_submit(actor=staff.hk_editor, bulletin=b)
    return services.bulletin_approve(actor=staff.hk_approver, bulletin=b)


@pytest.fixture
def bulletins(tree, staff):
    plain = published(
        staff.hk_editor,
        staff.hk_approver,
        tree.hoankiem,
        title="Lịch cắt điện",
        summary="Cắt điện khu phố 3 ngày 5/5",
        tags=["điện"],
    )
    spoken = with_audio(staff, tree, "Bản tin phát thanh sáng", priority=Priority.PRIORITY)
    no_summary = published(
        staff.hk_editor,
        staff.hk_approver,
        tree.hoankiem,
        title="Không có tóm tắt",
        body="<p>Nội dung <em>chính</em> của bản tin.</p>",
    )
    draft(staff.hk_editor, tree.hoankiem, title="Bản nháp")
    return plain, spoken, no_summary


@pytest.mark.parametrize("name", list(FEEDS))
def test_feeds_parse_cleanly_with_the_right_content_type(tree, bulletins, name):
    response, feed = fetch(f"/portal/00070/{name}")
    assert response["Content-Type"] == FEEDS[name]
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.feed.title
    assert feed.feed.link == "http://testserver/portal/00070/"
    titles = [e.title for e in feed.entries]
    assert "Bản nháp" not in titles
    for entry in feed.entries:
        assert entry.link.startswith("http://testserver/portal/00070/b/")
        assert entry.id == entry.link
        assert entry.published_parsed is not None


def test_rss_and_atom_items_carry_title_summary_date_and_categories(tree, bulletins):
    plain, spoken, no_summary = bulletins
    for name in ("rss.xml", "atom.xml"):
        _, feed = fetch(f"/portal/00070/{name}")
        entries = {e.title: e for e in feed.entries}
        assert set(entries) == {plain.title, spoken.title, no_summary.title}
        entry = entries[plain.title]
        assert entry.summary == "Cắt điện khu phố 3 ngày 5/5"
        assert {t.term for t in entry.tags} == {plain.category.name, "điện"}
        assert entry.link == f"http://testserver/portal/00070/b/{plain.pk}/"
        # Without a summary the body's text stands in, as text.
        assert entries[no_summary.title].summary == "Nội dung chính của bản tin."


def test_podcast_lists_only_bulletins_with_audio_with_enclosure_and_itunes_tags(
    tree, staff, bulletins
):
    _plain, spoken, _ = bulletins
    response, feed = fetch("/portal/00070/podcast.xml")
    xml = response.content.decode()
    assert 'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"' in xml
    assert "<itunes:explicit>false</itunes:explicit>" in xml
    assert feed.feed.author == "Phường Hoàn Kiếm"
    assert [e.title for e in feed.entries] == [spoken.title]
    (enclosure,) = feed.entries[0].enclosures
    audio = spoken.attachments.get()
    assert (
        enclosure.href == f"http://testserver/portal/files/{audio.pk}/ban-tin-phat-thanh-sang.mp3"
    )
    assert enclosure.length == "12345"
    assert enclosure.type == "audio/mpeg"
    # The enclosure really downloads.
    download = Client().get(enclosure.href)
    assert download.getvalue() == mp3_bytes(12_345)


def test_relayed_bulletins_are_in_the_commune_feed(tree, staff):
    b = published(
        staff.hn_editor, staff.hn_approver, tree.hanoi, title="Tin thành phố", targets=["00070"]
    )
    _, feed = fetch("/portal/00070/rss.xml")
    assert [e.link for e in feed.entries] == [f"http://testserver/portal/00070/b/{b.pk}/"]
    assert feed.entries[0].author == "Thành phố Hà Nội"


def test_feeds_hold_the_newest_fifty(tree, staff):
    first = published(staff.hk_editor, staff.hk_approver, tree.hoankiem, title="Tin 0")
    now = timezone.now()
    rows = []
    for i in range(1, 60):
        copy = Bulletin.objects.get(pk=first.pk)
        copy.pk = None
        copy.title = f"Tin {i}"
        copy.published_at = now + dt.timedelta(minutes=i)
        rows.append(copy)
    Bulletin.objects.bulk_create(rows)
    _, feed = fetch("/portal/00070/rss.xml")
    assert len(feed.entries) == 50
    assert feed.entries[0].title == "Tin 59"
    assert feed.entries[-1].title == "Tin 10"


def test_empty_feeds_are_still_valid(tree):
    for name in FEEDS:
        _, feed = fetch(f"/portal/79/{name}")
        assert feed.bozo == 0
        assert feed.entries == []


def test_feed_of_an_unknown_unit_is_not_found(tree):
    assert Client().get("/portal/99999/rss.xml").status_code == 404
    assert Client().get("/portal/99999/podcast.xml").status_code == 404
