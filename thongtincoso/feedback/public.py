"""What the public may see of a feedback: the portal, Open311, the status page, feeds.

Built from `Feedback`, its published answer (`Answer.published_text`) and its public events only;
`Contact` is never read here, and the free text people wrote goes through `public_text()`, which
hides phone numbers and e-mail addresses a sender may have typed into the description itself.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from .models import (
    PUBLIC_EVENTS,
    PUBLIC_STATUSES,
    Answer,
    Event,
    EventKind,
    Feedback,
    Photo,
    Status,
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A phone number: 0 or (+)84, then 8 to 11 more digits, possibly split by spaces, dots or dashes,
# the area code possibly in brackets ("(024) 3825 1234", "+84 912 345 678", "0912.345.678").
# An amount grouped in thousands ("15.000.000.000 đồng", "84.000.000") is matched first, as a
# whole, and kept, so the scan never starts a phone number in the middle of it.
_PHONE = re.compile(
    r"(?P<amount>(?<![\w.,])[1-9]\d{0,2}(?:[.,]\d{3})+(?![.,]?\d))"
    r"|(?<![\w])(?:\(?\+?84\)?[\s.\-]?|\(?0)(?:\d\)?[\s.\-]?){8,10}\d?(?![\w])"
)


def public_text(text: str) -> str:
    """The text with e-mail addresses and phone numbers replaced by a note.

    Dates (13/02/2026) and amounts (1.500.000 đồng) stay readable.
    """
    if not text:
        return ""
    masked = _EMAIL.sub(lambda _m: _("[e-mail hidden]"), text)
    return _PHONE.sub(
        lambda m: m.group(0) if m.group("amount") else _("[phone number hidden]"), masked
    )


@dataclass(frozen=True)
class PublicEvent:
    kind: str
    label: str
    at: dt.datetime
    text: str
    to_unit: str


@dataclass(frozen=True)
class PublicFeedback:
    code: str
    category_code: str
    category_name: str
    commune_code: str
    commune_name: str
    unit_name: str
    status: str
    status_label: str
    is_open: bool
    description: str
    address: str
    lat: Decimal | None
    long: Decimal | None
    received_at: dt.datetime
    updated_at: dt.datetime
    due_date: dt.date
    answered_at: dt.datetime | None
    answer: str
    reject_reason: str
    merged_into: str
    photo_count: int
    events: list[PublicEvent] = field(default_factory=list)


def public_queryset() -> QuerySet[Feedback]:
    """Feedback the public may list: accepted by a handler (checked for what it says), not
    rejected. A transfer straight from "received" does not publish it: the receiving unit's
    handler accepts it first."""
    return Feedback.objects.filter(
        status__in=PUBLIC_STATUSES, accepted_at__isnull=False
    ).select_related("category", "commune", "unit", "duplicate_of")


def _published() -> QuerySet[Answer]:
    # `published_text`, not the state: a reopened feedback's answer goes back to draft while
    # the new one is written, and the previous answer stays public meanwhile.
    return Answer.objects.exclude(published_text="")


def published_answer(feedback: Feedback) -> Answer | None:
    """The published answer; a merged duplicate shares the answer of the one it joined."""
    target_id = feedback.duplicate_of_id or feedback.pk
    return _published().filter(feedback_id=target_id).first()


def published_answers(items: Iterable[Feedback]) -> dict[int, Answer]:
    """The published answers of many feedback in one query, by the id of the feedback that
    carries them (a merged duplicate's master): look up `f.duplicate_of_id or f.pk`."""
    targets = {f.duplicate_of_id or f.pk for f in items}
    if not targets:
        return {}
    return {a.feedback_id: a for a in _published().filter(feedback_id__in=targets)}


def to_public_list(items: Iterable[Feedback]) -> list[PublicFeedback]:
    """A page of feedback for a list, in two queries whatever its length (answers, photo counts).

    `items` should come from `public_queryset()` (category, commune, unit, duplicate_of joined).
    """
    rows = list(items)
    if not rows:
        return []
    answers = published_answers(rows)
    photo_counts = dict(
        Photo.objects.filter(feedback_id__in=[f.pk for f in rows])
        .values("feedback_id")
        .annotate(n=Count("id"))
        .values_list("feedback_id", "n")
        .order_by()
    )
    return [
        to_public(
            f,
            answer=answers.get(f.duplicate_of_id or f.pk),
            photo_count=photo_counts.get(f.pk, 0),
        )
        for f in rows
    ]


# "Look it up": lists pass what they fetched in bulk (None included: "there is no answer").
LOOKUP: Any = object()


def to_public(
    feedback: Feedback,
    *,
    with_events: bool = False,
    answer: Any = LOOKUP,
    photo_count: int | None = None,
) -> PublicFeedback:
    """`answer`: the published Answer when the caller fetched it (None: there is none);
    `photo_count` likewise. Lists use `to_public_list`, which fetches both for a whole page."""
    if answer is LOOKUP:
        answer = published_answer(feedback)
    if photo_count is None:
        photo_count = feedback.photos.count()
    events: list[PublicEvent] = []
    if with_events:
        for event in (
            Event.objects.filter(feedback=feedback, kind__in=PUBLIC_EVENTS)
            .select_related("to_unit")
            .order_by("created_at", "id")
        ):
            events.append(_public_event(event))
    return PublicFeedback(
        code=feedback.code,
        category_code=feedback.category.code,
        category_name=feedback.category.name,
        commune_code=feedback.commune.code,
        commune_name=feedback.commune.name,
        unit_name=feedback.unit.committee_name or feedback.unit.name,
        status=feedback.status,
        status_label=str(feedback.get_status_display()),
        is_open=feedback.is_open,
        description=public_text(feedback.description),
        address=public_text(feedback.address),
        lat=feedback.lat,
        long=feedback.long,
        received_at=feedback.received_at,
        updated_at=feedback.updated_at,
        due_date=feedback.due_date,
        answered_at=feedback.answered_at,
        # Staff write these, but may quote the sender ("we called you on 09…"): masked too.
        answer=public_text(answer.published_text)
        if answer is not None and feedback.status in _ANSWER_SHOWN
        else "",
        reject_reason=public_text(feedback.reject_reason)
        if feedback.status == Status.REJECTED
        else "",
        merged_into=feedback.duplicate_of.code if feedback.duplicate_of_id else "",  # type: ignore[union-attr]
        photo_count=photo_count,
        events=events,
    )


_ANSWER_SHOWN = frozenset({Status.ANSWERED, Status.CLOSED, Status.REOPENED})


def _public_event(event: Event) -> PublicEvent:
    text = public_text(event.public_text)
    if event.kind == EventKind.MERGED:
        text = _("Merged with feedback %(code)s about the same matter; it shares that answer.") % {
            "code": event.public_text
        }
    return PublicEvent(
        kind=event.kind,
        label=str(event.get_kind_display()),
        at=event.created_at,
        text=text,
        to_unit=(event.to_unit.committee_name or event.to_unit.name) if event.to_unit else "",
    )


def by_tracking_code(code: str) -> PublicFeedback | None:
    """The status page's view: any status (the sender's own), never the personal data."""
    from .services import normalise_code

    feedback = (
        Feedback.objects.select_related("category", "commune", "unit", "duplicate_of")
        .filter(code=normalise_code(code))
        .first()
    )
    if feedback is None:
        return None
    return to_public(feedback, with_events=True)
