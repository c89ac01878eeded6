"""/api/v1: the caller's account, personal tokens, and user and role management."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.pagination import paginate
from ninja.responses import Status

from thongtincoso.core.pagination import BoundedPageNumberPagination
from thongtincoso.units.models import Unit
from thongtincoso.units.selectors import unit_for, unit_get_public

from . import policy, selectors, services
from .api_auth import SessionAuth, api_auth
from .models import RoleAssignment, User
from .roles import Action
from .schemas import RoleAssignIn, RoleOut, TokenCreatedOut, TokenIn, TokenOut, UserIn, UserOut

router = Router(tags=["accounts"], auth=api_auth)


@router.get("/me", response=UserOut, summary="The caller's account and roles")
def me(request: HttpRequest) -> User:
    return (
        User.objects.select_related("unit")
        .prefetch_related("role_assignments__unit")
        .get(pk=policy.acting_user(request).pk)
    )


@router.get("/tokens", response=list[TokenOut], summary="The caller's API tokens")
def token_list(request: HttpRequest):  # type: ignore[no-untyped-def]
    return selectors.tokens_of(request.user)


# Only a person in a logged-in session (with 2FA where required) creates tokens: a token that
# could mint tokens would outlive its own expiry and revocation.
@router.post(
    "/tokens",
    response={201: TokenCreatedOut},
    auth=[SessionAuth()],
    summary="Create a personal API token (from a logged-in session)",
)
def token_create(request: HttpRequest, payload: TokenIn) -> Status[dict]:
    token, raw = services.api_token_create(
        actor=policy.acting_user(request),
        user=policy.acting_user(request),
        name=payload.name,
        expires_at=payload.expires_at,
    )
    return Status(201, {**TokenOut.from_orm(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}", response={204: None}, summary="Revoke a token")
def token_revoke(request: HttpRequest, token_id: int) -> Status[None]:
    token = get_object_or_404(selectors.tokens_of(request.user), pk=token_id)
    services.api_token_revoke(actor=policy.acting_user(request), token=token)
    return Status(204, None)


def _managed_unit(request: HttpRequest, code: str) -> Unit:
    unit = unit_for(request.user, code, Action.MANAGE_USERS)
    if unit is None:
        raise Http404(f"No unit with code {code!r}")
    return unit


@router.get(
    "/units/{code}/users",
    response=list[UserOut],
    summary="Accounts of a unit and the units below it",
)
@paginate(BoundedPageNumberPagination, page_size=100)
def unit_users(request: HttpRequest, code: str):  # type: ignore[no-untyped-def]
    return selectors.users_of_unit(request.user, _managed_unit(request, code))


@router.post("/users", response={201: UserOut}, summary="Create an account")
def user_create(request: HttpRequest, payload: UserIn) -> Status[User]:
    unit = _managed_unit(request, payload.unit)
    user = services.user_create(
        actor=policy.acting_user(request),
        username=payload.username,
        unit=unit,
        password=payload.password,
        full_name=payload.full_name,
        email=payload.email,
        phone=payload.phone,
    )
    return Status(201, user)


@router.post("/role-assignments", response={201: RoleOut}, summary="Assign a role over a unit")
def role_assign(request: HttpRequest, payload: RoleAssignIn) -> Status[RoleAssignment]:
    # Units are public, so the unit is looked up unscoped: a unit outside the caller's area is
    # refused (and audited) by the service with a clear message. Accounts are private: one the
    # caller does not administer answers like a missing one.
    unit = unit_get_public(payload.unit)
    if unit is None:
        raise Http404(f"No unit with code {payload.unit!r}")
    user = selectors.users_manageable(request.user).filter(username=payload.username).first()
    if user is None:
        raise Http404(f"No account {payload.username!r}")
    assignment = services.role_assign(
        actor=policy.acting_user(request),
        user=user,
        role=payload.role,
        unit=unit,
        covers_descendants=payload.covers_descendants,
    )
    return Status(201, assignment)


@router.delete(
    "/role-assignments/{assignment_id}", response={204: None}, summary="Remove a role assignment"
)
def role_revoke(request: HttpRequest, assignment_id: int) -> Status[None]:
    assignment = get_object_or_404(
        selectors.role_assignments_visible(request.user), pk=assignment_id
    )
    services.role_revoke(actor=policy.acting_user(request), assignment=assignment)
    return Status(204, None)
