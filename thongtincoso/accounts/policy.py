"""The one permission policy.

Every question "may user U do action A on object O" and every queryset a user sees goes through
here. A role assigned on a unit applies to that unit and, when it covers descendants (the default),
to every unit below it: a province editor edits for its communes; a commune editor sees nothing of
its province or its neighbours.

Objects say which unit owns them with a class attribute:
- `policy_unit_field = "unit"` (an ORM path to a Unit; "" when the object *is* a Unit), or
- `policy_path_field = "unit_path"` (a column holding a copy of the owner's materialised path).

Callers turn a denial into a 404 (`get_object_or_404(restrict(...))`), so an object out of scope
answers exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.db.models import Model, Q, QuerySet

from thongtincoso.units.models import Unit, path_upper_bound

from .roles import ROLE_ACTIONS, SYSTEM_ONLY_ROLES, Action, Role

if TYPE_CHECKING:
    from .models import User

M = TypeVar("M", bound=Model)

_CACHE_ATTR = "_ttcs_grants"


@dataclass(frozen=True)
class Grant:
    """One role assignment reduced to what the policy needs."""

    role: str
    unit_id: int
    unit_path: str
    covers_descendants: bool
    unit_depth: int

    def covers(self, unit: Unit) -> bool:
        if unit.pk == self.unit_id:
            return True
        return self.covers_descendants and unit.path.startswith(self.unit_path)

    def covers_subtree(self, unit: Unit) -> bool:
        """Does this grant reach `unit` and everything below it?"""
        return self.covers_descendants and (
            unit.pk == self.unit_id or unit.path.startswith(self.unit_path)
        )

    def allows(self, action: str) -> bool:
        return action in ROLE_ACTIONS.get(self.role, frozenset())


def grants(user: Any) -> list[Grant]:
    """The user's grants, loaded once per user object (i.e. once per request)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        from .models import RoleAssignment

        rows = RoleAssignment.objects.filter(user=user, unit__valid_to__isnull=True).values_list(
            "role", "unit_id", "unit__path", "covers_descendants", "unit__depth"
        )
        cached = [Grant(*row) for row in rows]
        if user.is_superuser:
            # A Django superuser (createsuperuser) is a system admin over the whole tree.
            for pk, path in Unit.objects.filter(parent__isnull=True).values_list("pk", "path"):
                cached.append(Grant(Role.SYSTEM_ADMIN, pk, path, True, 0))
        setattr(user, _CACHE_ATTR, cached)
    return cached


def forget(user: Any) -> None:
    """Drop the cached grants after the user's assignments change."""
    if user is not None and hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def owner_unit(obj: Model) -> Unit | None:
    """The unit an object belongs to, following its `policy_unit_field`."""
    field = getattr(type(obj), "policy_unit_field", None)
    if field is None:
        raise TypeError(f"{type(obj).__name__} declares no policy_unit_field")
    if field == "":
        return obj  # type: ignore[return-value]
    value: Any = obj
    for part in field.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def may(user: Any, action: str, obj: Model | None) -> bool:
    """May `user` do `action` on `obj` (a Unit or an object owned by one)?"""
    if obj is None:
        return False
    if isinstance(obj, Unit):
        unit: Unit | None = obj
    elif hasattr(type(obj), "policy_path_field"):
        path = getattr(obj, type(obj).policy_path_field)  # type: ignore[attr-defined]
        return any(g.allows(action) and _grant_covers_path(g, path) for g in grants(user))
    else:
        unit = owner_unit(obj)
    if unit is None:
        return any(g.allows(action) and _is_root(g) for g in grants(user))
    return any(g.allows(action) and g.covers(unit) for g in grants(user))


def may_anywhere(user: Any, action: str) -> bool:
    """Does the user hold `action` on at least one unit (e.g. to show a menu entry)?"""
    return any(g.allows(action) for g in grants(user))


