"""The audit log: one record per state change, a tamper-evident chain, and a scoped audit page."""

from __future__ import annotations

import datetime as dt
import json
import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD, api_token_for, tamper_cursor
from thongtincoso.accounts.models import ApiToken, RoleAssignment, User
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import (
    api_token_create,
    api_token_revoke,
    role_assign,
    role_revoke,
    totp_device_confirm,
    user_create,
    user_set_password,
    user_update,
)
from thongtincoso.audit.models import AppendOnlyError, AuditRecord
from thongtincoso.audit.services import audit_verify_chain, compute_hash
from thongtincoso.core.errors import PermissionDeniedError, ServiceError
from thongtincoso.units.models import Unit
from thongtincoso.units.services import unit_update, zone_create, zone_retire

TABLE = AuditRecord._meta.db_table


def _code(device: TOTPDevice) -> str:
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{value:0{device.digits}d}"


@pytest.fixture
def people(tree, make_user):
    """A unit admin of Hà Nội (01), an editor of Hoàn Kiếm (00070), and a plain account there."""
    admin = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    editor = make_user("editor70", tree.hoankiem, role=Role.EDITOR)
    member = make_user("member70", tree.hoankiem)
    return {"admin": admin, "editor": editor, "member": member}


def _newest() -> AuditRecord:
    return AuditRecord.objects.order_by("-seq").first()  # type: ignore[return-value]


# --- One record per state change -------------------------------------------------------------


def _do_unit_update(tree, p):
    unit_update(actor=p["editor"], unit=tree.hoankiem, committee_name="UBND phường Hoàn Kiếm")
    return "units.unit.update", p["editor"], "00070"


def _do_zone_create(tree, p):
    zone_create(actor=p["editor"], commune=tree.hoankiem, name="Phúc Tân", type_name="Tổ dân phố")
    return "units.zone.create", p["editor"], "00070.002"


def _do_zone_retire(tree, p):
    zone_retire(actor=p["editor"], zone=tree.zone)
    return "units.zone.retire", p["editor"], "00070.001"


def _do_user_create(tree, p):
    user_create(
        actor=p["admin"],
        username="newcomer",
        unit=tree.cuanam,
        password=PASSWORD,
        full_name="Nguyễn Văn Mới",
    )
    return "accounts.user.create", p["admin"], "00073"


def _do_user_update(tree, p):
    user_update(actor=p["admin"], user=p["member"], full_name="Trần Thị Sửa", phone="0912345678")
    return "accounts.user.update", p["admin"], "00070"


def _do_user_set_password(tree, p):
    user_set_password(actor=p["admin"], user=p["member"], password="another-horse-battery-2")
    return "accounts.user.set_password", p["admin"], "00070"


def _do_role_assign(tree, p):
    role_assign(actor=p["admin"], user=p["member"], role=Role.VIEWER, unit=tree.hoankiem)
    return "accounts.role.assign", p["admin"], "00070"


def _do_role_revoke(tree, p):
    assignment = RoleAssignment.objects.get(user=p["editor"], role=Role.EDITOR)
    role_revoke(actor=p["admin"], assignment=assignment)
    return "accounts.role.revoke", p["admin"], "00070"


def _do_api_token_create(tree, p):
    api_token_create(actor=p["member"], user=p["member"], name="báo cáo")
    return "accounts.token.create", p["member"], "00070"


def _do_api_token_revoke(tree, p):
    token = ApiToken.objects.get(user=p["member"])
    api_token_revoke(actor=p["member"], token=token)
    return "accounts.token.revoke", p["member"], "00070"


def _do_totp_device_confirm(tree, p):
    device = TOTPDevice.objects.create(user=p["member"], name="phone", confirmed=False)
    assert totp_device_confirm(actor=p["member"], device=device, code=_code(device))
    return "accounts.totp.enrol", p["member"], "00070"


SERVICES = [
    _do_unit_update,
    _do_zone_create,
    _do_zone_retire,
    _do_user_create,
    _do_user_update,
    _do_user_set_password,
    _do_role_assign,
    _do_role_revoke,
    _do_api_token_create,
    _do_api_token_revoke,
    _do_totp_device_confirm,
]


