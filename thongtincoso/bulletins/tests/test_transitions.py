"""The transition table, case by case: every role × every transition × every starting state.

The expectation is written out here, independently of `services.TRANSITIONS`: which roles hold
which transitions (from the roles' actions: edit for the author's side, approve for the
leader's side), and which states each transition leaves from and goes to. If the code's table or
the roles change, these cases fail until someone decides the new behaviour is right and edits the
literal tables below.

Each case starts from a fresh database with one commune bulletin, brought into its starting state
through the real services by other people (an author and an approver of the commune), then lets
a person holding exactly one role on the commune attempt one transition, and asserts either the
new state and exactly one audit record, or the right refusal with nothing changed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import api_token_for
from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import role_assign
from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Bulletin, Status
from thongtincoso.core.errors import ConflictError, NotFoundError, PermissionDeniedError
from thongtincoso.units.models import Unit

from .factories import draft

D, SU, RE, AP, PU, WI, EX = (
    Status.DRAFT,
    Status.SUBMITTED,
    Status.RETURNED,
    Status.APPROVED,
    Status.PUBLISHED,
    Status.WITHDRAWN,
    Status.EXPIRED,
)

# transition: (states it leaves from, state it goes to)
EXPECTED_STATES: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({D, RE}), SU),
    "recall": (frozenset({SU}), D),
    "approve": (frozenset({SU}), AP),
    "return": (frozenset({SU}), RE),
    "publish": (frozenset({AP}), PU),
    "withdraw": (frozenset({AP, PU}), WI),
    "reopen": (frozenset({AP, WI}), D),
}

AUTHOR_SIDE = frozenset({"submit", "recall", "publish", "reopen"})  # edit
LEADER_SIDE = frozenset({"approve", "return", "publish", "withdraw"})  # approve
NONE: frozenset[str] = frozenset()

# role: the transitions a person with that role on the bulletin's unit may make
EXPECTED_ROLES: dict[str, frozenset[str]] = {
    Role.SYSTEM_ADMIN: AUTHOR_SIDE | LEADER_SIDE,
    Role.UNIT_ADMIN: AUTHOR_SIDE,
    Role.EDITOR: AUTHOR_SIDE,
    Role.APPROVER: LEADER_SIDE,
    Role.BROADCAST_OPERATOR: NONE,
    Role.TECHNICIAN: NONE,
    Role.FEEDBACK_OFFICER: NONE,
    Role.VIEWER: NONE,
}

# The services under test, named here rather than taken from services.TRANSITION_SERVICES.
SERVICE: dict[str, Callable[..., Bulletin]] = {
    "submit": services.bulletin_submit,
    "recall": services.bulletin_recall,
    "approve": services.bulletin_approve,
    "return": services.bulletin_return,
    "publish": services.bulletin_publish,
    "withdraw": services.bulletin_withdraw,
    "reopen": services.bulletin_reopen,
}
ARGUMENTS: dict[str, dict[str, str]] = {
    "approve": {"comment": "Đồng ý"},
    "return": {"comment": "Sửa lại ngày tiêm"},
    "withdraw": {"reason": "Thông tin đã thay đổi"},
}

TRANSITION_NAMES = sorted(EXPECTED_STATES)
STATES = list(Status.values)
ROLES = list(Role.values)


def expected_outcome(role: str, name: str, state: str) -> str | type[Exception]:
    """The state after the attempt, or the error it must raise."""
    if name not in EXPECTED_ROLES[role]:
        return PermissionDeniedError  # every role may view the unit's bulletins
    sources, target = EXPECTED_STATES[name]
    return target if state in sources else ConflictError


# --- Bringing a bulletin into each state -------------------------------------------------------


@dataclass
class Scene:
    commune: Unit
    author: User
    approver: User
    bulletin: Bulletin


def bring_to(state: str, *, author: User, approver: User, unit: Unit) -> Bulletin:
    """A bulletin of `unit` in `state`, reached through the services as people would.

    Its validity starts tomorrow, so that approving it does not publish it at once (the approve
    transition then ends in "approved", as the table says), and ends the day after, so that the
    periodic expiry can make it "expired" without touching the clock.
    """
    start = timezone.now() + dt.timedelta(days=1)
    end = start + dt.timedelta(days=1)
    bulletin = draft(author, unit, valid_from=start, valid_until=end)
    path = {
        D: [],
        SU: ["submit"],
        RE: ["submit", "return"],
        AP: ["submit", "approve"],
        PU: ["submit", "approve", "publish"],
        WI: ["submit", "approve", "publish", "withdraw"],
        EX: ["submit", "approve", "publish", "expire"],
    }[state]
    for step in path:
        if step == "submit":
            services.bulletin_submit(actor=author, bulletin=bulletin)
        elif step == "expire":
            assert services.bulletins_expire_due(now=end + dt.timedelta(minutes=1)) == 1
        else:
            SERVICE[step](actor=approver, bulletin=bulletin, **ARGUMENTS.get(step, {}))
    bulletin.refresh_from_db()
    assert bulletin.status == state
    return bulletin


@pytest.fixture
def scene(tree: Any, make_user: Any) -> Callable[[str], Scene]:
    def make(state: str) -> Scene:
        author = make_user("author", tree.hoankiem, role=Role.EDITOR)
        approver = make_user("leader", tree.hoankiem, role=Role.APPROVER)
        bulletin = bring_to(state, author=author, approver=approver, unit=tree.hoankiem)
        return Scene(tree.hoankiem, author, approver, bulletin)

    return make


def fingerprint(bulletin: Bulletin) -> dict[str, Any]:
    """Everything a refused transition must leave as it was."""
    row = Bulletin.objects.get(pk=bulletin.pk)
    return {
        "status": row.status,
        "version": row.version,
        "updated_at": row.updated_at,
        "approved_by": row.approved_by_id,
        "published_at": row.published_at,
        "ended_at": row.ended_at,
        "reviews": list(row.reviews.order_by("id").values_list("state", "decided_by_id")),
        "deliveries": row.deliveries.count(),
        "audit": AuditRecord.objects.count(),
    }


def new_audit_actions(before: int) -> list[str]:
    return list(AuditRecord.objects.order_by("seq").values_list("action", flat=True)[before:])


# --- The table ---------------------------------------------------------------------------------


def test_the_expected_table_names_every_transition_role_and_state_of_the_code():
    # A transition, role or state added to the code must be added to the expectation too.
    assert set(services.TRANSITIONS) == set(EXPECTED_STATES)
    assert set(services.TRANSITION_SERVICES) == set(EXPECTED_STATES)
    assert set(EXPECTED_ROLES) == set(Role.values)
    assert set(Status.values) == {D, SU, RE, AP, PU, WI, EX}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("name", TRANSITION_NAMES)
@pytest.mark.parametrize("role", ROLES)
def test_transition(role, name, state, scene, make_user):
    s = scene(state)
    actor = make_user("actor", s.commune, role=role)
    expected = expected_outcome(role, name, state)
    before = fingerprint(s.bulletin)

    if isinstance(expected, str):
        result = SERVICE[name](actor=actor, bulletin=s.bulletin, **ARGUMENTS.get(name, {}))
        assert result.status == expected
        assert Bulletin.objects.get(pk=s.bulletin.pk).status == expected
        assert new_audit_actions(before["audit"]) == [f"bulletins.bulletin.{name}"]
        record = AuditRecord.objects.order_by("-seq").first()
        assert record is not None
        assert record.actor_id == actor.pk
        assert record.object_id == str(s.bulletin.pk)
    else:
        with pytest.raises(expected) as caught:
            SERVICE[name](actor=actor, bulletin=s.bulletin, **ARGUMENTS.get(name, {}))
        # A refusal is exactly that error, not a subclass standing in for another answer.
        assert type(caught.value) is expected
        assert fingerprint(s.bulletin) == before


# --- Rules beside the table ------------------------------------------------------------------


@pytest.mark.parametrize("name", TRANSITION_NAMES)
def test_out_of_scope_is_not_found_for_every_transition(name, scene, tree, make_user):
    """A neighbouring commune's editor-and-approver cannot even see the bulletin."""
    s = scene(SU if name in {"recall", "approve", "return"} else AP)
    neighbour = make_user("neighbour", tree.cuanam, role=Role.SYSTEM_ADMIN)
    before = fingerprint(s.bulletin)
    with pytest.raises(NotFoundError):
        SERVICE[name](actor=neighbour, bulletin=s.bulletin, **ARGUMENTS.get(name, {}))
    assert fingerprint(s.bulletin) == before


