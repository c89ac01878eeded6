"""/api/v1/bulletins: writing and approving bulletins, their relay, and the commune inbox.

Every object is found through the policy (selectors); one out of the caller's scope answers 404
like a missing one. The services then check the action: 403 when the caller may see but not do
it, 409 when the bulletin's state does not allow it, 400 naming the field for a bad value.
"""

# No `from __future__ import annotations`: ninja builds its query-parameter models from the
# evaluated signatures, and string annotations of a Query schema leave them undefined.
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Query, Router
from ninja.pagination import paginate
from ninja.responses import Status

from thongtincoso.accounts import policy
from thongtincoso.accounts.api_auth import api_auth
from thongtincoso.accounts.roles import Action
from thongtincoso.core.pagination import BoundedPageNumberPagination
from thongtincoso.units.models import Unit
from thongtincoso.units.selectors import unit_for

from . import selectors, services
from .models import MAX_ID, Bulletin, Category, Delivery, Language, Revision
from .schemas import (
    AcceptIn,
    BulletinDetailOut,
    BulletinFiltersIn,
    BulletinIn,
    BulletinOut,
    BulletinPatchIn,
    CategoryOut,
    DeclineIn,
    DeliveriesOut,
    InboxFiltersIn,
    InboxItemOut,
    LanguageOut,
    PageIn,
    ReorderIn,
    ReorderOut,
    RevisionOut,
    TransitionIn,
)

router = Router(tags=["bulletins"], auth=api_auth)

# Which body field each transition passes to its service (the others take none).
TRANSITION_INPUT = {"approve": "comment", "return": "comment", "withdraw": "reason"}


def _bulletin(request: HttpRequest, bulletin_id: int) -> Bulletin:
    bulletin = (
        selectors.bulletin_for(request.user, bulletin_id) if 0 < bulletin_id <= MAX_ID else None
    )
    if bulletin is None:
        raise Http404(f"No bulletin {bulletin_id}")
    return bulletin


def _delivery(request: HttpRequest, delivery_id: int) -> Delivery:
    delivery = (
        selectors.delivery_for(request.user, delivery_id) if 0 < delivery_id <= MAX_ID else None
    )
    if delivery is None:
        raise Http404(f"No inbox item {delivery_id}")
    return delivery


def _unit(request: HttpRequest, code: str, action: str) -> Unit:
    unit = unit_for(request.user, code, action)
    if unit is None:
        raise Http404(f"No unit with code {code!r}")
    return unit


# --- Reference lists (public) ----------------------------------------------------------------


@router.get(
    "/categories", response=list[CategoryOut], auth=None, summary="Content categories in use"
)
def category_list(request: HttpRequest) -> QuerySet[Category]:
    return Category.objects.filter(is_active=True)


@router.get(
    "/languages", response=list[LanguageOut], auth=None, summary="Broadcast languages in use"
)
def language_list(request: HttpRequest) -> QuerySet[Language]:
    return Language.objects.filter(is_active=True)


# --- Bulletins ---------------------------------------------------------------------------------


@router.get(
    "/bulletins",
    response=list[BulletinOut],
    summary="Bulletins of the caller's units, most recently changed first",
)
@paginate(BoundedPageNumberPagination, page_size=50)
def bulletin_list(request: HttpRequest, filters: Query[BulletinFiltersIn]):  # type: ignore[no-untyped-def]
    chosen = selectors.BulletinFilters(
        status=filters.status or "",
        category=filters.category,
        priority=filters.priority or "",
        source=filters.source,
        unit=filters.unit,
        date_from=filters.date_from,
        date_to=filters.date_to,
        q=filters.q,
    )
    return selectors.bulletin_list(request.user, chosen).select_related("language")


@router.post(
    "/bulletins",
    response={201: BulletinDetailOut},
    summary="Write a new draft for a unit",
)
def bulletin_create(request: HttpRequest, payload: BulletinIn) -> Status[Bulletin]:
    unit = _unit(request, payload.unit, Action.EDIT)
    fields = payload.dict(exclude={"unit"}, exclude_none=True)
    bulletin = services.bulletin_create(actor=policy.acting_user(request), unit=unit, **fields)
    return Status(201, bulletin)


@router.get("/bulletins/{bulletin_id}", response=BulletinDetailOut, summary="One bulletin")
def bulletin_detail(request: HttpRequest, bulletin_id: int) -> Bulletin:
    return _bulletin(request, bulletin_id)


@router.patch(
    "/bulletins/{bulletin_id}",
    response=BulletinDetailOut,
    summary="Change a draft or returned bulletin (only the fields sent; `version` required)",
)
def bulletin_patch(request: HttpRequest, bulletin_id: int, payload: BulletinPatchIn) -> Bulletin:
    bulletin = _bulletin(request, bulletin_id)
    fields = payload.dict(exclude_unset=True)
    version = fields.pop("version")
    return services.bulletin_update(
        actor=policy.acting_user(request), bulletin=bulletin, version=version, **fields
    )