@pytest.mark.parametrize("service", SERVICES, ids=lambda f: f.__name__[4:])
def test_each_state_change_writes_exactly_one_record(tree, people, service):
    if service is _do_api_token_revoke:
        api_token_create(actor=people["member"], user=people["member"], name="báo cáo")
    before = AuditRecord.objects.count()
    last_seq = _newest().seq

    action, actor, unit_code = service(tree, people)

    assert AuditRecord.objects.count() == before + 1
    record = AuditRecord.objects.get(seq__gt=last_seq)
    assert record.seq == last_seq + 1
    assert record.action == action
    assert record.actor_id == actor.pk
    assert record.actor_username == actor.username
    assert record.unit_code == unit_code
    assert record.unit_path == Unit.objects.get(code=unit_code).path
    assert record.before is not None or record.after is not None or action.endswith("set_password")
    assert audit_verify_chain()[1] is None


def test_update_record_holds_before_and_after(tree, people):
    tree.hoankiem.committee_name = "UBND cũ"
    tree.hoankiem.save()
    unit_update(actor=people["editor"], unit=tree.hoankiem, committee_name="UBND mới")
    record = _newest()
    assert record.before["committee_name"] == "UBND cũ"
    assert record.after["committee_name"] == "UBND mới"
    assert record.object_type == "units.unit"
    assert record.object_id == str(tree.hoankiem.pk)


def test_password_is_never_on_record(tree, people):
    secret = "another-horse-battery-2"
    user_set_password(actor=people["admin"], user=people["member"], password=secret)
    user_create(actor=people["admin"], username="with_pw", unit=tree.cuanam, password=secret)
    for row in AuditRecord.objects.values():
        assert secret not in json.dumps(row, default=str)


def test_unchanged_update_writes_nothing(tree, people):
    unit_update(actor=people["editor"], unit=tree.hoankiem, committee_name="A")
    before = AuditRecord.objects.count()
    unit_update(actor=people["editor"], unit=tree.hoankiem, committee_name="A")
    assert AuditRecord.objects.count() == before


def test_refused_role_assign_writes_one_denial_and_no_assignment(tree, make_user):
    commune_admin = make_user("admin73", tree.cuanam, role=Role.UNIT_ADMIN)
    subject = make_user("staff73", tree.cuanam)
    before = AuditRecord.objects.count()
    assignments = RoleAssignment.objects.count()

    with pytest.raises(PermissionDeniedError):
        role_assign(actor=commune_admin, user=subject, role=Role.EDITOR, unit=tree.hoankiem)

    assert AuditRecord.objects.count() == before + 1
    record = _newest()
    assert record.action == "accounts.role.assign_denied"
    assert record.actor_id == commune_admin.pk
    assert record.unit_code == "00070"
    assert record.after["role"] == Role.EDITOR
    assert record.after["reason"]
    assert RoleAssignment.objects.count() == assignments
    assert not RoleAssignment.objects.filter(user=subject).exists()


def test_refused_role_assign_through_api_is_on_record(tree, make_user, client_for):
    commune_admin = make_user("admin73", tree.cuanam, role=Role.UNIT_ADMIN)
    make_user("staff73", tree.cuanam)
    raw = api_token_for(commune_admin)

    response = Client().post(
        "/api/v1/role-assignments",
        content_type="application/json",
        data={"username": "staff73", "role": Role.EDITOR, "unit": "00070"},
        headers={"Authorization": f"Bearer {raw}"},
    )

    assert response.status_code == 403
    assert response.json()["detail"]
    assert AuditRecord.objects.filter(action="accounts.role.assign_denied").count() == 1
    assert not RoleAssignment.objects.filter(user__username="staff73").exists()


# --- Records made through an HTTP request ---------------------------------------------------


def test_record_made_through_api_carries_request_facts(tree, people):
    _token, raw = api_token_create(actor=people["editor"], user=people["editor"], name="t")
    old = tree.hoankiem.committee_name

    response = Client(REMOTE_ADDR="203.0.113.7").patch(
        "/api/v1/units/00070",
        content_type="application/json",
        data={"committee_name": "UBND phường Hoàn Kiếm"},
        headers={"Authorization": f"Bearer {raw}", "X-Request-ID": "req-audit-0001"},
    )

    assert response.status_code == 200
    record = _newest()
    assert record.action == "units.unit.update"
    assert record.actor_id == people["editor"].pk
    assert record.actor_username == "editor70"
    assert record.unit_code == "00070"
    assert record.before["committee_name"] == old
    assert record.after["committee_name"] == "UBND phường Hoàn Kiếm"
    assert record.ip == "203.0.113.7"
    assert record.request_id == "req-audit-0001"
    assert response["X-Request-ID"] == "req-audit-0001"


