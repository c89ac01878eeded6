"""Feedback statistics for staff: counts and answering times, never anyone's personal data.

Everything is grouped by the month the feedback was *received* (Vietnam time), so a month's row
tells what became of what came in that month: how much was answered, how much is overdue now,
and how long answers took (calendar days from receipt to the published answer, median).
"Answered" means an answer was published at least once (a reopened feedback stays answered).
Merged duplicates count as received; they are never overdue on their own (they follow their
master, as `selectors.overdue` says).

Scope: `policy.restrict(Feedback.objects, user, Action.VIEW)`: aggregate figures need only the
view right, unlike the list of feedback.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.units.models import Unit, path_upper_bound

from .models import OPEN_STATUSES, Feedback

MONTHS = 12


@dataclass
class Counts:
    """received, answered, open and overdue-now counts, and the answering times (in days)."""

    received: int = 0
    answered: int = 0
    open: int = 0
    overdue: int = 0
    days: list[float] = field(default_factory=list)

    def add(self, row: dict[str, Any], today: dt.date) -> None:
        self.received += 1
        if row["answered_at"] is not None:
            self.answered += 1
            seconds = (row["answered_at"] - row["received_at"]).total_seconds()
            self.days.append(max(0.0, seconds / 86400))
        if row["status"] in OPEN_STATUSES:
            self.open += 1
            if row["due_date"] < today and row["duplicate_of_id"] is None:
                self.overdue += 1

    @property
    def median_days(self) -> float | None:
        """Median calendar days from receipt to answer, one decimal; None when none answered."""
        return round(statistics.median(self.days), 1) if self.days else None


@dataclass
class Group:
    code: str
    name: str
    counts: Counts


@dataclass
class Month:
    start: dt.date
    counts: Counts


@dataclass
class Stats:
    date_from: dt.date
    date_to: dt.date
    months: list[Month]
    units: list[Group]
    categories: list[Group]
    # (unit, category) pairs that received anything, sorted by unit code then category code.
    cells: list[tuple[Group, Group]]
    total: Counts


@dataclass
class StatsFilters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    unit: str = ""  # a unit code: that unit's subtree
    category: str = ""


def default_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """From the first day of the month eleven months ago to today: the last 12 months."""
    return _add_months(today.replace(day=1), -(MONTHS - 1)), today


# Months counted from year 0: January of year 1 and December of year 9999, the dates Python has.
_FIRST_MONTH = dt.date.min.year * 12
_LAST_MONTH = dt.date.max.year * 12 + 11


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> dt.date:
    # Clamped, so arithmetic at the ends of the calendar never raises (the form keeps dates
    # within 2000..2099; a caller of feedback_stats may not).
    index = min(max(index, _FIRST_MONTH), _LAST_MONTH)
    return dt.date(index // 12, index % 12 + 1, 1)


def _add_months(day: dt.date, n: int) -> dt.date:
    """The first day of the month `n` months from `day`'s, clamped to the dates Python has."""
    return _month_start(_month_index(day) + n)


def _month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the months from `start`'s to `end`'s, at most the last 24."""
    last = _month_index(end)
    first = max(_month_index(start), last - 23)
    return [_month_start(i) for i in range(first, last + 1)]


def feedback_in_scope(user: Any, filters: StatsFilters) -> Any:
    """The rows the statistics count: in the user's view scope, received in the window."""
    rows = policy.restrict(Feedback.objects.all(), user, Action.VIEW)
    if filters.unit:
        unit = Unit.objects.filter(code=filters.unit).first()
        if unit is None:
            return rows.none()
        rows = rows.filter(unit__path__gte=unit.path, unit__path__lt=path_upper_bound(unit.path))
    if filters.category:
        rows = rows.filter(category__code=filters.category)
    if filters.date_from:
        rows = rows.filter(received_at__date__gte=filters.date_from)
    if filters.date_to:
        rows = rows.filter(received_at__date__lte=filters.date_to)
    return rows


