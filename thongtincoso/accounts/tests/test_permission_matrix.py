"""The permission matrix: every role × where the object sits × what is attempted.

A role is granted on an anchor unit; the target is the anchor itself, an ancestor, a descendant,
a sibling, or a unit in another province. Each cell is checked three ways: the policy function,
the staff pages, and the API; "edit" and "manage users" are checked by attempting a write (change
the unit's agency names; create an account in the unit) and looking at what was saved. The
expected table is written out here by hand (not derived from roles.py), so a change to the
policy that widens or narrows access fails this test.
"""

from __future__ import annotations

import itertools

import pytest

from thongtincoso.accounts import policy
from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create
from thongtincoso.units.models import Unit

ACTIONS = ("view", "edit", "approve", "manage_users")
_serial = itertools.count()

EXPECTED: dict[str, set[str]] = {
    Role.SYSTEM_ADMIN: {"view", "edit", "approve", "manage_users"},
    Role.UNIT_ADMIN: {"view", "edit", "manage_users"},
    Role.EDITOR: {"view", "edit"},
    Role.APPROVER: {"view", "approve"},
    Role.BROADCAST_OPERATOR: {"view"},
    Role.TECHNICIAN: {"view"},
    Role.FEEDBACK_OFFICER: {"view"},
    Role.VIEWER: {"view"},
}

# anchor -> {relation: target unit attribute of the `tree` fixture}
PLACEMENTS = {
    "commune": (
        "hoankiem",
        {
            "own": "hoankiem",
            "ancestor": "hanoi",
            "descendant": "zone",
            "sibling": "cuanam",
            "other_province": "saigon",
        },
    ),
    "province": (
        "hanoi",
        {
            "own": "hanoi",
            "ancestor": "nation",
            "descendant": "hoankiem",
            "sibling": "hcm",
            "other_province": "saigon",
        },
    ),
}
RELATIONS = ("own", "ancestor", "descendant", "sibling", "other_province")
INSIDE = {"own", "descendant"}


def expected(role: str, relation: str, action: str, *, covers: bool = True) -> bool:
    inside = relation == "own" or (relation == "descendant" and covers)
    return inside and action in EXPECTED[role]


def _ui_checks(client, unit: Unit) -> dict[str, bool]:
    """What the staff pages let this client do on `unit`."""
    seen: dict[str, bool] = {}
    detail = client.get(f"/units/{unit.code}/")
    assert detail.status_code in (200, 404)
    seen["view"] = detail.status_code == 200
    # Approve has no object of its own yet (bulletins add one); the unit page lists the actions
    # the policy grants, and must offer "approve" exactly when the policy allows it.
    seen["approve"] = seen["view"] and 'data-action="approve"' in detail.content.decode()

    edit_page = client.get(f"/units/{unit.code}/edit/")
    assert edit_page.status_code in (200, 404)
    new_name = f"UBND thử nghiệm {unit.code}"
    posted = client.post(
        f"/units/{unit.code}/edit/", {"committee_name": new_name, "department_name": ""}
    )
    assert posted.status_code in (302, 404)
    unit.refresh_from_db()
    saved = unit.committee_name == new_name
    assert saved == (posted.status_code == 302) == (edit_page.status_code == 200)
    seen["edit"] = saved

    users_page = client.get(f"/units/{unit.code}/users/")
    assert users_page.status_code in (200, 404)
    username = f"ui-{unit.code}-{next(_serial)}"
    created = client.post(
        f"/units/{unit.code}/users/new/",
        {"username": username, "full_name": "Cán bộ mới", "password": "mat-khau-moi-2025"},
    )
    assert created.status_code in (302, 404), created.content
    exists = User.objects.filter(username=username, unit=unit).exists()
    assert exists == (created.status_code == 302) == (users_page.status_code == 200)
    seen["manage_users"] = exists
    return seen


