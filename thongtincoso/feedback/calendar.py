"""Working days in Vietnam (ngày làm việc): feedback deadlines count them, not calendar days.

A working day is Monday to Friday, unless the `Holiday` table says otherwise: a HOLIDAY row takes a
weekday off (Tết, Hùng Kings' Day, bridge days), a WORKING_DAY row makes a Saturday or Sunday a
working day (the make-up day the government sets when it moves a bridge day).

The table is seeded once per year, on first use, from the `holidays` package's Vietnamese calendar,
which computes the lunar holidays and the substituted days. `HolidayYear` records that a year was
seeded, so a holiday staff deleted never comes back and their edits always win.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Role
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import NotFoundError, PermissionDeniedError, ServiceError

from .models import Holiday, HolidayKind, HolidayYear

MIN_YEAR = 2000
MAX_YEAR = 2099
NAME_MAX = 120
# Offices close at 17:00: feedback received later counts as received the next working day.
OFFICE_CLOSES = dt.time(17, 0)
# Seeded data, like the package's own names, is Vietnamese (it is not a UI string).
MAKE_UP_DAY_NAME = "Ngày làm việc bù"

_ONE_DAY = dt.timedelta(days=1)


# --- Seeding --------------------------------------------------------------------------------


def _package_calendar(year: int) -> list[Holiday]:
    """The rows the `holidays` package gives for `year`: days off and make-up working days."""
    import holidays

    calendar: Any = holidays.country_holidays("VN", years=year, language="vi")
    rows = [
        Holiday(date=day, name=str(name)[:NAME_MAX], kind=HolidayKind.HOLIDAY, edited=False)
        for day, name in sorted(calendar.items())
        if day.year == year
    ]
    # `weekend_workdays` lists every known make-up Saturday, whatever the years asked.
    rows += [
        Holiday(date=day, name=MAKE_UP_DAY_NAME, kind=HolidayKind.WORKING_DAY, edited=False)
        for day in sorted(getattr(calendar, "weekend_workdays", ()))
        if day.year == year
    ]
    return rows


def ensure_years(years: Iterable[int]) -> None:
    """Seed the holidays of each year in 2000..2099 that was never seeded (others are ignored).

    Rows already in the table (added by staff before the seed) are kept as they are. Idempotent and
    safe when two requests seed the same year at once: the `HolidayYear` primary key decides which
    one inserts, the other's savepoint rolls back, and nothing else in its transaction is lost.
    """
    wanted = {year for year in years if MIN_YEAR <= year <= MAX_YEAR}
    if not wanted:
        return
    done = set(HolidayYear.objects.filter(year__in=wanted).values_list("year", flat=True))
    for year in sorted(wanted - done):
        try:
            with transaction.atomic():
                HolidayYear.objects.create(year=year)
                # ignore_conflicts: a date that already has a row keeps it (staff edits win).
                Holiday.objects.bulk_create(_package_calendar(year), ignore_conflicts=True)
        except IntegrityError:
            continue  # seeded by a concurrent request


# --- Reading the calendar -------------------------------------------------------------------


def calendar_exceptions(start: dt.date, end: dt.date) -> tuple[set[dt.date], set[dt.date]]:
    """(days off, make-up working days) between `start` and `end` inclusive, in either order.

    One query on `Holiday` (after seeding the years touched, if needed).
    """
    low, high = min(start, end), max(start, end)
    ensure_years(range(low.year, high.year + 1))
    off: set[dt.date] = set()
    extra: set[dt.date] = set()
    for day, kind in Holiday.objects.filter(date__range=(low, high)).values_list("date", "kind"):
        (extra if kind == HolidayKind.WORKING_DAY else off).add(day)
    return off, extra


def days_off(start: dt.date, end: dt.date) -> set[dt.date]:
    """Days taken off by the holiday list between `start` and `end` (weekends are not listed)."""
    return calendar_exceptions(start, end)[0]


def working_days_extra(start: dt.date, end: dt.date) -> set[dt.date]:
    """Make-up working days (worked Saturdays or Sundays) between `start` and `end`."""
    return calendar_exceptions(start, end)[1]


def _is_working(day: dt.date, off: set[dt.date], extra: set[dt.date]) -> bool:
    if day in extra:
        return True
    return day.weekday() < 5 and day not in off


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday and not a day off, or a make-up working day."""
    off, extra = calendar_exceptions(day, day)
    return _is_working(day, off, extra)


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The date `n` working days after `start` (before it when `n` is negative).

    `start` itself does not count, whether or not it is a working day; `n == 0` returns `start`.
    """
    step = _ONE_DAY if n > 0 else -_ONE_DAY
    remaining = abs(n)
    day = start
    while remaining:
        # A window that almost always holds the answer (weekends plus a long Tết); if not, the
        # loop fetches the next window, so one query per window.
        window_end = day + step * (remaining * 2 + 14)
        off, extra = calendar_exceptions(day + step, window_end)
        while remaining and day != window_end:
            day += step
            if _is_working(day, off, extra):
                remaining -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]; negative (those in (end, start]) when `end` is before `start`.

    `working_days_between(today, due_date)` is "x working days left" when positive, "overdue by
    x working days" when negative.
    """
    if start == end:
        return 0
    sign = 1 if end > start else -1
    low, high = min(start, end), max(start, end)
    off, extra = calendar_exceptions(low + _ONE_DAY, high)
    count = 0
    day = low
    while day < high:
        day += _ONE_DAY
        if _is_working(day, off, extra):
            count += 1
    return sign * count