# The two reads below are declared before the transition route: Django tries URL patterns in
# order, and `/bulletins/{id}/{transition}` would otherwise catch `revisions` with a 405.
@router.get(
    "/bulletins/{bulletin_id}/revisions",
    response=list[RevisionOut],
    summary="Saved states of a bulletin, newest first",
)
@paginate(BoundedPageNumberPagination, page_size=50)
def bulletin_revisions(request: HttpRequest, bulletin_id: int) -> QuerySet[Revision]:
    # Scoped by the bulletin, which was found through the policy.
    bulletin = _bulletin(request, bulletin_id)
    return bulletin.revisions.select_related("author").order_by("-number")


@router.get(
    "/bulletins/{bulletin_id}/deliveries",
    response=DeliveriesOut,
    summary="Where a bulletin was relayed: one status line per commune, and counts by status",
)
def bulletin_deliveries(
    request: HttpRequest, bulletin_id: int, page: Query[PageIn]
) -> dict[str, Any]:
    bulletin = _bulletin(request, bulletin_id)
    rows = selectors.deliveries_of(bulletin)
    start = (page.page - 1) * page.page_size
    return {
        "summary": selectors.delivery_summary(bulletin),
        "count": rows.count(),
        "items": list(rows[start : start + page.page_size]),
    }


@router.post(
    "/bulletins/{bulletin_id}/{transition}",
    response=BulletinDetailOut,
    summary="Move a bulletin along its workflow: submit, recall, approve, return, publish, "
    "withdraw or reopen",
)
def bulletin_transition(
    request: HttpRequest,
    bulletin_id: int,
    transition: str,
    payload: TransitionIn | None = None,
) -> Bulletin:
    service = services.TRANSITION_SERVICES.get(transition)
    if service is None:
        raise Http404(f"No transition {transition!r}")
    bulletin = _bulletin(request, bulletin_id)
    kwargs: dict[str, Any] = {}
    field = TRANSITION_INPUT.get(transition)
    if field is not None:
        kwargs[field] = getattr(payload, field) if payload is not None else ""
    return service(actor=policy.acting_user(request), bulletin=bulletin, **kwargs)


# --- The commune inbox -------------------------------------------------------------------------


@router.get(
    "/inbox",
    response=list[InboxItemOut],
    summary="Bulletins relayed to the caller's communes, in airing order (TT 39)",
)
@paginate(BoundedPageNumberPagination, page_size=100)
def inbox(request: HttpRequest, filters: Query[InboxFiltersIn]):  # type: ignore[no-untyped-def]
    commune = _unit(request, filters.commune, Action.VIEW) if filters.commune else None
    return selectors.inbox(request.user, commune, filters.status or "").select_related(
        "bulletin__language", "decided_by"
    )


@router.post(
    "/inbox/reorder",
    response=ReorderOut,
    summary="Set the commune's order of its relayed priority items",
)
def inbox_reorder(request: HttpRequest, payload: ReorderIn) -> dict[str, Any]:
    commune = _unit(request, payload.commune, Action.VIEW)
    count = services.delivery_reorder(
        actor=policy.acting_user(request), commune=commune, delivery_ids=payload.ids
    )
    return {"commune": commune.code, "count": count}


@router.post(
    "/inbox/{delivery_id}/accept",
    response=InboxItemOut,
    summary="Accept a relayed item, optionally to air from a given time",
)
def inbox_accept(
    request: HttpRequest, delivery_id: int, payload: AcceptIn | None = None
) -> Delivery:
    delivery = _delivery(request, delivery_id)
    return services.delivery_accept(
        actor=policy.acting_user(request),
        delivery=delivery,
        air_from=payload.air_from if payload else None,
    )


@router.post(
    "/inbox/{delivery_id}/decline",
    response=InboxItemOut,
    summary="Decline a relayed normal item, with the reason",
)
def inbox_decline(request: HttpRequest, delivery_id: int, payload: DeclineIn) -> Delivery:
    delivery = _delivery(request, delivery_id)
    return services.delivery_decline(
        actor=policy.acting_user(request), delivery=delivery, reason=payload.reason
    )


@router.post(
    "/inbox/{delivery_id}/adapt",
    response={201: BulletinDetailOut},
    summary="Make a local draft from a relayed bulletin, for the commune to edit",
)
def inbox_adapt(request: HttpRequest, delivery_id: int) -> Status[Bulletin]:
    delivery = _delivery(request, delivery_id)
    copy = services.delivery_adapt(actor=policy.acting_user(request), delivery=delivery)
    return Status(201, copy)