def _api_checks(client, token: str, unit: Unit) -> dict[str, bool]:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    seen: dict[str, bool] = {}
    access = client.get(f"/api/v1/units/{unit.code}/access", **auth)
    assert access.status_code in (200, 404), access.content
    seen["view"] = access.status_code == 200
    seen["approve"] = seen["view"] and "approve" in access.json()["actions"]

    new_name = f"Sở thử nghiệm {unit.code}"
    patched = client.patch(
        f"/api/v1/units/{unit.code}",
        {"department_name": new_name},
        content_type="application/json",
        **auth,
    )
    assert patched.status_code in (200, 404), patched.content
    unit.refresh_from_db()
    assert (unit.department_name == new_name) == (patched.status_code == 200)
    seen["edit"] = patched.status_code == 200

    users = client.get(f"/api/v1/units/{unit.code}/users", **auth)
    assert users.status_code in (200, 404), users.content
    username = f"api-{unit.code}-{next(_serial)}"
    created = client.post(
        "/api/v1/users",
        {
            "username": username,
            "unit": unit.code,
            "full_name": "Cán bộ mới",
            "password": "mat-khau-moi-2025",
        },
        content_type="application/json",
        **auth,
    )
    assert created.status_code in (201, 404), created.content
    exists = User.objects.filter(username=username, unit=unit).exists()
    assert exists == (created.status_code == 201) == (users.status_code == 200)
    seen["manage_users"] = exists
    return seen


@pytest.mark.parametrize("placement", list(PLACEMENTS))
@pytest.mark.parametrize("role", list(EXPECTED))
def test_permission_matrix(tree, make_user, client_for, role, placement):
    anchor_name, targets = PLACEMENTS[placement]
    anchor = tree.by_name(anchor_name)
    user = make_user(f"{role}-{placement}", anchor, role=role)
    client = client_for(user)
    _, token = api_token_create(actor=user, user=user, name="matrix")

    for relation in RELATIONS:
        unit = tree.by_name(targets[relation])
        want = {a: expected(role, relation, a) for a in ACTIONS}
        assert {a: policy.may(user, a, unit) for a in ACTIONS} == want, (relation, "policy")
        assert _ui_checks(client, unit) == want, (relation, "ui")
        assert _api_checks(client, token, unit) == want, (relation, "api")


@pytest.mark.parametrize("role", [Role.UNIT_ADMIN, Role.EDITOR, Role.VIEWER])
def test_role_not_covering_descendants_stops_at_its_unit(tree, make_user, client_for, role):
    user = make_user(f"{role}-only", tree.hanoi, role=role, covers_descendants=False)
    client = client_for(user)
    _, token = api_token_create(actor=user, user=user, name="matrix")
    for relation, target in (("own", tree.hanoi), ("descendant", tree.hoankiem)):
        want = {a: expected(role, relation, a, covers=False) for a in ACTIONS}
        assert {a: policy.may(user, a, target) for a in ACTIONS} == want
        assert _ui_checks(client, target) == want
        assert _api_checks(client, token, target) == want


def test_restrict_lists_only_the_subtree(tree, make_user):
    editor = make_user("hk-editor", tree.hoankiem, role=Role.EDITOR)
    visible = set(
        policy.restrict(Unit.objects.all(), editor, "view").values_list("code", flat=True)
    )
    assert visible == {"00070", "00070.001"}
    assert not policy.restrict(Unit.objects.all(), editor, "approve").exists()


def test_inactive_user_may_nothing(tree, make_user):
    user = make_user("gone", tree.hanoi, role=Role.SYSTEM_ADMIN)
    user.is_active = False
    user.save()
    policy.forget(user)
    assert not policy.may(user, "view", tree.hanoi)
    assert not policy.restrict(Unit.objects.all(), user, "view").exists()


def test_roles_of_retired_units_grant_nothing(tree, make_user):
    import datetime as dt

    user = make_user("zone-editor", tree.zone, role=Role.EDITOR)
    Unit.objects.filter(pk=tree.zone.pk).update(valid_to=dt.date(2026, 1, 1))
    policy.forget(user)
    assert not policy.may(user, "view", tree.zone)
