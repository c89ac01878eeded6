"""Public reads of the portal: the units people browse and what anyone may read about them.

Nothing here looks at the requesting user, except `attachment_for_download`, which lets the staff
who may view a draft preview its files. What the public sees is decided in one place,
`bulletins.selectors.public_bulletins` / `is_public`; these functions only shape those reads for
pages and feeds (fewer columns, the related rows a page needs, bounded lengths).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.bulletins import selectors as bulletin_selectors
from thongtincoso.bulletins.models import (
    Attachment,
    AttachmentKind,
    Bulletin,
    Delivery,
    Priority,
    Status,
)
from thongtincoso.units import selectors as unit_selectors
from thongtincoso.units.models import Unit, UnitKind, UnitQuerySet

# Units that have a public page. Zones belong to their commune's page; districts were retired in
# the 2025 reorganisation and are no longer current anyway.
PORTAL_KINDS = (UnitKind.NATION, UnitKind.PROVINCE, UnitKind.COMMUNE)
FEED_ITEMS = 50
SEARCH_RESULTS = 50

# The columns a list of bulletins shows; the body (the largest column) is left in the database.
_LIST_FIELDS = (
    "id",
    "title",
    "summary",
    "priority",
    "published_at",
    "valid_until",
    "unit__id",
    "unit__code",
    "unit__name",
    "category__id",
    "category__name",
)


def portal_unit(code: str) -> Unit | None:
    """A unit in force that has a public page, or None (the caller answers 404)."""
    unit = unit_selectors.unit_get_public(code)
    if unit is None or unit.kind not in PORTAL_KINDS:
        return None
    return unit


def portal_provinces() -> UnitQuerySet:
    return Unit.objects.current().filter(kind=UnitKind.PROVINCE).order_by("code")


def portal_communes(province: Unit) -> UnitQuerySet:
    """A province's communes in force, grouped by type (phường, xã, đặc khu) then by name."""
    return (
        Unit.objects.current()
        .filter(parent=province, kind=UnitKind.COMMUNE)
        .only("id", "code", "name", "type_name")
        .order_by("type_name", "name", "code")
    )


def portal_commune_search(q: str) -> UnitQuerySet:
    """Communes in force whose name (or code) matches, with their province, at most 50."""
    communes = Unit.objects.current().filter(kind=UnitKind.COMMUNE)
    return (
        unit_selectors.unit_search(communes, q)
        .select_related("parent")
        .order_by("name", "code")[:SEARCH_RESULTS]
    )


def portal_breadcrumbs(unit: Unit) -> list[Unit]:
    """The unit's ancestors below the nation, province first (the nation is the portal home)."""
    return [a for a in unit.ancestors() if a.kind != UnitKind.NATION]


class PublicBulletinList:
    """A unit's public bulletins, newest first, as a Paginator reads them (count() and slices).

    Reads `bulletins.selectors.public_bulletin_parts()`: the keys (id, published_at) of a slice
    come from one UNION ALL of the unit's own and its relayed bulletins, which SQLite answers by
    merging two index-ordered streams, then the rows of that slice by primary key. Three queries
    whatever the page, none of which sorts all 10,000 rows of a busy commune.
    """

    def __init__(
        self,
        unit: Unit,
        *,
        fields: tuple[str, ...] = (),
        prefetch: tuple[str | Prefetch, ...] = (),
        audio_only: bool = False,
    ) -> None:
        own, relayed = bulletin_selectors.public_bulletin_parts(unit)
        if audio_only:
            from thongtincoso.speech.models import BulletinAudio

            has_audio = Exists(
                Attachment.objects.filter(kind=AttachmentKind.AUDIO, bulletin=OuterRef("pk"))
            ) | Exists(BulletinAudio.objects.filter(bulletin=OuterRef("pk"), asset__isnull=False))
            own, relayed = own.filter(has_audio), relayed.filter(has_audio)
        self._parts = (own, relayed)
        self._fields = fields
        self._prefetch = prefetch

    def count(self) -> int:
        own, relayed = self._parts
        return own.count() + relayed.count()

    def _keys(self, stop: int | None = None) -> QuerySet[Any]:
        order = ("-published_at", "-id")
        own, relayed = (part.values_list("id", "published_at") for part in self._parts)
        if stop is not None and connection.features.supports_slicing_ordering_in_compound:
            # Neither part can contribute more than `stop` rows to the first `stop` of the
            # merge; the limit lets PostgreSQL read each part's top rows from an index. (SQLite
            # refuses LIMIT inside a UNION, and needs none: it merges the two ordered parts.)
            own, relayed = own.order_by(*order)[:stop], relayed.order_by(*order)[:stop]
        else:
            own, relayed = own.order_by(), relayed.order_by()
        return own.union(relayed, all=True).order_by(*order)

    def __getitem__(self, index: slice) -> list[Bulletin]:
        if not isinstance(index, slice) or index.step is not None:
            raise TypeError("PublicBulletinList only supports slices")
        if index.stop is not None and index.stop <= (index.start or 0):
            return []  # an empty page (a Paginator asks for [0:0] when there is nothing)
        ids = [pk for pk, _published in self._keys(index.stop)[index]]
        if not ids:
            return []
        # Checked once more: a bulletin withdrawn between the two queries is left out.
        rows = Bulletin.objects.filter(pk__in=ids, status=Status.PUBLISHED).select_related(
            "unit", "category"
        )
        if self._fields:
            rows = rows.only(*self._fields)
        if self._prefetch:
            rows = rows.prefetch_related(*self._prefetch)
        by_id = {b.pk: b for b in rows}
        return [by_id[pk] for pk in ids if pk in by_id]


