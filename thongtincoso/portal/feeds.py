"""A unit's bulletins as RSS 2.0, Atom 1.0 and a podcast (RSS 2.0 with audio enclosures).

Item descriptions are plain text (the summary, or the body's text), HTML-escaped here: RSS and Atom
readers treat a description as HTML, so a `<script>` typed into a summary must reach them as
`&lt;script&gt;` text, not as markup. The feed generator then escapes once more for XML.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.syndication.views import Feed
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Enclosure, Rss201rev2Feed
from django.utils.html import escape
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.xmlutils import SimplerXMLGenerator

from thongtincoso.bulletins.content import html_to_text
from thongtincoso.bulletins.models import Bulletin
from thongtincoso.units.models import Unit

from . import downloads
from . import selectors as portal_selectors

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
DESCRIPTION_WORDS = 80
# Characters XML 1.0 cannot carry at all (not even escaped). The services strip control
# characters from what editors type, but a feed must stay well-formed whatever a row holds.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


@dataclass(frozen=True)
class FeedSource:
    """The unit a feed is about, and the site address its absolute links start with."""

    unit: Unit
    base_url: str  # "https://ttcs.example.gov.vn", from the request


@dataclass(frozen=True)
class FeedEntry:
    title: str
    link: str  # absolute
    description: str  # escaped plain text (an HTML fragment without markup)
    pubdate: dt.datetime | None
    categories: tuple[str, ...]
    author: str
    enclosure: Enclosure | None = None


def plain_description(bulletin: Bulletin) -> str:
    """The summary, or the first words of the body as text; never HTML."""
    text = bulletin.summary or html_to_text(bulletin.body).replace("\n", " ")
    return xml_text(Truncator(text).words(DESCRIPTION_WORDS, truncate="…"))


def _programme(bulletin: Bulletin) -> Any:
    try:
        row = bulletin.speech_audio  # type: ignore[attr-defined]
    except ObjectDoesNotExist:
        return None
    return row.asset


def _entry(source: FeedSource, bulletin: Bulletin, *, with_audio: bool = False) -> FeedEntry:
    link = source.base_url + reverse("portal:bulletin", args=[source.unit.code, bulletin.pk])
    text = plain_description(bulletin)
    enclosure = None
    programme = _programme(bulletin) if with_audio else None
    if programme is not None:
        # The bulletin read aloud (loudness-normalised MP3) is the episode when there is one.
        enclosure = Enclosure(
            url=source.base_url + reverse("speech:audio_file", args=[programme.sha256, "mp3"]),
            length=str(programme.mp3_size),
            mime_type="audio/mpeg",
        )
    elif with_audio and getattr(bulletin, "audio", None):
        # RSS allows one enclosure per item; a bulletin's first audio file is its episode.
        audio = bulletin.audio[0]  # type: ignore[attr-defined]
        enclosure = Enclosure(
            url=source.base_url
            + reverse("portal:attachment", args=[audio.pk, downloads.url_name(audio)]),
            length=str(audio.size),
            mime_type=audio.content_type,
        )
    return FeedEntry(
        title=xml_text(bulletin.title),
        link=link,
        description=escape(text),
        pubdate=bulletin.published_at,
        categories=tuple(
            xml_text(name)
            for name in (bulletin.category.name, *(t.name for t in bulletin.tags.all()))
        ),
        author=xml_text(bulletin.unit.name),
        enclosure=enclosure,
    )


class PodcastRssFeed(Rss201rev2Feed):
    """RSS 2.0 with the iTunes podcast tags podcast apps expect."""

    def rss_attributes(self) -> dict[str, str]:
        return {**super().rss_attributes(), "xmlns:itunes": ITUNES_NS}

    def add_root_elements(self, handler: SimplerXMLGenerator) -> None:
        super().add_root_elements(handler)
        handler.addQuickElement("itunes:author", self.feed["author_name"])
        handler.addQuickElement("itunes:summary", self.feed["description"])
        handler.addQuickElement("itunes:explicit", "false")
        if self.feed.get("itunes_image"):
            handler.addQuickElement("itunes:image", "", {"href": self.feed["itunes_image"]})

    def add_item_elements(self, handler: SimplerXMLGenerator, item: dict[str, Any]) -> None:
        super().add_item_elements(handler, item)
        handler.addQuickElement("itunes:author", item["author_name"])
        handler.addQuickElement("itunes:summary", item["itunes_summary"])
        handler.addQuickElement("itunes:explicit", "false")


class UnitBulletinsFeed(Feed):
    """RSS 2.0: the newest 50 bulletins on a unit's portal page."""

    feed_type: type[Rss201rev2Feed] | type[Atom1Feed] = Rss201rev2Feed

    def get_object(self, request: HttpRequest, code: str) -> FeedSource:  # type: ignore[override]
        unit = portal_selectors.portal_unit(code)
        if unit is None:
            raise ObjectDoesNotExist
        return FeedSource(unit, f"{request.scheme}://{request.get_host()}")

    def title(self, obj: FeedSource) -> str:
        return _("Bulletins of %(unit)s") % {"unit": obj.unit.name}

    def link(self, obj: FeedSource) -> str:
        return reverse("portal:unit", args=[obj.unit.code])

    def description(self, obj: FeedSource) -> str:
        return _("Information for the public published by or relayed to %(unit)s.") % {
            "unit": obj.unit.name
        }

    def author_name(self, obj: FeedSource) -> str:
        return obj.unit.name

    def items(self, obj: FeedSource) -> list[FeedEntry]:
        return [_entry(obj, b) for b in portal_selectors.portal_feed_bulletins(obj.unit)]

    def item_title(self, item: FeedEntry) -> str:
        return item.title

    def item_link(self, item: FeedEntry) -> str:
        return item.link

    def item_description(self, item: FeedEntry) -> str:
        return item.description

    def item_guid(self, item: FeedEntry) -> str:
        return item.link

    def item_guid_is_permalink(self, item: FeedEntry) -> bool:
        return True

    def item_pubdate(self, item: FeedEntry) -> dt.datetime | None:
        return item.pubdate

    def item_updateddate(self, item: FeedEntry) -> dt.datetime | None:
        return item.pubdate

    def item_categories(self, item: FeedEntry) -> tuple[str, ...]:
        return item.categories

    def item_author_name(self, item: FeedEntry) -> str:
        return item.author


class UnitBulletinsAtomFeed(UnitBulletinsFeed):
    """Atom 1.0: the same items."""

    feed_type = Atom1Feed

    def subtitle(self, obj: FeedSource) -> str:
        return self.description(obj)


class UnitPodcastFeed(UnitBulletinsFeed):
    """The bulletins that have audio, as podcast episodes (one audio file each)."""

    feed_type = PodcastRssFeed

    def title(self, obj: FeedSource) -> str:
        return _("Audio bulletins of %(unit)s") % {"unit": obj.unit.name}

    def items(self, obj: FeedSource) -> list[FeedEntry]:
        return [
            _entry(obj, b, with_audio=True)
            for b in portal_selectors.portal_podcast_bulletins(obj.unit)
        ]

    def item_enclosures(self, item: FeedEntry) -> list[Enclosure]:
        return [item.enclosure] if item.enclosure else []

    def item_extra_kwargs(self, item: FeedEntry) -> dict[str, Any]:
        # Plain text by Apple's rules, but some podcast apps render it as HTML: escaped too.
        return {"itunes_summary": item.description}
