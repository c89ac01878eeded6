"""Input and output schemas of /api/v1/bulletins.

The schemas check shape and size (422 naming the field); the services check meaning: a category
that does not exist, a target outside the unit, a stale version (400/409 naming the field).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.utils import timezone
from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints

from thongtincoso.core.pagination import MAX_PAGE, MAX_PAGE_SIZE

from . import content
from .models import MAX_ID, MAX_YEAR, MIN_YEAR, DeliveryStatus, Priority, Status


def _vietnam_time(value: dt.datetime) -> dt.datetime:
    """Timezone-aware as sent; a time without offset is Vietnam time (settings.TIME_ZONE)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value


def _plausible_date(value: dt.date) -> dt.date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


LocalDateTime = Annotated[dt.datetime, AfterValidator(_vietnam_time)]
PlausibleDate = Annotated[dt.date, AfterValidator(_plausible_date)]
Code = Annotated[str, StringConstraints(max_length=40)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


# --- Reference lists ------------------------------------------------------------------------


class CategoryOut(Schema):
    code: str
    name: str


class LanguageOut(Schema):
    code: str
    name: str


# --- Bulletins --------------------------------------------------------------------------------


class BulletinFiltersIn(Schema):
    """Query parameters of GET /bulletins (see selectors.BulletinFilters)."""

    status: Status | None = None
    category: Code = ""
    priority: Priority | None = None
    source: str = Field("", pattern="^(|own|adapted)$", description="own, adapted or empty")
    unit: Code = Field("", description="A unit code: bulletins of that unit and below")
    date_from: PlausibleDate | None = Field(None, description="Created on or after (Vietnam date)")
    date_to: PlausibleDate | None = Field(None, description="Created on or before (Vietnam date)")
    q: str = Field("", max_length=200, description="Words in the title or summary")


class _BulletinCodes(Schema):
    """A bulletin's unit, category and language as their codes (stable, language-neutral)."""

    @staticmethod
    def resolve_unit(obj: Any) -> str:
        return str(obj.unit.code)

    @staticmethod
    def resolve_category(obj: Any) -> str:
        return str(obj.category.code)

    @staticmethod
    def resolve_language(obj: Any) -> str:
        return str(obj.language.code)


class BulletinOut(_BulletinCodes):
    id: int
    unit: str
    title: str
    summary: str
    status: str
    priority: str
    category: str
    language: str
    channels: list[str]
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None


class BulletinDetailOut(BulletinOut):
    body: str
    reading_text: str
    reading_text_edited: bool
    targets: list[str]
    tags: list[str]
    source_note: str
    origin: int | None
    author: str
    approved_by: str | None
    allowed_transitions: list[str] = Field(
        description="Transitions the caller may attempt now (the service checks again)"
    )
    spoken_seconds: int = Field(description="Estimated airtime of the reading text")

    @staticmethod
    def resolve_targets(obj: Any) -> list[str]:
        return list(obj.targets.order_by("path").values_list("code", flat=True))

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        return list(obj.tags.values_list("name", flat=True))

    @staticmethod
    def resolve_origin(obj: Any) -> int | None:
        return obj.origin_id  # type: ignore[no-any-return]

    @staticmethod
    def resolve_author(obj: Any) -> str:
        return str(obj.author.username)

    @staticmethod
    def resolve_approved_by(obj: Any) -> str | None:
        return obj.approved_by.username if obj.approved_by_id else None

    @staticmethod
    def resolve_allowed_transitions(obj: Any, context: Any) -> list[str]:
        from .services import allowed_transitions

        return allowed_transitions(context["request"].user, obj)

    @staticmethod
    def resolve_spoken_seconds(obj: Any) -> int:
        return content.estimate_spoken_seconds(obj.reading_text)


# Every content field of a bulletin, for creating (all but title and category may be left out)
# and for a partial update (only the fields sent change).
Title = Annotated[str, StringConstraints(max_length=300)]
Summary = Annotated[str, StringConstraints(max_length=500)]
Body = Annotated[str, StringConstraints(max_length=200_000)]
ReadingText = Annotated[str, StringConstraints(max_length=100_000)]
SourceNote = Annotated[str, StringConstraints(max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=50)]


class BulletinIn(Schema):
    unit: Code = Field(description="Code of the owning unit")
    title: Title
    category: Code
    summary: Summary = ""
    body: Body = Field("", description="HTML; sanitised on save")
    reading_text: ReadingText | None = Field(
        None, description="What the speech engine reads; derived from the body when left out"
    )
    language: Code = "vi"
    channels: list[ShortText] | None = Field(None, max_length=10)
    priority: ShortText = Priority.NORMAL.value
    valid_from: LocalDateTime | None = None
    valid_until: LocalDateTime | None = None
    targets: list[Code] | None = Field(
        None, max_length=5000, description="Unit codes at or below the owner; default the owner"
    )
    tags: list[ShortText] | None = Field(None, max_length=50)
    source_note: SourceNote = ""


class BulletinPatchIn(Schema):
    version: Id = Field(description="The version you last read; a newer one answers 409")
    title: Title | None = None
    category: Code | None = None
    summary: Summary | None = None
    body: Body | None = None
    reading_text: ReadingText | None = None
    language: Code | None = None
    channels: list[ShortText] | None = Field(None, max_length=10)
    priority: ShortText | None = None
    valid_from: LocalDateTime | None = None
    valid_until: LocalDateTime | None = None
    targets: list[Code] | None = Field(None, max_length=5000)
    tags: list[ShortText] | None = Field(None, max_length=50)
    source_note: SourceNote | None = None


class TransitionIn(Schema):
    """Body of a transition: `comment` for approve (optional) and return (required), `reason`
    for withdraw (required); other transitions need no body."""

    comment: str = Field("", max_length=2000)
    reason: str = Field("", max_length=500)


class RevisionOut(Schema):
    number: int
    title: str
    summary: str
    body: str
    reading_text: str
    details: dict[str, Any]
    author: str
    created_at: dt.datetime

    @staticmethod
    def resolve_author(obj: Any) -> str:
        return str(obj.author.username)


# --- Relay: the origin's status lines and the commune inbox ------------------------------------


class PageIn(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(500, ge=1, le=MAX_PAGE_SIZE)


class DeliveryOut(Schema):
    id: int
    commune: str
    commune_name: str
    zone_codes: list[str]
    priority: str
    status: str
    air_from: dt.datetime | None
    decline_reason: str
    decided_by: str | None
    decided_at: dt.datetime | None
    emergency_at: dt.datetime | None
    scheduled_at: dt.datetime | None
    aired_at: dt.datetime | None
    local_copy: int | None
    created_at: dt.datetime

    @staticmethod
    def resolve_commune(obj: Any) -> str:
        return str(obj.commune.code)

    @staticmethod
    def resolve_commune_name(obj: Any) -> str:
        return str(obj.commune.name)

    @staticmethod
    def resolve_decided_by(obj: Any) -> str | None:
        return obj.decided_by.username if obj.decided_by_id else None

    @staticmethod
    def resolve_local_copy(obj: Any) -> int | None:
        return obj.local_copy_id  # type: ignore[no-any-return]


class DeliveriesOut(Schema):
    summary: dict[str, int] = Field(description="Number of communes in each status")
    count: int
    items: list[DeliveryOut]


class RelayedBulletinOut(_BulletinCodes):
    """The relayed bulletin as the commune reads it in its inbox."""

    id: int
    unit: str
    unit_name: str
    title: str
    summary: str
    body: str
    reading_text: str
    category: str
    language: str
    priority: str
    channels: list[str]
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    published_at: dt.datetime | None

    @staticmethod
    def resolve_unit_name(obj: Any) -> str:
        return str(obj.unit.name)


class InboxItemOut(DeliveryOut):
    position: int
    bulletin: RelayedBulletinOut


class InboxFiltersIn(Schema):
    commune: Code = Field("", description="A commune code; empty: all the caller's communes")
    status: DeliveryStatus | None = None


class AcceptIn(Schema):
    air_from: LocalDateTime | None = Field(None, description="Air from this time (normal items)")


class DeclineIn(Schema):
    reason: str = Field(max_length=500)


class ReorderIn(Schema):
    commune: Code
    ids: list[Id] = Field(max_length=1000, description="Priority items, first airs first")


class ReorderOut(Schema):
    commune: str
    count: int