def feedback_stats(
    user: Any, filters: StatsFilters | None = None, *, today: dt.date | None = None
) -> Stats:
    """The figures of the statistics page and its CSV (one query, grouped here)."""
    today = today or timezone.localdate()
    f = filters or StatsFilters()
    default_from, default_to = default_window(today)
    date_from, date_to = f.date_from or default_from, f.date_to or default_to
    f = StatsFilters(date_from=date_from, date_to=date_to, unit=f.unit, category=f.category)
    rows = feedback_in_scope(user, f).values(
        "received_at",
        "answered_at",
        "status",
        "due_date",
        "duplicate_of_id",
        "unit__code",
        "unit__name",
        "category__code",
        "category__name",
    )
    months = {m: Counts() for m in _month_starts(date_from, date_to)}
    by_unit: dict[str, Group] = {}
    by_category: dict[str, Group] = {}
    by_cell: dict[tuple[str, str], Counts] = defaultdict(Counts)
    total = Counts()
    for row in rows:
        month = timezone.localtime(row["received_at"]).date().replace(day=1)
        if month in months:
            months[month].add(row, today)
        unit = by_unit.setdefault(
            row["unit__code"], Group(row["unit__code"], row["unit__name"], Counts())
        )
        unit.counts.add(row, today)
        category = by_category.setdefault(
            row["category__code"], Group(row["category__code"], row["category__name"], Counts())
        )
        category.counts.add(row, today)
        by_cell[(row["unit__code"], row["category__code"])].add(row, today)
        total.add(row, today)
    cells = [
        (
            Group(unit_code, by_unit[unit_code].name, counts),
            Group(category_code, by_category[category_code].name, counts),
        )
        for (unit_code, category_code), counts in sorted(by_cell.items())
    ]
    return Stats(
        date_from=date_from,
        date_to=date_to,
        months=[Month(start, counts) for start, counts in months.items()],
        units=sorted(by_unit.values(), key=lambda g: (-g.counts.received, g.code)),
        categories=sorted(by_category.values(), key=lambda g: (-g.counts.received, g.code)),
        cells=cells,
        total=total,
    )


def csv_rows(stats: Stats, *, total_label: str) -> Iterable[list[Any]]:
    """Data rows of the CSV: one per unit × category, then the totals (no header)."""
    for unit, category in stats.cells:
        c = unit.counts  # the cell's counts (shared by both groups of the pair)
        yield [
            unit.code,
            unit.name,
            category.code,
            category.name,
            c.received,
            c.answered,
            c.open,
            c.overdue,
            _decimal(c.median_days),
        ]
    t = stats.total
    yield [
        "",
        total_label,
        "",
        "",
        t.received,
        t.answered,
        t.open,
        t.overdue,
        _decimal(t.median_days),
    ]


def _decimal(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


# --- Charts (server-rendered SVG, as radio's reports) ---------------------------------------

CHART_WIDTH = 720
MONTH_CHART_HEIGHT = 220
BAR_H = 20
LABEL_W = 220


def month_chart(months: list[Month]) -> dict[str, Any]:
    """Vertical bars per month: received (grey) beside answered (green); overdue as a number."""
    top = max([m.counts.received for m in months] or [0]) or 1
    plot_h = MONTH_CHART_HEIGHT - 40  # room for the labels under the bars
    slot = (CHART_WIDTH - 20) / max(1, len(months))
    bar_w = max(4.0, slot / 2 - 4)
    bars = []
    for i, m in enumerate(months):
        x = 10 + i * slot
        received_h = m.counts.received / top * plot_h
        answered_h = m.counts.answered / top * plot_h
        bars.append(
            {
                "label": m.start.strftime("%m/%Y"),
                "x": f"{x:.1f}",
                "x2": f"{x + bar_w:.1f}",
                "text_x": f"{x + bar_w:.1f}",
                "received_y": f"{plot_h - received_h + 10:.1f}",
                "received_h": f"{received_h:.1f}",
                "answered_y": f"{plot_h - answered_h + 10:.1f}",
                "answered_h": f"{answered_h:.1f}",
                "received": m.counts.received,
                "answered": m.counts.answered,
                "overdue": m.counts.overdue,
            }
        )
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": MONTH_CHART_HEIGHT,
        "bar_w": f"{bar_w:.1f}",
        "label_y": plot_h + 26,
        "overdue_y": plot_h + 38,
    }


def unit_chart(units: list[Group], *, limit: int = 30) -> dict[str, Any]:
    """Horizontal bars per responsible unit: received (grey) and answered (green)."""
    shown = units[:limit]
    top = max([g.counts.received for g in shown] or [0]) or 1
    span = CHART_WIDTH - LABEL_W - 90
    bars = [
        {
            "label": g.name,
            "y": i * (BAR_H + 10),
            "received_w": f"{g.counts.received / top * span:.1f}",
            "answered_w": f"{g.counts.answered / top * span:.1f}",
            "received": g.counts.received,
            "answered": g.counts.answered,
            "overdue": g.counts.overdue,
        }
        for i, g in enumerate(shown)
    ]
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": max(1, len(bars)) * (BAR_H + 10) + 10,
        "label_w": LABEL_W,
        "bar_h": BAR_H,
        "text_x": CHART_WIDTH - 80,
    }
