"""Reading bulletins: every staff query starts from the policy; public queries from status."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.units.models import Unit

from .models import (
    AttachmentKind,
    Bulletin,
    Channel,
    Delivery,
    DeliveryStatus,
    Priority,
    Status,
)


def bulletins_visible(user: Any, action: str = Action.VIEW) -> QuerySet[Bulletin]:
    return policy.restrict(Bulletin.objects.all(), user, action)


def bulletin_for(user: Any, pk: Any, action: str = Action.VIEW) -> Bulletin | None:
    """One bulletin the user may `action`, or None (callers answer 404 either way)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return (
        bulletins_visible(user, action)
        .select_related("unit", "category", "language", "author", "approved_by", "origin")
        .filter(pk=pk)
        .first()
    )


@dataclass
class BulletinFilters:
    status: str = ""
    category: str = ""
    priority: str = ""
    # "own": written here; "adapted": local copies of relayed bulletins.
    source: str = ""
    unit: str = ""  # a unit code: that unit's subtree
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str = ""


def bulletin_list(user: Any, filters: BulletinFilters | None = None) -> QuerySet[Bulletin]:
    f = filters or BulletinFilters()
    rows = bulletins_visible(user).select_related("unit", "category", "author")
    if f.status:
        rows = rows.filter(status=f.status)
    if f.category:
        rows = rows.filter(category__code=f.category)
    if f.priority:
        rows = rows.filter(priority=f.priority)
    if f.source == "own":
        rows = rows.filter(origin__isnull=True)
    elif f.source == "adapted":
        rows = rows.filter(origin__isnull=False)
    if f.unit:
        unit = Unit.objects.current().filter(code=f.unit).first()
        rows = rows.filter(unit__in=Unit.objects.subtree_of(unit)) if unit else rows.none()
    if f.date_from:
        rows = rows.filter(created_at__date__gte=f.date_from)
    if f.date_to:
        rows = rows.filter(created_at__date__lte=f.date_to)
    if f.q:
        rows = rows.filter(Q(title__icontains=f.q[:100]) | Q(summary__icontains=f.q[:100]))
    return rows.order_by("-updated_at", "-id")


