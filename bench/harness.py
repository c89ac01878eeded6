"""What the benchmark scripts share: timing, query counting, the scratch environment and database,
the Markdown table and the JSON file of results.

Not a benchmark: the scripts import it (`from harness import ...`, their folder is on sys.path
when run as `python bench/NAME.py`). A script writes only its data, its measurements and its
checks, in a `body(report)` function, and ends with `sys.exit(run_main(title, body, OUTPUT))`:

- `configure()` points the settings at a temporary directory and sets Django up: SQLite there,
  or PostgreSQL when `BENCH_DATABASE_URL` is set; `DATABASE_URL`, `REDIS_URL` and `MQTT_URL`
  from the environment are ignored;
- `scratch_database()` migrates an empty database and throws it away at the end (on PostgreSQL
  a `test_NAME` database created and dropped by Django's test machinery);
- `Report` gathers the checks (any failure makes the exit status 1), the table rows and the
  results written to the script's JSON file, one entry per database vendor.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPS = int(os.environ.get("BENCH_REPS", "200"))
WARMUP = 5

# Benchmarks send hundreds of requests from one address: the rate limits (API and portal) are
# raised so that the throttles stay in the request path, with a one-second window so that their
# history stays short, without ever refusing a request.
UNTHROTTLED = {
    "TTCS_API_ANON_RATE": "1000000/s",
    "TTCS_API_USER_RATE": "1000000/s",
    "TTCS_PORTAL_RATE": "1000000/s",
}


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Stats:
    """Timings of repeated runs, in seconds per operation."""

    samples: list[float]
    per: int = 1  # operations per sample

    @property
    def median(self) -> float:
        return statistics.median(self.samples) / self.per

    @property
    def p95(self) -> float:
        """Nearest rank."""
        ordered = sorted(self.samples)
        return ordered[math.ceil(0.95 * len(ordered)) - 1] / self.per

    @property
    def per_second(self) -> float:
        return self.per * len(self.samples) / sum(self.samples)

    def as_json(self, digits: int = 4, *, operations: bool = True) -> dict[str, float | int]:
        """Milliseconds rounded to `digits`; `operations` adds the operations per sample."""
        result: dict[str, float | int] = {
            "median_ms": round(self.median * 1e3, digits),
            "p95_ms": round(self.p95 * 1e3, digits),
            "per_second": round(self.per_second, 1),
            "samples": len(self.samples),
        }
        if operations:
            result["operations_per_sample"] = self.per
        return result


def measure(fn: Callable[[], object], reps: int = REPS, per: int = 1) -> Stats:
    """`reps` timed calls of `fn` after WARMUP untimed ones; each call does `per` operations."""
    for _ in range(WARMUP):
        fn()
    gc.collect()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Stats(samples, per)


def count_queries(fn: Callable[[], object]) -> tuple[int, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


@contextmanager
def query_counter() -> Iterator[list[int]]:
    """Counts statements (savepoints included) at the cost of one call each, for timed runs."""
    from django.db import connection

    counter = [0]

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        counter[0] += 1
        return execute(sql, params, many, ctx)

    with connection.execute_wrapper(count):
        yield counter


@dataclass
class Report:
    checks: list[tuple[str, bool]] = field(default_factory=list)
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool) -> None:
        self.checks.append((name, ok))
        if not ok:
            print(f"CHECK FAILED: {name}", file=sys.stderr)

    def row(self, case: str, median: str, p95: str, queries: str, result: str) -> None:
        self.rows.append((case, median, p95, queries, result))


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} µs"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.0f}/s"


def wait_port(port: int, seconds: float = 30) -> bool:
    """True once something accepts connections on 127.0.0.1:`port` (a server started)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


# --- environment and database -------------------------------------------------------------


def configure(var_dir: str) -> str:
    """Point settings at scratch state, then set up Django. Returns the BENCH_DATABASE_URL."""
    os.environ["TTCS_VAR_DIR"] = var_dir
    for name, sub in (("STATIC_ROOT", "static"), ("MEDIA_ROOT", "media")):
        os.environ[name] = str(Path(var_dir) / sub)
        Path(os.environ[name]).mkdir()
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    bench_url = os.environ.get("BENCH_DATABASE_URL", "")
    if bench_url:
        os.environ["DATABASE_URL"] = bench_url
    else:
        # Never the developer's or a server's database: SQLite under var_dir.
        os.environ.pop("DATABASE_URL", None)
    for name in ("REDIS_URL", "MQTT_URL"):
        os.environ.pop(name, None)  # local-memory cache, SQLite Huey, no broker
    os.environ["DEBUG"] = "false"
    os.environ.update(UNTHROTTLED)
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    return bench_url


