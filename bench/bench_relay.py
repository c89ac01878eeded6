"""Benchmark: relaying a national bulletin to every commune of the country (3,321 inbox items).

On a scratch database holding the official 3,356 units (loaded with `units_load_official()`), a
bulletin owned by the nation (VN) and targeted at all 34 provinces is written, submitted and
approved through the real services, `RUNS` times (a new bulletin each run):

(a) `bulletin_approve()` of a bulletin whose validity has started: approval, publication and
    relay in one transaction (commit included), the path a leader's click takes;
(b) `relay()` alone, inside a transaction, for an approved bulletin (rolled back afterwards);
(c) `delivery_summary()`, the origin's counts by status over its 3,321 lines.

Queries are counted for every timed run (every statement, savepoints included). Goal: (a) under
2 s on SQLite, with the number of queries growing per insert batch, never per commune.

SQLite by default (a file in a temporary directory; `DATABASE_URL`, `REDIS_URL` and `MQTT_URL`
from the environment are ignored). With `BENCH_DATABASE_URL=postgres://…/NAME` the run uses
PostgreSQL in a throwaway `test_NAME` database, as every benchmark does (bench/harness.py). Prints
the environment and a Markdown table, writes var/bench/relay.json (one entry per database vendor),
exits non-zero when a check fails or the goal is missed. `BENCH_RUNS` (default 5) sets the runs.

    uv run python bench/bench_relay.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench uv run python bench/bench_relay.py
"""

from __future__ import annotations

import datetime as dt
import math
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING

from harness import (
    ROOT,
    Report,
    fmt_time,
    query_counter,
    run_main,
)

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User
    from thongtincoso.bulletins.models import Bulletin
    from thongtincoso.units.models import Unit

OUTPUT = ROOT / "var" / "bench" / "relay.json"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
GOAL_S = 2.0
COMMUNES = 3321
PROVINCES = 34
CATEGORY = "kien-thuc-san-xuat-doi-song"


def make_user(username: str, role: str, unit: Unit) -> User:
    from thongtincoso.accounts.models import RoleAssignment, User

    user = User.objects.create_user(username=username, password=None, unit=unit)
    RoleAssignment.objects.create(user=user, role=role, unit=unit)
    return user


def national_bulletin(editor: User, nation: Unit, n: int, *, starts_later: bool) -> Bulletin:
    """A submitted bulletin of VN targeted at every province."""
    from django.utils import timezone

    from thongtincoso.bulletins import services
    from thongtincoso.units.models import Unit, UnitKind

    provinces = list(Unit.objects.current().filter(kind=UnitKind.PROVINCE))
    start = timezone.now() + (dt.timedelta(days=1) if starts_later else dt.timedelta(0))
    bulletin = services.bulletin_create(
        actor=editor,
        unit=nation,
        title=f"Thông báo toàn quốc số {n}",
        body="<p>Chủ động phòng, chống bão số 3 và mưa lũ sau bão.</p>",
        category=CATEGORY,
        valid_from=start,
        targets=provinces,
    )
    services.bulletin_submit(actor=editor, bulletin=bulletin)
    return bulletin


def expected_inserts(rows: int) -> int:
    """INSERT statements bulk_create needs for `rows` inbox items on this database."""
    from django.db import connection

    from thongtincoso.bulletins import services
    from thongtincoso.bulletins.models import Delivery

    fields = [f for f in Delivery._meta.concrete_fields if not f.primary_key]
    cap = max(connection.ops.bulk_batch_size(fields, [None] * rows), 1)
    return math.ceil(rows / min(services.RELAY_BATCH, cap))


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "max_s": round(max(samples), 4),
    }


