"""Working days: the seeded Vietnamese calendar, staff edits, deadlines.

Dates below are what the `holidays` package gives (printed when these tests were written):
Tết 2026 Mon 16 – Fri 20 Feb; Tết 2027 Thu 4 – Wed 10 Feb; Hùng Kings' Day Sun 26 Apr 2026
(observed Mon 27 Apr), Fri 16 Apr 2027; Sat 22 Aug 2026 a make-up working day (for Mon 31 Aug);
1 Jan 2027 a Friday.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from thongtincoso.accounts.roles import Role
from thongtincoso.audit.models import AuditRecord
from thongtincoso.core.errors import PermissionDeniedError, ServiceError
from thongtincoso.feedback import calendar
from thongtincoso.feedback.calendar import (
    add_working_days,
    days_off,
    due_date_for,
    ensure_years,
    holiday_delete,
    holiday_save,
    is_working_day,
    working_days_between,
    working_days_extra,
)
from thongtincoso.feedback.models import Holiday, HolidayKind, HolidayYear

VN = ZoneInfo("Asia/Ho_Chi_Minh")
D = dt.date

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(tree: Any, make_user: Any) -> Any:
    return make_user("provadmin", tree.hanoi, role=Role.UNIT_ADMIN)


# --- Seeding --------------------------------------------------------------------------------


def test_seed_once_per_year_with_vietnamese_names() -> None:
    ensure_years([2026])
    assert HolidayYear.objects.filter(year=2026).exists()
    tet = Holiday.objects.get(date=D(2026, 2, 17))
    assert tet.name == "Tết Nguyên Đán"
    assert tet.kind == HolidayKind.HOLIDAY
    assert not tet.edited
    assert Holiday.objects.get(date=D(2026, 8, 22)).kind == HolidayKind.WORKING_DAY
    count = Holiday.objects.count()
    ensure_years([2026, 2026])
    assert Holiday.objects.count() == count
    assert not Holiday.objects.exclude(date__year=2026).exists()


def test_seed_ignores_years_out_of_range() -> None:
    ensure_years([1999, 2100])
    assert not HolidayYear.objects.exists()
    assert not Holiday.objects.exists()


def test_seed_keeps_rows_staff_added_before_it() -> None:
    Holiday.objects.create(
        date=D(2026, 2, 17), name="Custom", kind=HolidayKind.HOLIDAY, edited=True
    )
    ensure_years([2026])
    row = Holiday.objects.get(date=D(2026, 2, 17))
    assert row.name == "Custom"
    assert row.edited
    assert Holiday.objects.filter(date=D(2026, 2, 18)).exists()


def test_calendar_reads() -> None:
    off = days_off(D(2026, 2, 1), D(2026, 2, 28))
    assert off == {D(2026, 2, d) for d in range(16, 21)}
    assert working_days_extra(D(2026, 8, 1), D(2026, 8, 31)) == {D(2026, 8, 22)}
    assert is_working_day(D(2026, 2, 13))
    assert not is_working_day(D(2026, 2, 16))
    assert not is_working_day(D(2026, 2, 14))  # a plain Saturday
    assert is_working_day(D(2026, 8, 22))  # a make-up Saturday


# --- Adding working days --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (D(2026, 3, 2), 3, D(2026, 3, 5)),  # plain week: Mon → Thu
        (D(2026, 3, 5), 2, D(2026, 3, 9)),  # Thu → across the weekend → Mon
        (D(2026, 3, 7), 1, D(2026, 3, 9)),  # from a Saturday
        (D(2026, 3, 2), 0, D(2026, 3, 2)),
        (D(2026, 3, 7), 0, D(2026, 3, 7)),  # n = 0 returns start even on a day off
        (D(2026, 2, 13), 3, D(2026, 2, 25)),  # Tết 2026: 16–20 Feb off
        (D(2027, 2, 3), 1, D(2027, 2, 11)),  # Tết 2027: 4–10 Feb off
        (D(2026, 4, 24), 1, D(2026, 4, 28)),  # Hùng Kings 2026 (Sun 26) observed Mon 27
        (D(2027, 4, 15), 1, D(2027, 4, 19)),  # Hùng Kings 2027 on Fri 16
        (D(2026, 8, 21), 1, D(2026, 8, 22)),  # make-up Saturday 22 Aug 2026 is worked
        (D(2026, 8, 28), 1, D(2026, 9, 3)),  # 31 Aug, 1 and 2 Sep 2026 off
        (D(2026, 12, 30), 2, D(2027, 1, 4)),  # 31 Dec, then 1 Jan 2027 (Fri) off
        (D(2026, 2, 25), -3, D(2026, 2, 13)),  # backwards over Tết
        # 2026 after 2 Jan: 259 weekdays - 12 weekday holidays + 1 make-up Saturday = 248.
        (D(2026, 1, 2), 248, D(2026, 12, 31)),
        (D(2026, 1, 2), 250, D(2027, 1, 5)),
    ],
)
def test_add_working_days(start: dt.date, n: int, expected: dt.date) -> None:
    assert add_working_days(start, n) == expected


def test_year_boundary_seeds_both_years() -> None:
    assert add_working_days(D(2026, 12, 30), 2) == D(2027, 1, 4)
    assert set(HolidayYear.objects.values_list("year", flat=True)) == {2026, 2027}


def test_staff_bridge_day(admin: Any) -> None:
    assert add_working_days(D(2026, 3, 5), 1) == D(2026, 3, 6)
    holiday_save(actor=admin, date=D(2026, 3, 6), name="Nghỉ bù", kind=HolidayKind.HOLIDAY)
    assert add_working_days(D(2026, 3, 5), 1) == D(2026, 3, 9)


def test_staff_make_up_saturday(admin: Any) -> None:
    holiday_save(actor=admin, date=D(2026, 3, 7), name="Làm bù", kind=HolidayKind.WORKING_DAY)
    assert add_working_days(D(2026, 3, 6), 1) == D(2026, 3, 7)
    assert is_working_day(D(2026, 3, 7))


def test_staff_deleted_holiday_stays_deleted(admin: Any) -> None:
    # Deleting in a year not seeded yet seeds it first, so the deletion sticks.
    assert not HolidayYear.objects.exists()
    ensure_years([2026])
    national_day = Holiday.objects.get(date=D(2026, 9, 2))
    holiday_delete(actor=admin, holiday=national_day)
    assert add_working_days(D(2026, 9, 1), 1) == D(2026, 9, 2)
    ensure_years([2026])
    assert not Holiday.objects.filter(date=D(2026, 9, 2)).exists()
    record = AuditRecord.objects.get(action="feedback.holiday.delete")
    assert record.before["date"] == "2026-09-02"


# --- Counting and deadlines -----------------------------------------------------------------


def test_working_days_between() -> None:
    assert working_days_between(D(2026, 2, 13), D(2026, 2, 25)) == 3
    assert working_days_between(D(2026, 2, 25), D(2026, 2, 13)) == -3
    assert working_days_between(D(2026, 3, 2), D(2026, 3, 2)) == 0
    assert working_days_between(D(2026, 3, 6), D(2026, 3, 9)) == 1  # Fri → Mon
    assert working_days_between(D(2026, 3, 7), D(2026, 3, 8)) == 0  # weekend
    assert working_days_between(D(2026, 1, 2), D(2026, 12, 31)) == 248


@pytest.mark.parametrize(
    ("received", "days", "expected"),
    [
        (dt.datetime(2026, 3, 2, 10, 0, tzinfo=VN), 3, D(2026, 3, 5)),  # Mon morning
        (dt.datetime(2026, 3, 2, 16, 59, tzinfo=VN), 3, D(2026, 3, 5)),
        (dt.datetime(2026, 3, 2, 17, 0, tzinfo=VN), 3, D(2026, 3, 6)),  # after closing
        (dt.datetime(2026, 3, 6, 18, 0, tzinfo=VN), 3, D(2026, 3, 12)),  # Fri evening → Mon
        (dt.datetime(2026, 3, 7, 9, 0, tzinfo=VN), 3, D(2026, 3, 12)),  # Saturday → Mon
        (dt.datetime(2026, 3, 2, 10, 0, tzinfo=VN), 0, D(2026, 3, 2)),
        (dt.datetime(2026, 3, 7, 9, 0, tzinfo=VN), 0, D(2026, 3, 9)),
        # 20:00 UTC on Sunday is 03:00 on Monday in Vietnam.
        (dt.datetime(2026, 3, 1, 20, 0, tzinfo=dt.UTC), 3, D(2026, 3, 5)),
        # 10:30 UTC on Monday is 17:30 in Vietnam: counts from Tuesday.
        (dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC), 3, D(2026, 3, 6)),
        (dt.datetime(2026, 2, 13, 18, 0, tzinfo=VN), 1, D(2026, 2, 24)),  # into Tết
        (dt.datetime(2026, 2, 17, 9, 0, tzinfo=VN), 10, D(2026, 3, 9)),  # during Tết
    ],
)
def test_due_date_for(received: dt.datetime, days: int, expected: dt.date) -> None:
    assert due_date_for(received, days) == expected


# --- Editing the list -----------------------------------------------------------------------


def test_holiday_create_and_update_are_audited(admin: Any) -> None:
    holiday = holiday_save(
        actor=admin, date=D(2026, 3, 6), name="  Nghỉ bù  ", kind=HolidayKind.HOLIDAY
    )
    assert holiday.edited
    assert holiday.name == "Nghỉ bù"
    created = AuditRecord.objects.get(action="feedback.holiday.create")
    assert created.after["date"] == "2026-03-06"
    assert created.actor_id == admin.pk

    seeded = Holiday.objects.get(date=D(2026, 2, 20))
    updated = holiday_save(
        actor=admin,
        date=D(2026, 2, 20),
        name="Mùng bốn Tết",
        kind=HolidayKind.HOLIDAY,
        holiday=seeded,
    )
    assert updated.pk == seeded.pk
    assert updated.edited
    record = AuditRecord.objects.get(action="feedback.holiday.update")
    assert record.before["edited"] is False
    assert record.after["name"] == "Mùng bốn Tết"


def test_holiday_date_must_be_unique(admin: Any) -> None:
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        holiday_save(actor=admin, date=D(2026, 2, 17), name="Again", kind=HolidayKind.HOLIDAY)
    assert exc.value.field == "date"
    assert "already in the holiday list" in str(exc.value.message)
    assert Holiday.objects.get(date=D(2026, 2, 17)).name == "Tết Nguyên Đán"
    assert not AuditRecord.objects.filter(action__startswith="feedback.holiday").exists()


@pytest.mark.parametrize(
    ("date", "name", "kind", "field"),
    [
        (D(2026, 3, 6), "", HolidayKind.HOLIDAY, "name"),
        (D(2026, 3, 6), "   ", HolidayKind.HOLIDAY, "name"),
        (D(2026, 3, 6), "x" * 121, HolidayKind.HOLIDAY, "name"),
        (D(2100, 1, 4), "Future", HolidayKind.HOLIDAY, "date"),
        (D(1999, 1, 4), "Past", HolidayKind.HOLIDAY, "date"),
        (D(2026, 3, 6), "Odd", "weekend", "kind"),
    ],
)
def test_holiday_validation(admin: Any, date: dt.date, name: str, kind: str, field: str) -> None:
    with pytest.raises(ServiceError) as exc:
        holiday_save(actor=admin, date=date, name=name, kind=kind)
    assert exc.value.field == field
    assert not Holiday.objects.filter(edited=True).exists()


def test_holiday_edit_permissions(tree: Any, make_user: Any, system_admin: Any) -> None:
    commune_admin = make_user("communeadmin", tree.hoankiem, role=Role.UNIT_ADMIN)
    province_editor = make_user("proveditor", tree.hanoi, role=Role.EDITOR)
    nation_admin = make_user("nationadmin", tree.nation, role=Role.UNIT_ADMIN)
    for user in (commune_admin, province_editor):
        assert not calendar.may_edit_holidays(user)
        with pytest.raises(PermissionDeniedError):
            holiday_save(actor=user, date=D(2026, 3, 6), name="X", kind=HolidayKind.HOLIDAY)
    assert not Holiday.objects.exists()

    ensure_years([2026])
    tet = Holiday.objects.get(date=D(2026, 2, 17))
    with pytest.raises(PermissionDeniedError):
        holiday_delete(actor=commune_admin, holiday=tet)
    assert Holiday.objects.filter(pk=tet.pk).exists()

    for user, day in ((system_admin, 6), (nation_admin, 13)):
        assert calendar.may_edit_holidays(user)
        holiday_save(actor=user, date=D(2026, 3, day), name="Nghỉ", kind=HolidayKind.HOLIDAY)
    assert Holiday.objects.filter(edited=True).count() == 2