def environment(*, database_details: bool = True) -> dict[str, Any]:
    """The machine and versions; `database_details` adds the database name (and psycopg's)."""
    import django
    from django.db import connection

    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu_model = platform.processor()
    env: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": connection.vendor,
    }
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            env["database_version"] = f"SQLite {cursor.fetchone()[0]}"
        else:
            cursor.execute("show server_version")
            env["database_version"] = f"PostgreSQL {cursor.fetchone()[0]}"
    if database_details:
        env["database_name"] = str(connection.settings_dict["NAME"])
        if connection.vendor != "sqlite":
            import psycopg

            env["psycopg"] = psycopg.__version__
    return env


@contextmanager
def scratch_database(bench_url: str, *, collectstatic: bool = False) -> Iterator[None]:
    """A migrated, empty database that is thrown away afterwards.

    `collectstatic` first collects the static files into STATIC_ROOT, for pages that link
    their stylesheets through the production (manifest) storage, as on a server.
    """
    from django.core.management import call_command
    from django.db import connection

    if collectstatic:
        call_command("collectstatic", interactive=False, verbosity=0)
    if not bench_url:
        # The SQLite file lives in TTCS_VAR_DIR, a temporary directory removed by the caller.
        call_command("migrate", verbosity=0)
        yield
        connection.close()
        return
    if connection.vendor != "postgresql":
        raise SystemExit("BENCH_DATABASE_URL must name a PostgreSQL database (postgres://…)")
    # Django's test machinery: creates test_<NAME> (dropping a leftover one), migrates it with
    # call_command("migrate"), and drops it at the end. NAME itself is never written.
    original_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(original_name, verbosity=0)


# --- output ---------------------------------------------------------------------------------


def versions(env: dict[str, Any]) -> str:
    """The database, Python and Django versions and the CPUs, for a table's title."""
    return (
        f"{env['database_version']}, Python {env['python']}, Django {env['django']}, "
        f"{env['cpus_usable']} CPUs ({env['cpu_model']})"
    )


def print_table(report: Report, title: str, columns: Sequence[str]) -> None:
    """The Markdown table of the report's rows (first and last column left-aligned), then the
    checks."""
    print(f"{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * (len(columns) - 2) + "---|")
    for row in report.rows:
        print("| " + " | ".join(row) + " |")
    failed = [name for name, ok in report.checks if not ok]
    print(
        f"\nChecks: {len(report.checks) - len(failed)}/{len(report.checks)} passed"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )


def write_json(output: Path, key: str, payload: dict[str, Any]) -> str:
    """Store `payload` under `key` in the JSON object of `output`, keeping the other keys (a
    missing or unreadable file starts empty). Returns the path relative to the repository."""
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(output.read_text())
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = payload
    output.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return str(output.relative_to(ROOT))


FOOTER = "Results written to {path} (key {key!r})\nElapsed: {elapsed} s"


def run_main(
    title: Callable[[dict[str, Any]], str],
    body: Callable[[Report], None],
    output: Path,
    *,
    columns: Sequence[str] = ("Case", "Median", "p95", "Queries", "Result"),
    repetitions: int | None = None,
    collectstatic: bool = False,
    database_details: bool = True,
    show_database_name: bool = False,
    footer: str = FOOTER,
) -> int:
    """A script's main(): scratch settings and database, the environment line, `body(report)`,
    then the table (headed by `title(env)`), the JSON entry of this database vendor in `output`
    (with `repetitions` when given) and `footer` (fields path, key, elapsed). Returns the exit
    status: 1 when a check failed.

    `collectstatic` goes to scratch_database(), `database_details` to environment();
    `show_database_name` adds the database's name to the environment line.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ttcs-bench-") as var_dir:
        bench_url = configure(var_dir)
        report = Report()
        with scratch_database(bench_url, collectstatic=collectstatic):
            env = environment(database_details=database_details)
            print(
                f"Environment: {env['cpu_count']} CPUs ({env['cpus_usable']} usable), "
                f"{env['cpu_model']}, {env['platform']}, Python {env['python']}, "
                f"Django {env['django']}, {env['database_version']}"
                + (f" (database {env['database_name']})" if show_database_name else "")
            )
            body(report)
        env["elapsed_s"] = round(time.perf_counter() - started, 1)
        print_table(report, title(env), columns)
        payload: dict[str, Any] = {"environment": env}
        if repetitions is not None:
            payload["repetitions"] = repetitions
        payload |= {"results": report.results, "checks": dict(report.checks)}
        path = write_json(output, env["database"], payload)
        print(footer.format(path=path, key=env["database"], elapsed=env["elapsed_s"]))
    return 0 if all(ok for _name, ok in report.checks) else 1


if __name__ == "__main__":
    # `make bench` runs every bench/*.py, this module too.
    print("bench/harness.py: code shared by the benchmarks; it measures nothing by itself.")