def test_record_made_through_a_page_carries_generated_request_id(tree, people, client_for):
    client = client_for(people["editor"])
    response = client.post(
        "/units/00070/edit/", {"committee_name": "UBND mới", "department_name": ""}
    )
    assert response.status_code == 302
    record = _newest()
    assert record.action == "units.unit.update"
    assert record.ip == "127.0.0.1"
    assert record.request_id
    assert record.request_id == response["X-Request-ID"]


def test_records_outside_requests_have_no_request_facts(tree, people):
    unit_update(actor=None, unit=tree.cuanam, committee_name="Hệ thống")
    record = _newest()
    assert record.actor_id is None
    assert record.actor_username == ""
    assert record.ip is None
    assert record.request_id == ""


def test_ipv6_client_address_keeps_the_chain_intact(tree, people):
    _token, raw = api_token_create(actor=people["editor"], user=people["editor"], name="t")
    response = Client(REMOTE_ADDR="2001:DB8:0:0:0:0:0:1").patch(
        "/api/v1/units/00070",
        content_type="application/json",
        data={"committee_name": "UBND IPv6"},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200
    assert audit_verify_chain()[1] is None


# --- The chain: audit_verify and tampering ---------------------------------------------------


@pytest.fixture
def five_records(tree):
    for i in range(5):
        unit_update(actor=None, unit=tree.hoankiem, committee_name=f"Tên {i}")
    assert list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
    ]


def _verify_fails_at(seq: int) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("audit_verify", stdout=StringIO())
    message = str(excinfo.value)
    assert re.search(rf"#{seq}\b", message), message
    return message


def test_audit_verify_accepts_an_intact_chain(five_records):
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "5 records" in out.getvalue()


def test_audit_verify_accepts_an_empty_log(db):
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "0 records" in out.getvalue()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("object_repr", "Phường Khác (00099)"),
        ("actor_username", "someone_else"),
        ("action", "units.unit.view"),
        ("ip", "10.6.6.6"),
        ("after", json.dumps({"committee_name": "giả mạo"})),
    ],
)
def test_edited_middle_record_is_detected(five_records, column, value):
    with tamper_cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET {column} = %s WHERE seq = 3", [value])  # noqa: S608
    message = _verify_fails_at(3)
    assert "2 records" in message


def test_edited_record_with_recomputed_hash_breaks_the_next_link(five_records):
    record = AuditRecord.objects.get(seq=3)
    record.object_repr = "giả mạo"
    forged_hash = compute_hash(record)
    with tamper_cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET object_repr = %s, hash = %s WHERE seq = 3",  # noqa: S608
            ["giả mạo", forged_hash],
        )
    _verify_fails_at(4)


def test_deleted_middle_record_is_detected(five_records):
    with tamper_cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq = 3")  # noqa: S608
    _verify_fails_at(3)


def test_swapped_records_are_detected(five_records):
    with tamper_cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET seq = 1000000 WHERE seq = 2")  # noqa: S608
        cursor.execute(f"UPDATE {TABLE} SET seq = 2 WHERE seq = 4")  # noqa: S608
        cursor.execute(f"UPDATE {TABLE} SET seq = 4 WHERE seq = 1000000")  # noqa: S608
    _verify_fails_at(2)


def test_orm_refuses_to_change_records(five_records):
    record = AuditRecord.objects.get(seq=3)
    original = (record.action, record.object_repr, record.hash)

    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(seq=3).update(object_repr="x")
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(seq=3).delete()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.all().delete()
    record.object_repr = "x"
    with pytest.raises(AppendOnlyError):
        record.save()
    # bulk_update runs in an atomic block without a savepoint: give it one of its own.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditRecord.objects.bulk_update([record], ["object_repr"])
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.get(seq=3).delete()

    fresh = AuditRecord.objects.get(seq=3)
    assert (fresh.action, fresh.object_repr, fresh.hash) == original
    assert AuditRecord.objects.count() == 5
    call_command("audit_verify", stdout=StringIO())