def approval_queue(user: Any) -> QuerySet[Bulletin]:
    """Bulletins waiting for a decision the user may take, oldest request first."""
    return (
        bulletins_visible(user, Action.APPROVE)
        .filter(status=Status.SUBMITTED)
        .select_related("unit", "category", "author")
        .order_by(
            Case(
                When(priority=Priority.EMERGENCY, then=Value(0)),
                When(priority=Priority.PRIORITY, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            ),
            "updated_at",
        )
    )


def _priority_rank() -> Case:
    return Case(
        When(priority=Priority.EMERGENCY, then=Value(0)),
        When(priority=Priority.PRIORITY, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def inbox(user: Any, commune: Unit | None = None, status: str = "") -> QuerySet[Delivery]:
    """Relayed items in the communes the user may see, in TT 39 order.

    Emergency first, then priority items in the commune's own order, then normal items, newest
    first within each level.
    """
    rows = policy.restrict(Delivery.objects.all(), user, Action.VIEW).select_related(
        "bulletin", "bulletin__unit", "bulletin__category", "commune", "local_copy"
    )
    if commune is not None:
        rows = rows.filter(commune=commune)
    if status:
        rows = rows.filter(status=status)
    return rows.filter(bulletin__status=Status.PUBLISHED).order_by(
        _priority_rank(), "position", "-created_at", "-id"
    )


def inbox_undecided_count(user: Any) -> int:
    """Relayed normal items waiting for a decision the user may take (the menu's badge)."""
    waiting = Delivery.objects.filter(
        status=DeliveryStatus.RECEIVED, bulletin__status=Status.PUBLISHED
    )
    decidable = policy.restrict(waiting, user, Action.EDIT) | policy.restrict(
        waiting, user, Action.BROADCAST
    )
    return decidable.count()


def delivery_for(user: Any, pk: Any) -> Delivery | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return (
        policy.restrict(Delivery.objects.all(), user, Action.VIEW)
        .select_related("bulletin", "bulletin__unit", "commune", "local_copy")
        .filter(pk=pk)
        .first()
    )


def deliveries_of(bulletin: Bulletin) -> QuerySet[Delivery]:
    """The origin's per-commune status lines (call only for a bulletin the user may view)."""
    return bulletin.deliveries.select_related("commune", "decided_by").order_by("commune__path")


def delivery_summary(bulletin: Bulletin) -> dict[str, int]:
    counts = dict(
        bulletin.deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {s: counts.get(s, 0) for s in DeliveryStatus.values}


def emergency_deliveries(since: dt.datetime | None = None) -> QuerySet[Delivery]:
    """Emergencies handed to broadcasting (the emergency path reads this, issue 5)."""
    rows = Delivery.objects.filter(emergency_at__isnull=False, bulletin__status=Status.PUBLISHED)
    if since is not None:
        rows = rows.filter(emergency_at__gte=since)
    return rows.select_related("bulletin", "commune")


# --- Public side ---------------------------------------------------------------------------


def public_bulletins(unit: Unit, *, now: dt.datetime | None = None) -> QuerySet[Bulletin]:
    """What the public sees on a unit's portal page and feeds, newest first.

    The unit's own published bulletins for the portal channel, plus those relayed to it (a commune
    shows its province's bulletins unless it declined them), within their validity.
    """
    now = now or timezone.now()
    relayed = Delivery.objects.filter(commune=unit).exclude(status=DeliveryStatus.DECLINED)
    return (
        Bulletin.objects.filter(status=Status.PUBLISHED, valid_from__lte=now)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .filter(Q(unit=unit) | Q(pk__in=relayed.values("bulletin_id")))
        .filter(on_portal=True)
        .select_related("unit", "category")
        .order_by("-published_at", "-id")
    )


def public_bulletin(unit: Unit, pk: Any) -> Bulletin | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return public_bulletins(unit).filter(pk=pk).first()


def is_public(bulletin: Bulletin) -> bool:
    """May anyone read this bulletin and download its attachments?"""
    now = timezone.now()
    return (
        bulletin.status == Status.PUBLISHED
        and Channel.PORTAL in (bulletin.channels or [])
        and bulletin.valid_from <= now
        and (bulletin.valid_until is None or bulletin.valid_until > now)
    )


def audio_attachments(bulletin: Bulletin) -> QuerySet[Any]:
    return bulletin.attachments.filter(kind=AttachmentKind.AUDIO)


def public_bulletin_parts(
    unit: Unit, *, now: dt.datetime | None = None
) -> tuple[QuerySet[Bulletin], QuerySet[Bulletin]]:
    """`public_bulletins(unit)` as two disjoint parts: the unit's own bulletins, and those relayed
    to it. Same rules; together they hold exactly the same rows (tested in portal/tests).

    For long lists (a commune with 10,000 bulletins): SQLite, which keeps no statistics, answers
    `public_bulletins()` by scanning every published bulletin through `bulletin_due_idx` and
    sorting them. Here each part is shaped for an index instead: the unit's own bulletins walk
    `bulletin_public_idx` in published order (the portal flag is compared with `IN`, because
    Django writes `= True` as a bare column that no index matches, and the start of validity
    through COALESCE, which leaves it unchanged, valid_from being NOT NULL, but offers the planner
    no range to prefer), and relayed ones are found from the commune's deliveries by id.
    """
    now = now or timezone.now()
    rows = (
        Bulletin.objects.filter(status=Status.PUBLISHED, on_portal__in=[True])
        .filter(LessThanOrEqual(Coalesce(F("valid_from"), F("valid_from")), now))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
    )
    relayed = Delivery.objects.filter(commune=unit).exclude(status=DeliveryStatus.DECLINED)
    return (
        rows.filter(unit=unit).order_by("-published_at", "-id"),
        rows.filter(pk__in=relayed.values("bulletin_id"))
        .exclude(unit=unit)
        .order_by("-published_at", "-id"),
    )
