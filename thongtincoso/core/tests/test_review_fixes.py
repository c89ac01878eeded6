"""Edge cases found in review: each once gave a 500 or widened someone's reach."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from thongtincoso.accounts.models import ApiToken
from thongtincoso.accounts.roles import Role
from thongtincoso.accounts.services import api_token_create, role_assign
from thongtincoso.units.models import MAX_UNIT_ID, Unit, UnitKind, path_upper_bound


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_naive_token_expiry_is_read_as_local_time(tree, make_user, client_for):
    user = make_user("u", tree.hanoi, role=Role.VIEWER)
    response = client_for(user).post(
        "/api/v1/tokens",
        json.dumps({"name": "n", "expires_at": "2031-01-01T00:00:00"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    stored = ApiToken.objects.get(name="n").expires_at
    assert stored.isoformat().startswith("2030-12-31T17:00:00")  # 00:00 in Hà Nội is 17:00 UTC


@pytest.mark.parametrize(
    "expires_at", ["2001-01-01T00:00:00", "9999-12-31T23:59:59-12:00", "2099-01-01T00:00:00"]
)
def test_expiry_in_the_past_or_too_far_is_refused_with_a_message(
    tree, make_user, client_for, expires_at
):
    user = make_user("u", tree.hanoi, role=Role.VIEWER)
    response = client_for(user).post(
        "/api/v1/tokens",
        json.dumps({"name": "n", "expires_at": expires_at}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "expires_at"
    assert not ApiToken.objects.filter(name="n").exists()


@pytest.mark.parametrize("page", ["99999999999999999999999", "100001", "0", "-1"])
def test_absurd_page_numbers_are_a_422_not_a_500(tree, client, page):
    response = client.get(f"/api/v1/units/01/children?page={page}")
    assert response.status_code == 422
    assert response.json()["field"] == "page"


def test_unit_ids_beyond_the_path_width_are_refused(tree):
    unit = Unit(code="99999", name="Xã Quá Hạn", kind=UnitKind.COMMUNE, parent=tree.hanoi)
    unit.pk = MAX_UNIT_ID
    with pytest.raises(ValueError, match="does not fit"):
        unit.save(force_insert=True)
    with pytest.raises(ValueError, match="no upper bound"):
        path_upper_bound("99999999")


def test_a_token_stops_working_when_its_user_gains_a_role_that_needs_2fa(tree, make_user, client):
    user = make_user("u", tree.hoankiem, role=Role.VIEWER)
    _, token = api_token_create(actor=user, user=user, name="t")
    assert client.get("/api/v1/me", **_bearer(token)).status_code == 200

    role_assign(actor=None, user=user, role=Role.UNIT_ADMIN, unit=tree.hoankiem)
    assert client.get("/api/v1/me", **_bearer(token)).status_code == 401
    assert client.get("/api/v1/units/00070/users", **_bearer(token)).status_code == 401

    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    assert client.get("/api/v1/units/00070/users", **_bearer(token)).status_code == 200


def test_zone_codes_stay_distinct_and_names_unique_per_commune(tree, make_user):
    from thongtincoso.units.services import zone_create

    codes = {zone_create(actor=None, commune=tree.cuanam, name=f"Số {i}").code for i in range(3)}
    assert codes == {"00073.001", "00073.002", "00073.003"}


@pytest.mark.django_db(transaction=True)
def test_zones_added_at_the_same_moment_get_distinct_codes():
    """Four editors add zones to one commune at once: every one succeeds with its own code."""
    import datetime as dt
    import threading

    from thongtincoso.units.services import zone_create

    nation = Unit(code="VN", name="Việt Nam", kind=UnitKind.NATION)
    nation.save()
    province = Unit(code="01", name="Thành phố Hà Nội", kind=UnitKind.PROVINCE, parent=nation)
    province.save()
    commune = Unit(
        code="00073",
        name="Phường Cửa Nam",
        kind=UnitKind.COMMUNE,
        parent=province,
        valid_from=dt.date(2025, 7, 1),
    )
    commune.save()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def add(i: int) -> None:
        try:
            start.wait()
            zone_create(actor=None, commune=Unit.objects.get(pk=commune.pk), name=f"Số {i}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    codes = sorted(Unit.objects.filter(parent=commune).values_list("code", flat=True))
    assert codes == ["00073.001", "00073.002", "00073.003", "00073.004"]


def test_nightly_tasks_run_at_night_in_hanoi():
    """Huey compares crontabs with its clock; that clock must be Hà Nội's, not UTC."""
    import datetime as dt

    from django.utils import timezone
    from huey.contrib.djhuey import HUEY

    huey_now = HUEY._get_timestamp()
    hanoi_now = timezone.localtime().replace(tzinfo=None)
    assert abs((huey_now - hanoi_now).total_seconds()) < 60

    def due(hour: int, minute: int) -> set[str]:
        moment = dt.datetime(2026, 11, 26, hour, minute)
        return {type(task).__name__ for task in HUEY.read_periodic(moment)}

    assert "verify_audit_chain" in due(2, 45)
    assert "prune_finished_jobs" in due(3, 17)
    assert not due(9, 45) & {"verify_audit_chain", "prune_finished_jobs"}


def test_very_long_search_terms_are_bounded_not_a_500(tree, make_user, client_for):
    admin = client_for(make_user("sys", tree.nation, role=Role.SYSTEM_ADMIN))
    term = "x" * 60_000
    assert admin.get(f"/units/01/?q={term}").status_code == 200
    assert admin.get(f"/units/01/children/?q={term}").status_code == 200
    assert admin.get(f"/admin/units/unit/?q={term}").status_code == 200
