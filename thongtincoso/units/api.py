"""/api/v1/units: the public read-only tree, plus authenticated edits scoped by the policy."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Router
from ninja.pagination import paginate
from ninja.responses import Status

from thongtincoso.accounts import policy
from thongtincoso.accounts.api_auth import api_auth
from thongtincoso.accounts.roles import Action
from thongtincoso.core.pagination import BoundedPageNumberPagination

from . import selectors, services
from .models import Unit
from .schemas import AccessOut, UnitDetailOut, UnitOut, UnitPatchIn, ZoneIn

router = Router(tags=["units"])


def _public_unit(code: str) -> Unit:
    unit = selectors.unit_get_public(code)
    if unit is None:
        raise Http404(f"No unit with code {code!r}")
    return unit


def _scoped_unit(request: HttpRequest, code: str, action: str) -> Unit:
    # Out of scope answers like missing (404), whatever the action.
    unit = selectors.unit_for(request.user, code, action)
    if unit is None:
        raise Http404(f"No unit with code {code!r}")
    return unit


@router.get("/units/{code}", response=UnitOut, auth=None, summary="One administrative unit")
def unit_detail(request: HttpRequest, code: str) -> Unit:
    return _public_unit(code)


@router.get(
    "/units/{code}/children",
    response=list[UnitOut],
    auth=None,
    summary="The units directly below one unit (provinces of VN, communes of a province)",
)
@paginate(BoundedPageNumberPagination, page_size=500)
def unit_children(request: HttpRequest, code: str):  # type: ignore[no-untyped-def]
    return selectors.unit_children(_public_unit(code))


@router.get(
    "/units/{code}/access",
    response=AccessOut,
    auth=api_auth,
    summary="What the caller may do on this unit",
)
def unit_access(request: HttpRequest, code: str) -> dict:
    unit = _scoped_unit(request, code, Action.VIEW)
    return {
        "unit": unit,
        "actions": [a for a in Action.values if policy.may(request.user, a, unit)],
        "grantable_roles": policy.grantable_roles(request.user, unit),
    }


@router.patch(
    "/units/{code}",
    response=UnitDetailOut,
    auth=api_auth,
    summary="Edit a unit's agency names (or a zone's name)",
)
def unit_patch(request: HttpRequest, code: str, payload: UnitPatchIn) -> Unit:
    unit = _scoped_unit(request, code, Action.EDIT)
    return services.unit_update(
        actor=policy.acting_user(request),
        unit=unit,
        **payload.dict(exclude_unset=True),
    )


@router.post(
    "/units/{code}/zones",
    response={201: UnitOut},
    auth=api_auth,
    summary="Add a zone (thôn, tổ dân phố) to a commune",
)
def zone_create(request: HttpRequest, code: str, payload: ZoneIn) -> Status[Unit]:
    commune = _scoped_unit(request, code, Action.EDIT)
    zone = services.zone_create(
        actor=policy.acting_user(request),
        commune=commune,
        name=payload.name,
        type_name=payload.type_name,
    )
    return Status(201, zone)