def portal_bulletin_list(unit: Unit) -> PublicBulletinList:
    """A unit's public bulletins for its page, without their bodies."""
    return PublicBulletinList(unit, fields=_LIST_FIELDS)


def portal_emergencies(unit: Unit, limit: int = 3) -> list[Bulletin]:
    """Emergency bulletins in force for a unit, newest first: pinned above everything else.

    Two small lookups instead of the whole public list: the unit's own emergencies and those
    relayed to it (deliveries carry `emergency_at`), then the public rules on those few rows.
    """
    own = (
        Bulletin.objects.filter(unit=unit, status=Status.PUBLISHED, priority=Priority.EMERGENCY)
        .order_by()
        .values_list("pk", flat=True)
    )
    relayed = Delivery.objects.filter(commune=unit, emergency_at__isnull=False).values_list(
        "bulletin_id", flat=True
    )
    ids = set(own[:50]) | set(relayed.order_by("-emergency_at")[:50])
    if not ids:
        return []
    return list(
        bulletin_selectors.public_bulletins(unit)
        .filter(pk__in=ids, priority=Priority.EMERGENCY)
        .only(*_LIST_FIELDS)[:limit]
    )


def portal_feed_bulletins(unit: Unit) -> list[Bulletin]:
    """The newest 50 public bulletins of a unit with their tags, for the RSS and Atom feeds."""
    return PublicBulletinList(unit, prefetch=("tags",))[:FEED_ITEMS]


def portal_podcast_bulletins(unit: Unit) -> list[Bulletin]:
    """The newest 50 public bulletins that have audio, each with `audio` (its audio files)."""
    audio = Attachment.objects.filter(kind=AttachmentKind.AUDIO).order_by("id")
    return PublicBulletinList(
        unit,
        prefetch=(
            "tags",
            Prefetch("attachments", queryset=audio, to_attr="audio"),
            "speech_audio__asset",
        ),
        audio_only=True,
    )[:FEED_ITEMS]


def programme_audio(bulletin: Bulletin) -> Any:
    """The bulletin as read aloud (speech or recording, loudness-normalised), or None."""
    from thongtincoso.speech.models import BulletinAudio

    row = BulletinAudio.objects.select_related("asset").filter(bulletin=bulletin).first()
    return row.asset if row is not None else None


def portal_attachments(bulletin: Bulletin) -> dict[str, list[Attachment]]:
    """A public bulletin's files by kind: {"image": [...], "audio": [...], "pdf": [...]}."""
    files: dict[str, list[Attachment]] = {kind: [] for kind in AttachmentKind.values}
    for attachment in bulletin.attachments.order_by("id"):
        files.setdefault(attachment.kind, []).append(attachment)
    return files


def attachment_for_download(user: Any, attachment_id: int) -> Attachment | None:
    """An attachment the user may download: anyone when its bulletin is public, otherwise only
    someone who may view the bulletin (staff previewing a draft). None means 404, whichever."""
    attachment = (
        Attachment.objects.select_related("bulletin", "bulletin__unit")
        .filter(pk=attachment_id)
        .first()
    )
    if attachment is None:
        return None
    bulletin = attachment.bulletin
    if bulletin_selectors.is_public(bulletin) or policy.may(user, Action.VIEW, bulletin):
        return attachment
    return None