def run(report: Report) -> None:
    from django.db import transaction

    from thongtincoso.accounts.roles import Role
    from thongtincoso.bulletins import selectors, services
    from thongtincoso.bulletins.models import Delivery, Status
    from thongtincoso.units.models import Unit, UnitKind
    from thongtincoso.units.services import units_load_official

    start = time.perf_counter()
    loaded = units_load_official()
    load_s = time.perf_counter() - start
    communes = Unit.objects.current().filter(kind=UnitKind.COMMUNE).count()
    report.check(
        f"official list loaded: {PROVINCES} provinces, {COMMUNES:,} communes",
        loaded.created == 1 + PROVINCES + COMMUNES and communes == COMMUNES,
    )
    nation = Unit.objects.get(code="VN")
    editor = make_user("bench_editor", Role.EDITOR, nation)
    approver = make_user("bench_approver", Role.APPROVER, nation)
    inserts = expected_inserts(COMMUNES)

    approve_s: list[float] = []
    approve_q: list[int] = []
    relay_s: list[float] = []
    relay_q: list[int] = []
    summary_s: list[float] = []
    for n in range(1, RUNS + 1):
        # (a) approve a bulletin already valid: approve + publish + relay, committed.
        bulletin = national_bulletin(editor, nation, n, starts_later=False)
        with query_counter() as counted:
            t0 = time.perf_counter()
            services.bulletin_approve(actor=approver, bulletin=bulletin, comment="Đồng ý")
            approve_s.append(time.perf_counter() - t0)
        approve_q.append(counted[0])
        bulletin.refresh_from_db()
        relayed = Delivery.objects.filter(bulletin=bulletin).count()
        report.check(
            f"run {n}: approval published and relayed to {COMMUNES:,} communes",
            bulletin.status == Status.PUBLISHED and relayed == COMMUNES,
        )

        # (c) the origin's summary over those lines.
        t0 = time.perf_counter()
        counts = selectors.delivery_summary(bulletin)
        summary_s.append(time.perf_counter() - t0)
        report.check(f"run {n}: summary counts every commune", sum(counts.values()) == COMMUNES)

        # (b) relay() alone for an approved bulletin, then rolled back.
        later = national_bulletin(editor, nation, n, starts_later=True)
        services.bulletin_approve(actor=approver, bulletin=later)
        later.refresh_from_db()
        with transaction.atomic():
            with query_counter() as counted:
                t0 = time.perf_counter()
                created = services.relay(later, actor=approver)
                relay_s.append(time.perf_counter() - t0)
            relay_q.append(counted[0])
            transaction.set_rollback(True)
        report.check(f"run {n}: relay() created {COMMUNES:,} items", created == COMMUNES)

    # relay(): targets, communes below them, existing items, the inserts, relayed_at, audit.
    # Everything but the inserts is a fixed cost; the inserts are one per batch.
    fixed_relay = max(relay_q) - inserts
    report.check(
        f"relay() queries per batch, not per commune ({max(relay_q)} for {inserts} batches)",
        0 < fixed_relay <= 15 and len(set(relay_q)) == 1,
    )
    # The first approval may load a cache or two; none grows with the communes.
    report.check(
        f"approval queries per batch, not per commune ({max(approve_q)} for {inserts} batches)",
        max(approve_q) - inserts <= 30,
    )
    median_approve = statistics.median(approve_s)
    report.check(
        f"approve + publish + relay under {GOAL_S:.0f} s (median {median_approve:.2f} s)",
        median_approve < GOAL_S,
    )

    report.results = {
        "communes": COMMUNES,
        "runs": RUNS,
        "relay_batch": services.RELAY_BATCH,
        "insert_statements": inserts,
        "load_units_s": round(load_s, 3),
        "approve_publish_relay": summary(approve_s) | {"queries": approve_q},
        "relay_only": summary(relay_s) | {"queries": relay_q},
        "delivery_summary": summary(summary_s) | {"queries": 1},
        "goal_s": GOAL_S,
        "goal_ratio": round(median_approve / GOAL_S, 3),
    }
    rows = (
        (
            "(a) `bulletin_approve()`: approve + publish + relay, committed",
            approve_s,
            approve_q[-1],
        ),
        ("(b) `relay()` alone, in a transaction", relay_s, relay_q[0]),
        ("(c) `delivery_summary()` over the 3,321 lines", summary_s, 1),
    )
    for label, samples, queries in rows:
        report.row(
            label,
            fmt_time(statistics.median(samples)),
            fmt_time(max(samples)),
            str(queries),
            f"{COMMUNES / statistics.median(samples):,.0f} communes/s",
        )


if __name__ == "__main__":
    sys.exit(
        run_main(
            lambda env: f"\n## Bulletin relay — {env['database_version']}, {RUNS} runs",
            run,
            OUTPUT,
            columns=("Case", "Median", "Slowest", "Queries", "Rate"),
            footer="Results written to {path}; elapsed {elapsed} s",
        )
    )
