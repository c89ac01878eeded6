"""Word-level differences between two revisions of a bulletin, for the revisions page.

Pure functions: no database, no HTML. Templates render the chunks with <del>/<ins> and Django's
autoescaping, so nothing a user wrote is ever marked safe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Protocol

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .content import html_to_text

EQUAL, DELETE, INSERT = "equal", "delete", "insert"

# Words, runs of whitespace and single punctuation marks: joined back they give the text exactly.
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)

TEXT_FIELDS: list[tuple[str, Promise]] = [
    ("title", _("Title")),
    ("summary", _("Summary")),
    ("body", _("Body")),
    ("reading_text", _("Reading text")),
]
DETAIL_FIELDS: list[tuple[str, Promise]] = [
    ("category", _("Category")),
    ("language", _("Language")),
    ("channels", _("Channels")),
    ("priority", _("Priority")),
    ("valid_from", _("Valid from")),
    ("valid_until", _("Valid until")),
    ("targets", _("Targets")),
    ("tags", _("Tags")),
    ("source_note", _("Source")),
]


class RevisionLike(Protocol):
    title: str
    summary: str
    body: str
    reading_text: str
    details: Any


@dataclass(frozen=True)
class Chunk:
    op: str  # EQUAL, DELETE or INSERT
    text: str


@dataclass(frozen=True)
class TextDiff:
    field: str
    label: Promise
    chunks: list[Chunk]

    @property
    def changed(self) -> bool:
        return any(c.op != EQUAL for c in self.chunks)


@dataclass(frozen=True)
class DetailChange:
    field: str
    label: Promise
    old: str
    new: str


@dataclass(frozen=True)
class RevisionDiff:
    texts: list[TextDiff]
    details: list[DetailChange]

    @property
    def changed(self) -> bool:
        return bool(self.details) or any(t.changed for t in self.texts)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text or "")


def word_diff(old: str, new: str) -> list[Chunk]:
    """The changes from `old` to `new`, word by word; adjacent chunks of one kind are merged."""
    a, b = tokens(old), tokens(new)
    chunks: list[Chunk] = []

    def add(op: str, parts: list[str]) -> None:
        text = "".join(parts)
        if not text:
            return
        if chunks and chunks[-1].op == op:
            chunks[-1] = Chunk(op, chunks[-1].text + text)
        else:
            chunks.append(Chunk(op, text))

    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add(EQUAL, a[i1:i2])
        else:
            # A replacement reads best as the whole old phrase struck out, then the new one.
            add(DELETE, a[i1:i2])
            add(INSERT, b[j1:j2])
    return chunks


def _detail_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def details_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[DetailChange]:
    """The details (category, priority, targets…) whose value differs, in a fixed order."""
    changes = []
    for field, label in DETAIL_FIELDS:
        before, after = _detail_text(old.get(field)), _detail_text(new.get(field))
        if before != after:
            changes.append(DetailChange(field, label, before, after))
    return changes


def revision_diff(old: RevisionLike, new: RevisionLike) -> RevisionDiff:
    """Title, summary, body (as text) and reading text word by word, plus changed details."""
    texts = []
    for field, label in TEXT_FIELDS:
        before, after = getattr(old, field) or "", getattr(new, field) or ""
        if field == "body":
            before, after = html_to_text(before), html_to_text(after)
        texts.append(TextDiff(field, label, word_diff(before, after)))
    return RevisionDiff(texts, details_diff(old.details or {}, new.details or {}))