def due_date_for(received_at: dt.datetime, days: int) -> dt.date:
    """The last day to answer a feedback received at `received_at`, `days` working days later.

    As offices count "ngày làm việc": the receipt is taken in Vietnam local time
    (settings.TIME_ZONE). Feedback received on a day off, or on a working day at or after 17:00,
    counts as received at the start of the next working day. The deadline is then `days` working
    days after that day of receipt (the day of receipt itself does not count): received Monday
    morning with 3 days → Thursday; received Saturday, or Friday evening → counted from Monday →
    Thursday.
    """
    local = timezone.localtime(received_at)
    received = local.date()
    if local.time() >= OFFICE_CLOSES or not is_working_day(received):
        received = add_working_days(received, 1)
    return add_working_days(received, days)


# --- Editing the list (staff) ---------------------------------------------------------------


def may_edit_holidays(user: Any) -> bool:
    """System administrators and province-level (or national) unit administrators."""
    if policy.is_system_admin(user):
        return True
    return any(
        g.role in (Role.SYSTEM_ADMIN, Role.UNIT_ADMIN) and g.unit_depth <= 1
        for g in policy.grants(user)
    )


def _require_editor(actor: Any) -> None:
    if not may_edit_holidays(actor):
        raise PermissionDeniedError(
            _("Only system administrators and province administrators may edit the holiday list.")
        )


def _snapshot(holiday: Holiday) -> dict[str, Any]:
    return {
        "date": holiday.date.isoformat(),
        "name": holiday.name,
        "kind": holiday.kind,
        "edited": holiday.edited,
    }


def holiday_save(
    *,
    actor: Any,
    date: dt.date,
    name: str,
    kind: str,
    holiday: Holiday | None = None,
) -> Holiday:
    """Add a day to the holiday list, or change one (`holiday`). The row is marked as edited.

    A bridge day is a HOLIDAY; a Saturday worked to make up for it is a WORKING_DAY.
    """
    _require_editor(actor)
    name = (name or "").strip()
    if not name:
        raise ServiceError(_("Give the day a name."), field="name")
    if len(name) > NAME_MAX:
        raise ServiceError(
            _("The name is too long (at most %(max)d characters).") % {"max": NAME_MAX},
            field="name",
        )
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise ServiceError(_("Enter a valid date."), field="date")
    if not MIN_YEAR <= date.year <= MAX_YEAR:
        raise ServiceError(
            _("The date must be between %(min)d and %(max)d.") % {"min": MIN_YEAR, "max": MAX_YEAR},
            field="date",
        )
    if kind not in HolidayKind.values:
        raise ServiceError(_("Choose whether the day is a day off or a working day."), field="kind")
    # Seed first, so a later seed of this year cannot add a package row over the staff's choice.
    years = {date.year} | ({holiday.date.year} if holiday is not None else set())
    ensure_years(years)
    with transaction.atomic():
        if holiday is not None:
            locked = Holiday.objects.select_for_update().filter(pk=holiday.pk).first()
            if locked is None:
                raise NotFoundError(_("This day is no longer in the holiday list."))
            holiday = locked
            before: dict[str, Any] | None = _snapshot(holiday)
        else:
            holiday = Holiday()
            before = None
        if Holiday.objects.filter(date=date).exclude(pk=holiday.pk).exists():
            raise _date_taken(date)
        holiday.date, holiday.name, holiday.kind, holiday.edited = date, name, kind, True
        try:
            with transaction.atomic():
                holiday.save()
        except IntegrityError as exc:  # added concurrently
            raise _date_taken(date) from exc
        audit_record(
            actor=actor,
            action="feedback.holiday.update" if before else "feedback.holiday.create",
            obj=holiday,
            before=before,
            after=_snapshot(holiday),
        )
    return holiday


def _date_taken(date: dt.date) -> ServiceError:
    return ServiceError(
        _("%(date)s is already in the holiday list; change that entry instead.")
        % {"date": date.strftime("%d/%m/%Y")},
        field="date",
    )


def holiday_delete(*, actor: Any, holiday: Holiday) -> None:
    """Remove a day from the list; the year stays seeded, so the seed never brings it back."""
    _require_editor(actor)
    ensure_years([holiday.date.year])
    with transaction.atomic():
        row = Holiday.objects.select_for_update().filter(pk=holiday.pk).first()
        if row is None:
            return  # already deleted
        before = _snapshot(row)
        audit_record(actor=actor, action="feedback.holiday.delete", obj=row, before=before)
        row.delete()
