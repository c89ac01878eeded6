"""Bulletin text: sanitising rich text, deriving the reading text, estimating spoken length.

Pure functions with no database access, shared by services, views, the API and previews.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import nh3
from django.utils.safestring import SafeString, mark_safe

# What an editor's toolbar produces: structure and emphasis, links, tables; no style, no script,
# no images inline (images are attachments, checked by content).
ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "sub", "sup", "blockquote",
    "ul", "ol", "li", "h2", "h3", "h4", "a", "table", "thead", "tbody", "tr", "th", "td", "hr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"scope"}, "td": {"colspan", "rowspan"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto", "tel"}

_BLOCKS = {"p", "br", "li", "h2", "h3", "h4", "blockquote", "tr", "hr", "ul", "ol", "table", "div"}


def sanitise_html(html: str) -> str:
    """Keep the safe subset of HTML (nh3/Ammonia); everything else is removed, never escaped in."""
    return nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def safe_body_html(html: str) -> SafeString:
    """A stored body ready to render unescaped: the one place that marks user HTML safe.

    Bodies are sanitised when saved; cleaning again on output costs little and means a row written
    by anything else (a data fix, an old import) still cannot carry script to any page.
    """
    return mark_safe(sanitise_html(html))  # noqa: S308  (sanitised just above)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of (sanitised) HTML: one paragraph per line, spaces collapsed."""
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    lines = (
        re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip()
        for line in "".join(parser.parts).split("\n")
    )
    return "\n".join(line for line in lines if line)


# Commune loudspeakers are read at about 180 syllables a minute (issue 4's default rate).
SYLLABLES_PER_MINUTE = 180
SENTENCE_PAUSE_SECONDS = 0.45  # the speech pipeline's pause between sentences


def estimate_spoken_seconds(text: str, *, rate: int = SYLLABLES_PER_MINUTE) -> int:
    """Airtime of a reading text as the speech pipeline will read it.

    The text goes through the same normaliser as the audio (numbers, dates and abbreviations
    written out: "20/4/2026" is eleven syllables), then syllables at `rate` plus the pause after
    each sentence. The rendered audio records the real duration; this is the editor's estimate
    while typing.
    """
    from thongtincoso.speech.normalizer import count_syllables, normalize, split_sentences

    spoken = normalize(text or "")
    syllables = count_syllables(spoken)
    if not syllables:
        return 0
    # Sentence ends only (the pipeline also cuts long sentences at commas, without a long pause).
    pauses = max(len(split_sentences(spoken, max_syllables=10**9)) - 1, 0)
    return math.ceil(syllables * 60 / rate + pauses * SENTENCE_PAUSE_SECONDS)


# GSM 03.38 basic character set: Vietnamese with diacritics does not fit and goes as UCS-2.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def sms_parts(text: str) -> tuple[int, int, str]:
    """(characters, number of SMS segments, encoding) for a text sent as SMS."""
    text = text or ""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        length = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        # UCS-2 counts UTF-16 code units.
        length = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if length == 0:
        return 0, 0, encoding
    parts = 1 if length <= single else math.ceil(length / multi)
    return length, parts, encoding