def test_province_role_covers_the_commune_bulletin(scene, tree, make_user):
    s = scene(SU)
    province_approver = make_user("province_leader", tree.hanoi, role=Role.APPROVER)
    assert services.bulletin_approve(actor=province_approver, bulletin=s.bulletin).status == AP


def _author_approver(tree: Any, make_user: Any) -> User:
    both = make_user("both", tree.hoankiem, role=Role.EDITOR)
    role_assign(actor=None, user=both, role=Role.APPROVER, unit=tree.hoankiem)
    return both


# (who writes, who submits, who approves, four-eyes on?) → refused?
FOUR_EYES_CASES = [
    pytest.param("both", "both", "both", True, True, id="author-submitter-approves"),
    pytest.param("both", "author", "both", True, True, id="author-approves-other-submitted"),
    pytest.param("author", "both", "both", True, True, id="submitter-approves"),
    pytest.param("author", "author", "both", True, False, id="third-person-approves"),
    pytest.param("both", "both", "both", False, False, id="author-approves-rule-off"),
]


@pytest.mark.parametrize(
    ("writer", "submitter", "approver", "four_eyes", "refused"), FOUR_EYES_CASES
)
def test_four_eyes(writer, submitter, approver, four_eyes, refused, tree, make_user):
    people = {
        "author": make_user("author", tree.hoankiem, role=Role.EDITOR),
        "both": _author_approver(tree, make_user),
    }
    if not four_eyes:
        admin = make_user("admin", tree.hoankiem, role=Role.UNIT_ADMIN)
        services.editorial_settings_update(
            actor=admin, unit=tree.hoankiem, four_eyes=False, own_unit_approval=False
        )
    start = timezone.now() + dt.timedelta(days=1)
    bulletin = draft(people[writer], tree.hoankiem, valid_from=start)
    services.bulletin_submit(actor=people[submitter], bulletin=bulletin)
    before = fingerprint(bulletin)
    if refused:
        with pytest.raises(PermissionDeniedError, match="four-eyes"):
            services.bulletin_approve(actor=people[approver], bulletin=bulletin)
        assert fingerprint(bulletin) == before
    else:
        services.bulletin_approve(actor=people[approver], bulletin=bulletin)
        assert Bulletin.objects.get(pk=bulletin.pk).status == AP
        assert new_audit_actions(before["audit"]) == ["bulletins.bulletin.approve"]