# --- Failed validation changes nothing ------------------------------------------------------


def _state() -> dict:
    return {
        "audit": AuditRecord.objects.count(),
        "users": list(User.objects.order_by("pk").values()),
        "roles": list(RoleAssignment.objects.order_by("pk").values()),
        "tokens": list(ApiToken.objects.order_by("pk").values()),
        "units": list(
            Unit.objects.order_by("pk").values(
                "code", "name", "committee_name", "department_name", "valid_to"
            )
        ),
    }


FAILURES = {
    "zone_empty_name": lambda t, p: zone_create(actor=p["editor"], commune=t.hoankiem, name="  "),
    "zone_bad_type": lambda t, p: zone_create(
        actor=p["editor"], commune=t.hoankiem, name="Số 5", type_name="Quận"
    ),
    "zone_in_province": lambda t, p: zone_create(actor=p["admin"], commune=t.hanoi, name="Số 5"),
    "zone_retire_commune": lambda t, p: zone_retire(actor=p["admin"], zone=t.cuanam),
    "official_name": lambda t, p: unit_update(
        actor=p["editor"], unit=t.hoankiem, name="Phường Mới", committee_name="UBND"
    ),
    "committee_too_long": lambda t, p: unit_update(
        actor=p["editor"], unit=t.hoankiem, committee_name="Ủ" * 300
    ),
    "unit_out_of_scope": lambda t, p: unit_update(
        actor=p["editor"], unit=t.cuanam, committee_name="UBND"
    ),
    "username_taken": lambda t, p: user_create(
        actor=p["admin"], username="EDITOR70", unit=t.cuanam, password=PASSWORD
    ),
    "weak_password": lambda t, p: user_create(
        actor=p["admin"], username="weak", unit=t.cuanam, password="12345678"
    ),
    "bad_email": lambda t, p: user_update(actor=p["admin"], user=p["member"], email="not-an-email"),
    "unknown_field": lambda t, p: user_update(
        actor=p["admin"], user=p["member"], is_superuser=True
    ),
    "weak_new_password": lambda t, p: user_set_password(
        actor=p["admin"], user=p["member"], password="123"
    ),
    "invalid_role": lambda t, p: role_assign(
        actor=p["admin"], user=p["member"], role="king", unit=t.hoankiem
    ),
    "duplicate_role": lambda t, p: role_assign(
        actor=p["admin"], user=p["editor"], role=Role.EDITOR, unit=t.hoankiem
    ),
    "token_no_name": lambda t, p: api_token_create(actor=p["member"], user=p["member"], name=" "),
    "token_expired": lambda t, p: api_token_create(
        actor=p["member"],
        user=p["member"],
        name="cũ",
        expires_at=timezone.now() - dt.timedelta(days=1),
    ),
    "token_for_other": lambda t, p: api_token_create(actor=p["admin"], user=p["member"], name="x"),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_failed_service_writes_nothing(tree, people, name):
    before = _state()
    with pytest.raises((ServiceError, ValidationError)):
        FAILURES[name](tree, people)
    assert _state() == before


def test_wrong_totp_code_confirms_nothing(tree, people):
    device = TOTPDevice.objects.create(user=people["member"], name="phone", confirmed=False)
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    before = AuditRecord.objects.count()
    assert totp_device_confirm(actor=people["member"], device=device, code=wrong) is False
    device.refresh_from_db()
    assert device.confirmed is False
    assert AuditRecord.objects.count() == before


# --- The audit page -------------------------------------------------------------------------


@pytest.fixture
def records_in_three_units(tree):
    unit_update(actor=None, unit=tree.hanoi, committee_name="UBND thành phố Hà Nội")
    unit_update(actor=None, unit=tree.hoankiem, committee_name="UBND phường Hoàn Kiếm")
    unit_update(actor=None, unit=tree.cuanam, committee_name="UBND phường Cửa Nam")
    unit_update(actor=None, unit=tree.saigon, committee_name="UBND phường Sài Gòn")


def _listed(response) -> list[AuditRecord]:
    return list(response.context["records"])


def test_commune_admin_sees_only_own_commune(tree, make_user, client_for, records_in_three_units):
    admin73 = make_user("admin73", tree.cuanam, role=Role.UNIT_ADMIN)
    response = client_for(admin73).get("/audit/")

    assert response.status_code == 200
    listed = _listed(response)
    codes = {r.unit_code for r in listed}
    assert codes == {"00073"}
    assert "units.unit.update" in {r.action for r in listed}
    content = response.content.decode()
    assert "UBND phường Cửa Nam" in content
    assert "UBND thành phố Hà Nội" not in content
    assert "UBND phường Hoàn Kiếm" not in content
    assert "UBND phường Sài Gòn" not in content


def test_province_admin_sees_its_subtree_only(tree, make_user, client_for, records_in_three_units):
    admin01 = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    codes = {r.unit_code for r in _listed(client_for(admin01).get("/audit/"))}
    assert {"01", "00070", "00073"} <= codes
    assert "26734" not in codes
    assert "" not in codes  # system-wide records (no unit) are for system administrators


@pytest.mark.parametrize("role", [Role.EDITOR, Role.APPROVER, Role.VIEWER])
def test_audit_page_is_404_without_view_audit(
    tree, make_user, client_for, role, records_in_three_units
):
    user = make_user("u", tree.hanoi, role=role)
    response = client_for(user).get("/audit/")
    assert response.status_code == 404
    assert b"UBND" not in response.content


def test_audit_page_needs_login(tree):
    response = Client().get("/audit/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_audit_filters(tree, make_user, client_for, records_in_three_units):
    admin01 = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    editor = make_user("editor70", tree.hoankiem, role=Role.EDITOR)
    zone_create(actor=editor, commune=tree.hoankiem, name="Phúc Tân")
    client = client_for(admin01)

    by_action = _listed(client.get("/audit/", {"action": "units.zone"}))
    assert [r.action for r in by_action] == ["units.zone.create"]

    by_prefix = _listed(client.get("/audit/", {"action": "units."}))
    assert {r.action for r in by_prefix} == {"units.unit.update", "units.zone.create"}
    assert len(by_prefix) == 4  # three updates in the subtree of 01 and the zone

    by_user = _listed(client.get("/audit/", {"actor": "EDITOR70"}))
    assert by_user
    assert {r.actor_username for r in by_user} == {"editor70"}

    by_unit = _listed(client.get("/audit/", {"unit": "00073"}))
    assert by_unit
    assert {r.unit_code for r in by_unit} == {"00073"}
    # Filtering on a unit outside the caller's area shows nothing rather than leaking.
    assert _listed(client.get("/audit/", {"unit": "26734"})) == []

    today = timezone.localdate().isoformat()
    in_range = _listed(client.get("/audit/", {"date_from": today, "date_to": today}))
    assert len(in_range) == len(_listed(client.get("/audit/")))
    past = _listed(client.get("/audit/", {"date_to": "2020-01-01"}))
    assert past == []


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2025-12-31", "date_to": "2025-01-01"},
        {"date_from": "not-a-date"},
        {"date_from": "2025-02-30"},
    ],
)
def test_audit_filter_bad_dates_show_an_error(
    tree, make_user, client_for, params, records_in_three_units
):
    admin01 = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    response = client_for(admin01).get("/audit/", params)
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.is_valid()
    assert form.errors
    assert b'class="error"' in response.content


def test_audit_table_partial_for_htmx(tree, make_user, client_for, records_in_three_units):
    admin01 = make_user("admin01", tree.hanoi, role=Role.UNIT_ADMIN)
    response = client_for(admin01).get("/audit/", {"unit": "00070"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"UBND ph\xc6\xb0\xe1\xbb\x9dng Ho\xc3\xa0n Ki\xe1\xba\xbfm" in response.content


def test_dashboard_recent_audit_stays_in_the_unit(
    tree, system_admin, client_for, records_in_three_units
):
    response = client_for(system_admin).get("/", {"unit": "01"})
    assert response.status_code == 200
    codes = {r.unit_code for r in response.context["recent_audit"]}
    assert "01" in codes
    assert codes <= {"01", "00070", "00073", "00070.001"}, codes
