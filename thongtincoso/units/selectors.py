"""Reads on the unit tree. Public reads (the portal, the public API) see current units only."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from .models import Unit, UnitKind, UnitQuerySet

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


def unit_for(user: Any, code: str, action: str) -> Unit | None:
    """The unit in force with `code` if `user` may do `action` on it, else None.

    Callers answer None with a 404, so a unit out of scope looks exactly like a missing one.
    """
    from thongtincoso.accounts import policy

    return (
        policy.restrict(Unit.objects.current(), user, action)
        .filter(code=code)
        .select_related("parent")
        .first()
    )


def unit_home_units(user: Any, action: str) -> list[Unit]:
    """The units the user's `action` grants are rooted at: their starting points in the tree."""
    from thongtincoso.accounts import policy

    ids = {g.unit_id for g in policy.grants(user) if g.allows(action)}
    return list(Unit.objects.filter(pk__in=ids).select_related("parent").order_by("path"))


def unit_subtree_counts(unit: Unit) -> dict[str, int]:
    """How many provinces, communes and zones in force lie below `unit` (one query)."""
    rows = (
        Unit.objects.current()
        .subtree_of(unit, include_self=False)
        .values("kind")
        .annotate(n=Count("id"))
    )
    counts: dict[str, int] = dict.fromkeys(
        (str(UnitKind.PROVINCE), str(UnitKind.COMMUNE), str(UnitKind.ZONE)), 0
    )
    counts.update({row["kind"]: row["n"] for row in rows if row["kind"] in counts})
    return counts
