"""Reads on the unit tree. Public reads (the portal, the public API) see current units only."""

from __future__ import annotations

from django.db.models import Count, Q

from .models import Unit, UnitQuerySet

SEARCH_MAX_LENGTH = 100


def unit_get_public(code: str) -> Unit | None:
    return Unit.objects.current().select_related("parent").filter(code=code).first()


def unit_children(unit: Unit) -> UnitQuerySet:
    return unit.children.current().select_related("parent").order_by("code")


def unit_search(queryset: UnitQuerySet, q: str) -> UnitQuerySet:
    # Names are short; a bounded term also keeps SQLite's LIKE within its pattern limit.
    q = q.strip()[:SEARCH_MAX_LENGTH]
    if not q:
        return queryset
    return queryset.filter(Q(name__icontains=q) | Q(code__startswith=q))


def unit_child_counts(units: list[Unit]) -> dict[int, int]:
    rows = (
        Unit.objects.current().filter(parent__in=units).values("parent_id").annotate(n=Count("id"))
    )
    return {row["parent_id"]: row["n"] for row in rows}