def restrict(queryset: QuerySet[M], user: Any, action: str = Action.VIEW) -> QuerySet[M]:
    """The part of `queryset` the user may `action`; empty when nothing is allowed.

    Like NetBox's RestrictedQuerySet.restrict(): every selector starts here, so no list can leak.
    """
    model = queryset.model
    matching = [g for g in grants(user) if g.allows(action)]
    if not matching:
        return queryset.none()
    if any(_is_root(g) and g.covers_descendants for g in matching):
        return queryset
    condition = Q()
    for grant in matching:
        condition |= _grant_condition(model, grant)
    return queryset.filter(condition)


def _is_root(grant: Grant) -> bool:
    return grant.unit_depth == 0


def _grant_covers_path(grant: Grant, path: str) -> bool:
    if not path:
        return _is_root(grant)
    own = path == grant.unit_path
    return own or (grant.covers_descendants and path.startswith(grant.unit_path))


def _grant_condition(model: type[Model], grant: Grant) -> Q:
    path_field = getattr(model, "policy_path_field", None)
    if path_field:
        if grant.covers_descendants:
            return Q(
                **{
                    f"{path_field}__gte": grant.unit_path,
                    f"{path_field}__lt": path_upper_bound(grant.unit_path),
                }
            )
        return Q(**{path_field: grant.unit_path})
    field = getattr(model, "policy_unit_field", None)
    if field is None:
        raise TypeError(f"{model.__name__} declares no policy_unit_field or policy_path_field")
    prefix = f"{field}__" if field else ""
    if grant.covers_descendants:
        return Q(
            **{
                f"{prefix}path__gte": grant.unit_path,
                f"{prefix}path__lt": path_upper_bound(grant.unit_path),
            }
        )
    return Q(**{f"{prefix}pk": grant.unit_id})


def is_system_admin(user: Any) -> bool:
    """Is the user a system administrator of the whole tree?

    That is the system-admin role on a root unit (the nation), covering everything below it, so
    it includes manage_users on the root. Django superusers qualify (see `grants()`). Work that
    concerns the whole country, such as reloading the official unit list, needs this.
    """
    return any(
        g.role == Role.SYSTEM_ADMIN
        and _is_root(g)
        and g.covers_descendants
        and g.allows(Action.MANAGE_USERS)
        for g in grants(user)
    )


def may_manage_account(actor: Any, subject: Any) -> bool:
    """May `actor` change `subject`'s account (details, password, activation, roles)?

    Managing an account means holding manage_users on its home unit AND on every unit where it
    holds a role, with the right to grant each of those roles. Otherwise a commune's unit admin
    could reset the password of a system administrator who happens to live in that commune and
    take over the system.
    """
    if not may(actor, Action.MANAGE_USERS, subject):
        return False
    if getattr(subject, "is_superuser", False) and not is_system_admin(actor):
        return False
    from .models import RoleAssignment

    held = RoleAssignment.objects.filter(user=subject).select_related("unit")
    return all(
        a.role in grantable_roles(actor, a.unit, covers_descendants=a.covers_descendants)
        for a in held
    )


def grantable_roles(user: Any, unit: Unit, *, covers_descendants: bool = True) -> list[str]:
    """Roles the user may assign on `unit`, never reaching further than their own grants.

    A grant that covers the units below needs a manage_users grant of the user that covers them
    too; the system-admin role needs the user's own system-admin grant with the same reach.
    """
    reach = [
        g
        for g in grants(user)
        if g.allows(Action.MANAGE_USERS)
        and (g.covers_subtree(unit) if covers_descendants else g.covers(unit))
    ]
    if not reach:
        return []
    is_system_admin = any(g.role == Role.SYSTEM_ADMIN for g in reach)
    return [r for r in Role.values if is_system_admin or r not in SYSTEM_ONLY_ROLES]


def requires_two_factor(user: Any) -> bool:
    required: Iterable[str] = getattr(settings, "TWO_FACTOR_REQUIRED_ROLES", [])
    return any(g.role in required for g in grants(user))


def acting_user(request: Any) -> User:
    """The authenticated user of a request, typed, for passing to services as `actor=`.

    Only call it behind login_required or API auth; an anonymous request here is a programming
    error, not a user error.
    """
    from .models import User

    user = request.user
    if not isinstance(user, User):
        raise TypeError("acting_user() needs an authenticated request")
    return user
