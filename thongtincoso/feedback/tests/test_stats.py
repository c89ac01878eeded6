"""Statistics on a small known dataset: exact counts, medians, scope, filters, the page, the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from thongtincoso.accounts.roles import Role
from thongtincoso.feedback import stats
from thongtincoso.feedback.models import Feedback, Status
from thongtincoso.feedback.stats import StatsFilters, feedback_stats

from .factories import make_feedback

pytestmark = pytest.mark.django_db

VN = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = dt.date(2025, 4, 20)


def at(year: int, month: int, day: int, hour: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=VN)


def _put(fb: Feedback, **fields: Any) -> Feedback:
    Feedback.objects.filter(pk=fb.pk).update(**fields)
    return Feedback.objects.get(pk=fb.pk)


@pytest.fixture
def dataset(tree: Any) -> dict[str, Feedback]:
    """Five feedback in Hà Nội in 2025 (Q1–Q2), one older, one in Hồ Chí Minh City."""
    answered = {"status": Status.ANSWERED, "due_date": dt.date(2025, 4, 30)}
    return {
        "a": _put(
            make_feedback(tree.hoankiem, "moi-truong"),
            received_at=at(2025, 3, 5, 9),
            answered_at=at(2025, 3, 7, 9),  # 2.0 days
            **answered,
        ),
        "b": _put(
            make_feedback(tree.hoankiem, "moi-truong"),
            received_at=at(2025, 3, 10, 8),
            answered_at=at(2025, 3, 14, 8),  # 4.0 days
            status=Status.CLOSED,
            due_date=dt.date(2025, 3, 20),
        ),
        "c": _put(
            make_feedback(tree.hoankiem, "chieu-sang"),
            received_at=at(2025, 4, 1, 10),
            status=Status.ACCEPTED,
            due_date=dt.date(2025, 4, 10),  # overdue on TODAY
        ),
        "d": _put(
            make_feedback(tree.cuanam, "moi-truong"),
            received_at=at(2025, 4, 2, 10),
            answered_at=at(2025, 4, 3, 10),  # 1.0 day
            **answered,
        ),
        "e": _put(
            make_feedback(tree.cuanam, "moi-truong"),
            received_at=at(2025, 4, 15, 10),
            due_date=dt.date(2025, 4, 25),  # open, not yet due on TODAY
        ),
        "old": _put(
            make_feedback(tree.hoankiem, "moi-truong"),
            received_at=at(2024, 12, 1, 10),
            due_date=dt.date(2024, 12, 12),
        ),
        "hcm": _put(
            make_feedback(tree.saigon, "moi-truong"),
            received_at=at(2025, 4, 3, 10),
            due_date=dt.date(2025, 4, 10),
        ),
    }


@pytest.fixture
def viewer(tree: Any, make_user: Any) -> Any:
    # Aggregates need only the view right.
    return make_user("viewer_hn", tree.hanoi, role=Role.VIEWER)


def row(c: stats.Counts) -> tuple[Any, ...]:
    return (c.received, c.answered, c.open, c.overdue, c.median_days)


def test_exact_figures(dataset, viewer):
    s = feedback_stats(viewer, StatsFilters(date_from=dt.date(2025, 1, 1)), today=TODAY)

    assert s.date_from == dt.date(2025, 1, 1)
    assert s.date_to == TODAY
    assert row(s.total) == (5, 3, 2, 1, 2.0)
    months = {m.start: row(m.counts) for m in s.months}
    assert list(months) == [dt.date(2025, m, 1) for m in (1, 2, 3, 4)]
    assert months[dt.date(2025, 1, 1)] == (0, 0, 0, 0, None)
    assert months[dt.date(2025, 3, 1)] == (2, 2, 0, 0, 3.0)
    assert months[dt.date(2025, 4, 1)] == (3, 1, 2, 1, 1.0)
    assert {g.code: row(g.counts) for g in s.units} == {
        "00070": (3, 2, 1, 1, 3.0),
        "00073": (2, 1, 1, 0, 1.0),
    }
    assert {g.code: row(g.counts) for g in s.categories} == {
        "moi-truong": (4, 3, 1, 0, 2.0),
        "chieu-sang": (1, 0, 1, 1, None),
    }
    assert list(stats.csv_rows(s, total_label="Total"))[-1] == [
        "",
        "Total",
        "",
        "",
        5,
        3,
        2,
        1,
        "2.0",
    ]


def test_default_window_is_the_last_twelve_months(dataset, viewer):
    s = feedback_stats(viewer, today=TODAY)
    assert s.date_from == dt.date(2024, 5, 1)
    assert len(s.months) == 12
    assert s.total.received == 6  # the December one too


def test_filters_and_scope(dataset, tree, make_user):
    hanoi = make_user("viewer_hn", tree.hanoi, role=Role.VIEWER)
    hcm = make_user("viewer_hcm", tree.hcm, role=Role.VIEWER)
    since = dt.date(2025, 1, 1)

    assert (
        feedback_stats(
            hanoi, StatsFilters(date_from=since, unit="00073"), today=TODAY
        ).total.received
        == 2
    )
    assert (
        feedback_stats(hanoi, StatsFilters(date_from=since, unit="01"), today=TODAY).total.received
        == 5
    )
    assert (
        feedback_stats(hanoi, StatsFilters(date_from=since, unit="79"), today=TODAY).total.received
        == 0
    )
    assert (
        feedback_stats(
            hanoi, StatsFilters(date_from=since, category="chieu-sang"), today=TODAY
        ).total.received
        == 1
    )
    march = StatsFilters(date_from=dt.date(2025, 3, 1), date_to=dt.date(2025, 3, 31))
    assert row(feedback_stats(hanoi, march, today=TODAY).total) == (2, 2, 0, 0, 3.0)
    assert feedback_stats(hcm, StatsFilters(date_from=since), today=TODAY).total.received == 1


def test_page_and_csv(dataset, viewer, client_for):
    client = client_for(viewer)
    query = {"date_from": "2025-01-01", "date_to": "2025-04-20"}

    page = client.get("/feedback/staff/stats/", query)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="month-chart"' in html
    assert 'data-testid="unit-chart"' in html
    assert "Phường Cửa Nam" in html
    assert "Phường Sài Gòn" not in html

    response = client.get("/feedback/staff/stats.csv", query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="phan-anh-2025-01-01-2025-04-20.csv"'
    )
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    # Overdue is counted against the real today, after every due date in the dataset.
    assert rows[1:] == [
        ["00070", "Phường Hoàn Kiếm", "chieu-sang", rows[1][3], "1", "0", "1", "1", ""],
        ["00070", "Phường Hoàn Kiếm", "moi-truong", rows[2][3], "2", "2", "0", "0", "3.0"],
        ["00073", "Phường Cửa Nam", "moi-truong", rows[3][3], "2", "1", "1", "1", "1.0"],
        ["", rows[4][1], "", "", "5", "3", "2", "2", "2.0"],
    ]
    assert len(rows[0]) == 9


def test_csv_cells_cannot_run_as_formulas(tree, viewer, client_for):
    from thongtincoso.units.models import Unit

    Unit.objects.filter(pk=tree.hoankiem.pk).update(name="=HYPERLINK(1)")
    make_feedback(tree.hoankiem)
    body = client_for(viewer).get("/feedback/staff/stats.csv").content.decode()
    assert "'=HYPERLINK(1)" in body


def test_bad_dates_are_400(viewer, client_for):
    response = client_for(viewer).get(
        "/feedback/staff/stats/", {"date_from": "2025-05-01", "date_to": "2025-04-01"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        {"date_from": "9999-12-01", "date_to": "9999-12-31"},
        {"date_to": "9999-12-31"},
        {"date_from": "9999-12-31"},
        {"date_from": "0001-01-01"},
        {"date_from": "1899-12-31", "date_to": "1900-01-31"},
        {"date_from": "1999-12-31"},
        {"date_to": "2100-01-01"},
    ],
)
def test_dates_outside_2000_to_2099_are_a_form_error(viewer, client_for, query):
    from django.conf import settings

    client = client_for(viewer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the pages are Vietnamese by default
    page = client.get("/feedback/staff/stats/", query)
    assert page.status_code == 400
    assert "The date must be between 2000 and 2099." in page.content.decode()

    response = client.get("/feedback/staff/stats.csv", query)
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "The date must be between 2000 and 2099." in response.content.decode()


def test_the_years_at_the_edges_are_fine(dataset, viewer, client_for):
    client = client_for(viewer)
    query = {"date_from": "2000-01-01", "date_to": "2099-12-31"}
    assert client.get("/feedback/staff/stats/", query).status_code == 200
    response = client.get("/feedback/staff/stats.csv", query)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8").lstrip("\ufeff"))))
    assert rows[-1][4] == "6"  # all of Hà Nội's, the older one too


def test_month_arithmetic_never_leaves_the_calendar(viewer):
    # Callers other than the form (a shell, a task) may pass any date: clamped, never an error.
    assert stats._add_months(dt.date(9999, 12, 1), 1) == dt.date(9999, 12, 1)
    assert stats._add_months(dt.date(1, 1, 1), -1) == dt.date(1, 1, 1)
    assert stats._add_months(dt.date(2025, 12, 15), 1) == dt.date(2026, 1, 1)
    assert stats._add_months(dt.date(2025, 1, 31), -13) == dt.date(2023, 12, 1)
    months = stats._month_starts(dt.date(9998, 1, 1), dt.date(9999, 12, 31))
    assert len(months) == 24
    assert months[-1] == dt.date(9999, 12, 1)
    assert stats._month_starts(dt.date(2025, 3, 5), dt.date(2025, 2, 1)) == []
    assert stats.default_window(dt.date(1, 3, 1))[0] == dt.date(1, 1, 1)
    s = feedback_stats(
        viewer, StatsFilters(date_from=dt.date(1, 1, 1), date_to=dt.date(9999, 12, 31))
    )
    assert len(s.months) == 24