def test_approving_a_bulletin_already_valid_publishes_it_at_once(scene, tree, make_user):
    """The one transition whose outcome is two steps: approve, then publish in the same call."""
    author = make_user("author", tree.hoankiem, role=Role.EDITOR)
    approver = make_user("leader", tree.hoankiem, role=Role.APPROVER)
    bulletin = draft(author, tree.hoankiem)
    services.bulletin_submit(actor=author, bulletin=bulletin)
    audit = AuditRecord.objects.count()
    services.bulletin_approve(actor=approver, bulletin=bulletin)
    assert Bulletin.objects.get(pk=bulletin.pk).status == PU
    assert new_audit_actions(audit) == ["bulletins.bulletin.approve", "bulletins.bulletin.publish"]


# --- The same rules through the HTTP API -----------------------------------------------------

# (role of the caller, transition, starting state, expected HTTP status)
HTTP_CASES = [
    (Role.EDITOR, "submit", D, 200),
    (Role.EDITOR, "submit", RE, 200),
    (Role.UNIT_ADMIN, "recall", SU, 200),
    (Role.APPROVER, "approve", SU, 200),
    (Role.APPROVER, "return", SU, 200),
    (Role.EDITOR, "publish", AP, 200),
    (Role.APPROVER, "withdraw", PU, 200),
    (Role.EDITOR, "reopen", WI, 200),
    (Role.SYSTEM_ADMIN, "approve", SU, 200),
    (Role.EDITOR, "approve", SU, 403),
    (Role.VIEWER, "submit", D, 403),
    (Role.BROADCAST_OPERATOR, "publish", AP, 403),
    (Role.APPROVER, "reopen", WI, 403),
    (Role.APPROVER, "approve", D, 409),
    (Role.EDITOR, "submit", PU, 409),
    (Role.EDITOR, "reopen", EX, 409),
    (Role.APPROVER, "withdraw", EX, 409),
]


def _post(client: Client, url: str, token: str, body: dict[str, str] | None = None) -> Any:
    return client.post(
        url,
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.mark.parametrize(("role", "name", "state", "http_status"), HTTP_CASES)
def test_transition_over_http(role, name, state, http_status, scene, make_user):
    s = scene(state)
    actor = make_user("actor", s.commune, role=role)
    token = api_token_for(actor)
    before = fingerprint(s.bulletin)
    response = _post(
        Client(enforce_csrf_checks=True),
        f"/api/v1/bulletins/{s.bulletin.pk}/{name}",
        token,
        ARGUMENTS.get(name),
    )
    assert response.status_code == http_status, response.content
    if http_status == 200:
        body = response.json()
        assert body["status"] == EXPECTED_STATES[name][1]
        assert body["id"] == s.bulletin.pk
    else:
        assert response.json()["detail"]
        assert fingerprint(s.bulletin) == before


def test_transition_over_http_out_of_scope_and_unknown_names(scene, tree, make_user):
    s = scene(SU)
    neighbour = make_user("neighbour", tree.cuanam, role=Role.SYSTEM_ADMIN)
    leader = api_token_for(s.approver)
    client = Client(enforce_csrf_checks=True)
    url = f"/api/v1/bulletins/{s.bulletin.pk}"
    assert _post(client, f"{url}/approve", api_token_for(neighbour)).status_code == 404
    for unknown in ("expire", "delete", "APPROVE", "approve%20"):
        assert _post(client, f"{url}/{unknown}", leader).status_code == 404
    assert _post(client, "/api/v1/bulletins/999999/approve", leader).status_code == 404
    # No body at all is fine for a transition that needs none; a missing comment is the
    # service's 400 naming the field.
    returned = _post(client, f"{url}/return", leader)
    assert returned.status_code == 400
    assert returned.json()["field"] == "comment"
    assert Bulletin.objects.get(pk=s.bulletin.pk).status == SU
