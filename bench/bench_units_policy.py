"""Benchmark: the unit tree (materialised path, ADR 0003) and the permission policy.

Measures, on a scratch database holding the official 3,356 units plus 3,000 zones:

(a) a subtree through `Unit.objects.subtree_of()` (one path-range query) against a naive walk
    that follows `parent` level by level (`parent__in`, one query per level);
(b) `policy.restrict(Unit.objects.all(), user, "view").count()` for three kinds of user;
(c) `policy.may(user, "edit", unit)` per call, grants cached on the user object;
(d) `units_load_official()`: first load and idempotent re-load;
(e) `GET /api/v1/units/<code>/children` through `django.test.Client`.

SQLite by default: the database is a file in a temporary directory (`TTCS_VAR_DIR`), and any
`DATABASE_URL`, `REDIS_URL` or `MQTT_URL` in the environment is ignored. With
`BENCH_DATABASE_URL=postgres://…/NAME` the run uses PostgreSQL instead, in a throwaway
`test_NAME` database that Django's test machinery creates next to NAME and drops at the end.

Prints the environment, the query plans of the subtree query and a Markdown table; writes the
figures to var/bench/units_policy.json (one entry per database vendor). Exits non-zero when a
structural check fails (wrong results, more queries than expected, the path index unused on
SQLite); timings are reported, never asserted. `BENCH_REPS` (default 200) sets the repetitions.

    uv run python bench/bench_units_policy.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \
        uv run python bench/bench_units_policy.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from harness import (
    REPS,
    ROOT,
    Report,
    count_queries,
    fmt_rate,
    fmt_time,
    measure,
    query_counter,
    run_main,
    versions,
)

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User
    from thongtincoso.units.models import Unit

OUTPUT = ROOT / "var" / "bench" / "units_policy.json"
MAY_BATCH = 1000  # may() calls per timed sample (one call is too short for perf_counter)
RELOADS = 3
ZONE_COMMUNES = 300
ZONES_PER_COMMUNE = 10
PROVINCE_CODE = "01"


# --- the benchmark ---------------------------------------------------------------------------


def walk_subtree(unit: Unit, *, pks_only: bool = False) -> list[Any]:
    """The naive alternative: follow `parent` down one level per query."""
    from thongtincoso.units.models import Unit

    found: list[Any] = [unit.pk if pks_only else unit]
    frontier = [unit.pk]
    while frontier:
        level = Unit.objects.filter(parent__in=frontier)
        if pks_only:
            pks = list(level.values_list("pk", flat=True))
            found.extend(pks)
            frontier = pks
        else:
            units = list(level)
            found.extend(units)
            frontier = [u.pk for u in units]
    return found


def range_subtree(unit: Unit, *, pks_only: bool = False) -> list[Any]:
    from thongtincoso.units.models import Unit

    qs = Unit.objects.subtree_of(unit)
    return list(qs.values_list("pk", flat=True)) if pks_only else list(qs)


def load_tree(report: Report) -> None:
    """(d) The official list, first load and re-loads; then the zones of the scale test."""
    from django.db import transaction

    from thongtincoso.units.models import Unit, UnitKind
    from thongtincoso.units.services import units_load_official

    with query_counter() as first_queries:
        start = time.perf_counter()
        first = units_load_official()
        first_s = time.perf_counter() - start
    report.check("first load creates 3,356 units", first.created == 3356 and first.updated == 0)

    reloads = []
    for _ in range(RELOADS):
        start = time.perf_counter()
        again = units_load_official()
        reloads.append(time.perf_counter() - start)
        report.check(
            "re-load changes nothing",
            again.created == 0 and again.updated == 0 and again.unchanged == 3356,
        )
    reload_queries, reload_sql = count_queries(units_load_official)

    communes = list(Unit.objects.filter(kind=UnitKind.COMMUNE).order_by("code")[:ZONE_COMMUNES])
    today = dt.date.today()
    with query_counter() as zone_queries:
        start = time.perf_counter()
        with transaction.atomic():
            for commune in communes:
                for i in range(1, ZONES_PER_COMMUNE + 1):
                    Unit(
                        code=f"{commune.code}.{i:03d}",
                        name=f"Thôn {i}",
                        kind=UnitKind.ZONE,
                        type_name="Thôn",
                        codename=f"thon_{i}",
                        parent=commune,
                        valid_from=today,
                    ).save()
        zones_s = time.perf_counter() - start
    zones = Unit.objects.filter(kind=UnitKind.ZONE).count()
    report.check("3,000 zones added", zones == ZONE_COMMUNES * ZONES_PER_COMMUNE)

    reload = statistics.median(reloads)
    report.results["load"] = {
        "first_load_s": round(first_s, 3),
        "first_load_units": first.created,
        "first_load_queries": first_queries[0],
        "reload_median_s": round(reload, 4),
        "reload_runs": RELOADS,
        "reload_queries": reload_queries,
        "reload_sql": reload_sql,
        "zones_insert_s": round(zones_s, 3),
        "zones_insert_queries": zone_queries[0],
        "zones": zones,
        "units_total": Unit.objects.count(),
    }
    report.row(
        f"(d) `units_load_official()` first load ({first.created:,} units)",
        fmt_time(first_s),
        "–",
        f"{first_queries[0]:,}",
        f"{first.created / first_s:,.0f} units/s",
    )
    report.row(
        f"(d) idempotent re-load (median of {RELOADS})",
        fmt_time(reload),
        "–",
        str(reload_queries),
        f"{first_s / reload:.0f}× faster than the first load",
    )
    report.row(
        f"(setup) {zones:,} zones via `Unit.save()` in one transaction",
        fmt_time(zones_s),
        "–",
        f"{zone_queries[0]:,}",
        f"{zones / zones_s:,.0f} zones/s",
    )


def explain_subtree(report: Report, targets: dict[str, Unit]) -> None:
    """Query plans of the subtree query; on SQLite the path index must be used."""
    from django.db import connection

    from thongtincoso.units.models import Unit

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # What autovacuum does on a live server; the plan then reflects the real row counts.
            cursor.execute("analyze units_unit")
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Unit._meta.db_table)
    path_indexes = [
        name for name, c in constraints.items() if c["columns"] == ["path"] and c["index"]
    ]
    report.check("the path column has an index", bool(path_indexes))
    plans = {}
    for label in ("province", "commune"):
        unit = targets[label]
        plan = Unit.objects.subtree_of(unit).explain()
        plans[label] = plan
        print(f"\nQuery plan, subtree of {label}:\n```\n{plan}\n```")
        uses_index = any(name in plan for name in path_indexes)
        if connection.vendor == "sqlite":
            report.check(f"SQLite plan for {label} searches the path index", uses_index)
    sql, params = Unit.objects.subtree_of(targets["province"]).query.sql_with_params()
    print(f"\nSubtree SQL: {sql}\nParameters: {params}\n")
    report.results["explain"] = {
        "path_indexes": path_indexes,
        "plans": plans,
        "sql": sql,
        "params": list(params),
    }


def bench_subtree(report: Report, targets: dict[str, Unit]) -> None:
    """(a) One path-range query against a level-by-level walk."""
    results: dict[str, Any] = {}
    for label, pks_only in (("province", False), ("province", True), ("commune", False)):
        unit = targets[label]
        key = f"{label}_{'pks' if pks_only else 'objects'}"
        by_range = {u if pks_only else u.pk for u in range_subtree(unit, pks_only=pks_only)}
        by_walk = {u if pks_only else u.pk for u in walk_subtree(unit, pks_only=pks_only)}
        report.check(f"subtree {key}: range and walk agree", by_range == by_walk)
        by_range_fn = partial(range_subtree, unit, pks_only=pks_only)
        by_walk_fn = partial(walk_subtree, unit, pks_only=pks_only)
        range_q, _sql = count_queries(by_range_fn)
        walk_q, _sql = count_queries(by_walk_fn)
        report.check(f"subtree {key}: range is one query", range_q == 1)
        ranged = measure(by_range_fn)
        walked = measure(by_walk_fn)
        ratio = walked.median / ranged.median
        results[key] = {
            "unit": unit.code,
            "units": len(by_range),
            "range": {**ranged.as_json(), "queries": range_q},
            "walk": {**walked.as_json(), "queries": walk_q},
            "walk_over_range": round(ratio, 2),
        }
        what = "primary keys" if pks_only else "objects"
        name = f"{unit.name} ({unit.code}), {len(by_range):,} units, {what}"
        report.row(
            f"(a) subtree of {name}: `subtree_of()`",
            fmt_time(ranged.median),
            fmt_time(ranged.p95),
            str(range_q),
            "",
        )
        report.row(
            f"(a) subtree of {name}: walk by `parent__in`",
            fmt_time(walked.median),
            fmt_time(walked.p95),
            str(walk_q),
            f"**{ratio:.1f}×** slower than `subtree_of()`",
        )
    report.results["subtree"] = results


def make_user(username: str, role: str, unit: Unit) -> User:
    from thongtincoso.accounts.models import RoleAssignment, User

    user = User.objects.create_user(username=username, password=None, unit=unit)
    RoleAssignment.objects.create(user=user, role=role, unit=unit)
    return user


def bench_policy(report: Report, targets: dict[str, Unit], total: int) -> None:
    """(b) restrict().count() and (c) may() for a province editor, commune editor, admin."""
    from thongtincoso.accounts import policy
    from thongtincoso.accounts.roles import Role
    from thongtincoso.units.models import Unit, UnitKind

    province, commune, nation = targets["province"], targets["commune"], targets["nation"]
    users = {
        "province editor": (make_user("bench_province", Role.EDITOR, province), province),
        "commune editor": (make_user("bench_commune", Role.EDITOR, commune), commune),
        "system admin": (make_user("bench_admin", Role.SYSTEM_ADMIN, nation), nation),
    }
    expected = {
        "province editor": Unit.objects.subtree_of(province).count(),
        "commune editor": Unit.objects.subtree_of(commune).count(),
        "system admin": total,
    }

    restrict_results: dict[str, dict[str, Any]] = {}
    for label, (user, unit) in users.items():
        policy.grants(user)  # load and cache once, as the first check of a request does

        def count(user: User = user) -> int:
            return policy.restrict(Unit.objects.all(), user, "view").count()

        n = count()
        queries, _sql = count_queries(count)
        report.check(f"restrict() for {label} counts {expected[label]}", n == expected[label])
        report.check(f"restrict().count() for {label} is one query", queries == 1)
        stats = measure(count)
        restrict_results[label] = {
            "unit": unit.code,
            "count": n,
            "queries": queries,
        } | stats.as_json()
        report.row(
            f"(b) `restrict(Unit.objects.all(), u, 'view').count()`, {label} ({unit.code})",
            fmt_time(stats.median),
            fmt_time(stats.p95),
            str(queries),
            f"{n:,} units visible",
        )
    report.results["restrict"] = restrict_results

    zone = Unit.objects.filter(kind=UnitKind.ZONE, parent=commune).order_by("code").first()
    outside = Unit.objects.filter(kind=UnitKind.COMMUNE).order_by("-code").first()
    assert zone is not None
    assert outside is not None
    cases = [
        ("province editor", zone, True),
        ("province editor", outside, False),
        ("commune editor", zone, True),
        ("commune editor", outside, False),
        ("system admin", zone, True),
    ]
    may_results: list[dict[str, Any]] = []
    for label, unit, allowed in cases:
        user = users[label][0]
        report.check(
            f"may({label}, edit, {unit.code}) is {allowed}",
            policy.may(user, "edit", unit) is allowed,
        )
        queries, _sql = count_queries(partial(policy.may, user, "edit", unit))
        report.check(f"may() for {label} runs no query once grants are cached", queries == 0)

        def calls(user: User = user, unit: Unit = unit) -> None:
            may = policy.may
            for _ in range(MAY_BATCH):
                may(user, "edit", unit)

        stats = measure(calls, per=MAY_BATCH)
        may_results.append(
            {"user": label, "unit": unit.code, "allowed": allowed, "queries": queries}
            | stats.as_json()
        )
        report.row(
            f"(c) `may(u, 'edit', {unit.code})`, {label} → {'allowed' if allowed else 'denied'}",
            fmt_time(stats.median),
            fmt_time(stats.p95),
            str(queries),
            f"{fmt_rate(stats.per_second)} calls",
        )
    report.results["may"] = may_results


def bench_api(report: Report, targets: dict[str, Unit]) -> None:
    """(e) The public API over the loaded tree, in-process through django.test.Client."""
    from django.test import Client
    from django.test.utils import setup_test_environment

    from thongtincoso.units.models import Unit

    setup_test_environment()  # lets Client's "testserver" host through ALLOWED_HOSTS
    client = Client()
    api_results: dict[str, dict[str, Any]] = {}
    for label in ("province", "commune"):
        unit = targets[label]
        url = f"/api/v1/units/{unit.code}/children"
        expected = Unit.objects.filter(parent=unit).count()
        response = client.get(url)
        ok = response.status_code == 200 and response.json().get("count") == expected
        report.check(f"GET {url} answers 200 with {expected} units", ok)
        queries, _sql = count_queries(partial(client.get, url))
        stats = measure(partial(client.get, url))
        api_results[url] = {
            "items": expected,
            "bytes": len(response.content),
            "queries": queries,
        } | stats.as_json()
        report.row(
            f"(e) `GET {url}` ({expected} units, {len(response.content) / 1024:.0f} KiB)",
            fmt_time(stats.median),
            fmt_time(stats.p95),
            str(queries),
            f"{fmt_rate(stats.per_second)} requests (1 client)",
        )
    report.results["api"] = api_results


def run(report: Report) -> None:
    from thongtincoso.units.models import Unit, UnitKind

    load_tree(report)
    province = Unit.objects.get(code=PROVINCE_CODE)
    # The first commune (by code) that got zones: a subtree of 1 + 10 units.
    commune = (
        Unit.objects.filter(kind=UnitKind.COMMUNE, children__kind=UnitKind.ZONE)
        .order_by("code")
        .first()
    )
    nation = Unit.objects.get(kind=UnitKind.NATION)
    assert commune is not None
    targets = {"province": province, "commune": commune, "nation": nation}
    total = Unit.objects.count()
    explain_subtree(report, targets)
    bench_subtree(report, targets)
    bench_policy(report, targets, total)
    bench_api(report, targets)


if __name__ == "__main__":
    sys.exit(
        run_main(
            lambda env: f"## Unit tree and policy — {versions(env)}, {REPS} repetitions",
            run,
            OUTPUT,
            repetitions=REPS,
            show_database_name=True,
        )
    )
