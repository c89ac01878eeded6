"""Benchmark: sustained Open311 submissions (`POST /open311/v2/requests.json`) at concurrency 50.

The web server runs exactly as `make demo` runs it (scripts/serve.py's web_command: granian,
2 workers × 4 blocking threads, access log on), on a scratch database with the official units
loaded and a feedback officer in each commune the bench sends to (so every submission also
writes its officer's notification, as on a real instance). The Open311 and submission rate
limits are raised for the server (TTCS_OPEN311_RATE_KEY, TTCS_FEEDBACK_RATE_IP/CONTACT), so the
limiter stays in the request path without refusing anything.

The load generator (asyncio + aiohttp in this process, one keep-alive connection per worker)
keeps 50 requests in flight for a warm-up of 3 s and then BENCH_OPEN311_SECONDS (default 30):
each request is one citizen report of category `moi-truong` in one of 20 communes of Hà Nội,
with a map point, a distinct description of about 300 characters, and its own phone number and
e-mail address (personal data, stored in the separate Contact table). Nothing is retried: an
error is counted with its status, and the server's log is searched for the exceptions behind
5xx answers ("database is locked" in particular).

Measured: accepted (201) count and errors by status; throughput (accepted/s) and p50/p95/p99/max
latency over the requests sent after the warm-up; CPU (% of one core) and RSS of the server, of
the load generator and, on PostgreSQL, of the database server, sampled with psutil. Then, with
the server stopped, the database is counted: one Feedback row (source Open311, this key) and one
Contact row for every 201, every service_request_id distinct and stored with the description
that was sent; zero lost, zero duplicated.

Runs once per database of BENCH_OPEN311_DATABASES (default "sqlite,postgresql"), each in its own
process (Django is set up once per process): SQLite in a temporary directory; PostgreSQL when
127.0.0.1:5432 answers, in `test_<name>` of BENCH_OPEN311_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/bench_open311), created and dropped by bench/harness.py.
Writes var/bench/open311.json (one entry per database).

    uv run python bench/bench_open311.py
    BENCH_OPEN311_SECONDS=5 BENCH_OPEN311_DATABASES=sqlite uv run python bench/bench_open311.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness import ROOT, Report, fmt_time, run_main, wait_port

OUTPUT = ROOT / "var" / "bench" / "open311.json"
SECONDS = float(os.environ.get("BENCH_OPEN311_SECONDS", "30"))
DATABASES = [
    d.strip()
    for d in os.environ.get("BENCH_OPEN311_DATABASES", "sqlite,postgresql").split(",")
    if d.strip()
]
POSTGRES_URL = os.environ.get(
    "BENCH_OPEN311_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/bench_open311"
)
CHILD = "BENCH_OPEN311_CHILD"  # set in the per-database processes this script starts
WARMUP_S = 3.0
CONCURRENCY = 50
COMMUNES = 20  # the first communes of Hà Nội by code
CATEGORY = "moi-truong"
APP_PORT = 18251
PATH = "/open311/v2/requests.json"
REQUEST_TIMEOUT_S = 60.0
HANOI = (21.0285, 105.8542)
# For the server only: high enough never to refuse, with one-second windows so the counters stay
# short-lived. The limiter still runs (cache reads before, increments after every store).
SERVER_RATES = {
    "TTCS_OPEN311_RATE_KEY": "1000000/s",
    "TTCS_FEEDBACK_RATE_IP": "1000000/s",
    "TTCS_FEEDBACK_RATE_CONTACT": "1000000/s",
}


# --- data -----------------------------------------------------------------------------------


def make_data(report: Report) -> dict[str, Any]:
    """Official units, an officer per commune used, and an Open311 key."""
    from thongtincoso.accounts.models import RoleAssignment, User
    from thongtincoso.accounts.roles import Role
    from thongtincoso.feedback.models import Category
    from thongtincoso.feedback.services import open311_key_create
    from thongtincoso.units.models import Unit, UnitKind
    from thongtincoso.units.services import units_load_official

    started = time.perf_counter()
    units_load_official()
    hanoi = Unit.objects.current().get(code="01", kind=UnitKind.PROVINCE)
    communes = list(
        Unit.objects.current()
        .subtree_of(hanoi)
        .filter(kind=UnitKind.COMMUNE)
        .order_by("code")[:COMMUNES]
    )
    for commune in communes:
        # No e-mail address: the notification row is written, no mail job is queued.
        officer = User.objects.create_user(username=f"bench_cb_{commune.code}", password=None)
        RoleAssignment.objects.create(user=officer, role=Role.FEEDBACK_OFFICER, unit=commune)
    client, key = open311_key_create(name="bench_open311")
    report.check(
        f"{len(communes)} communes of Hà Nội, category {CATEGORY} seeded, an Open311 key",
        len(communes) == COMMUNES and Category.objects.filter(code=CATEGORY).exists(),
    )
    return {
        "communes": [c.code for c in communes],
        "client_id": client.pk,
        "key": key,
        "setup_s": round(time.perf_counter() - started, 1),
    }


DESCRIPTION = (
    "Báo cáo {n}: bãi rác tự phát ở đầu ngõ {lane} đã tồn tại {days} ngày, rác sinh hoạt và "
    "phế thải xây dựng tràn ra lòng đường, bốc mùi hôi vào buổi chiều. Xe thu gom của phường "
    "không vào được vì ô tô đỗ chắn lối. Đề nghị cơ quan chức năng cho thu dọn, đặt biển cấm "
    "đổ rác và kiểm tra việc đỗ xe, để người dân và học sinh đi lại an toàn. (mã gửi {tag})"
)


def form_for(n: int, data: dict[str, Any], tag: str) -> dict[str, str]:
    """The n-th submission: its own description, phone number and e-mail address."""
    communes = data["communes"]
    return {
        "api_key": data["key"],
        "service_code": CATEGORY,
        "commune_code": communes[n % len(communes)],
        "lat": f"{HANOI[0] + (n % 97 - 48) * 0.0005:.6f}",
        "long": f"{HANOI[1] + (n % 89 - 44) * 0.0005:.6f}",
        "description": DESCRIPTION.format(n=n, lane=n % 300 + 1, days=n % 9 + 2, tag=f"{tag}-{n}"),
        "email": f"nguoidan{n}@vidu.vn",
        "phone": f"09{n % 100_000_000:08d}",
        "address_string": f"Ngõ {n % 300 + 1}, tổ dân phố {n % 40 + 1}",
    }


# --- server ---------------------------------------------------------------------------------


def server_database_url(bench_url: str) -> str | None:
    """The scratch database for the server: PostgreSQL's test_<name>, or SQLite's default."""
    if not bench_url:
        return None  # TTCS_VAR_DIR/ttcs.sqlite3, as configured by the harness
    from django.db import connection

    parts = urlsplit(bench_url)
    return urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"])))


def start_server(bench_url: str, log: Path) -> subprocess.Popen[bytes] | None:
    from django.db import connection

    sys.path.insert(0, str(ROOT / "scripts"))
    from serve import web_command  # the exact command of `make demo`

    url = server_database_url(bench_url)
    connection.close()  # the server opens its own connections
    env = os.environ.copy() | SERVER_RATES
    env.pop("DATABASE_URL", None)
    if url:
        env["DATABASE_URL"] = url
    server = subprocess.Popen(  # noqa: S603
        web_command("127.0.0.1", APP_PORT),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # granian's access log
        stderr=log.open("ab"),  # Django's log: the exceptions behind 5xx answers
        start_new_session=True,
    )
    if not wait_port(APP_PORT):
        stop_server(server)
        return None
    return server


def stop_server(server: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def server_errors(log: Path) -> dict[str, int]:
    """Exception lines of the server's log ("OperationalError: database is locked"), counted."""
    found: Counter[str] = Counter()
    pattern = re.compile(r"^([\w.]+(?:Error|Exception)): (.*)$")
    for line in log.read_text(errors="replace").splitlines():
        match = pattern.match(line.strip())
        if match:
            found[f"{match.group(1)}: {match.group(2)[:200]}"] += 1
    return dict(found.most_common())


# --- load -----------------------------------------------------------------------------------


@dataclass
class Sent:
    n: int
    started: float  # monotonic
    finished: float
    status: int  # 0: no HTTP answer (see error)
    request_id: str = ""
    token: str = ""
    error: str = ""


async def post_one(session: Any, n: int, form: dict[str, str]) -> Sent:
    import aiohttp

    started = time.monotonic()
    try:
        async with session.post(f"http://127.0.0.1:{APP_PORT}{PATH}", data=form) as response:
            body = await response.text()
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return Sent(n, started, time.monotonic(), 0, error=type(exc).__name__)
    finished = time.monotonic()
    if status != 201:
        return Sent(n, started, finished, status, error=body[:300])
    try:
        item = json.loads(body)[0]
        return Sent(n, started, finished, status, str(item["service_request_id"]), item["token"])
    except (ValueError, KeyError, IndexError, TypeError):
        return Sent(n, started, finished, status, error=f"unreadable 201 body: {body[:200]!r}")


async def load(data: dict[str, Any], tag: str, on_measure: Any) -> tuple[list[Sent], float]:
    """CONCURRENCY workers posting until the end; returns every answer and the window's start.

    Requests in flight at the end are awaited, not cancelled: a submission stored after the
    client gave up would look like a duplicate in the database count.
    """
    import aiohttp

    results: list[Sent] = []
    counter = iter(range(1, 10**9))  # 0 is the probe
    start = time.monotonic()
    measure_from = start + WARMUP_S
    end = measure_from + SECONDS
    measuring = False

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal measuring
        while (now := time.monotonic()) < end:
            if not measuring and now >= measure_from:
                measuring = True
                on_measure()
            n = next(counter)
            results.append(await post_one(session, n, form_for(n, data, tag)))

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return results, measure_from


async def probe(data: dict[str, Any], tag: str) -> Sent:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        return await post_one(session, 0, form_for(0, data, tag))


class WaitSampler:
    """PostgreSQL only: what the server's busy backends wait on, every 0.5 s, in a thread.

    pg_stat_activity's wait events of the scratch database's active sessions: `Lock/advisory`
    is the audit chain's lock (audit_record), `IO/WALSync` and `IPC/...` the commit's flush.
    """

    def __init__(self) -> None:
        import threading

        self.samples: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from django.db import connection  # this thread's own connection

        try:
            while not self._stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT coalesce(wait_event_type || '/' || wait_event, 'running'), count(*)"
                        " FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1"
                    )
                    self.samples.append(dict(cursor.fetchall()))
                self._stop.wait(0.5)
        finally:
            connection.close()

    def stop(self) -> dict[str, float]:
        """Mean number of active backends per wait event over the samples."""
        self._stop.set()
        self._thread.join()
        totals: Counter[str] = Counter()
        for sample in self.samples:
            totals.update(sample)
        n = max(1, len(self.samples))
        return {event: round(count / n, 2) for event, count in totals.most_common()}


def queries_per_submission(data: dict[str, Any], tag: str) -> int:
    """Statements of one feedback_submit() as the endpoint calls it (savepoints included),
    rolled back afterwards."""
    from django.db import transaction
    from harness import count_queries

    from thongtincoso.feedback.models import Open311Client, Source
    from thongtincoso.feedback.services import Submission, feedback_submit

    form = form_for(10**9, data, tag)
    client = Open311Client.objects.get(pk=data["client_id"])
    submission = Submission(
        category=form["service_code"],
        commune=form["commune_code"],
        description=form["description"],
        address=form["address_string"],
        lat=form["lat"],
        long=form["long"],
        phone=form["phone"],
        email=form["email"],
        source=Source.OPEN311,
    )
    with transaction.atomic():
        # The first submission of a year seeds its holidays: count the steady state, the second.
        feedback_submit(submission=submission, api_client=client)
        queries, _sql = count_queries(
            lambda: feedback_submit(submission=submission, api_client=client)
        )
        transaction.set_rollback(True)
    return queries


def percentile(ordered: list[float], q: float) -> float:
    from bench_emergency import percentile as nearest_rank

    return nearest_rank(ordered, q)


# --- checks on the database -----------------------------------------------------------------


def count_rows(
    report: Report, data: dict[str, Any], accepted: list[Sent], tag: str
) -> dict[str, Any]:
    from thongtincoso.feedback.models import Contact, Feedback, Source
    from thongtincoso.feedback.services import normalise_code

    rows = dict(
        Feedback.objects.filter(source=Source.OPEN311, api_client_id=data["client_id"]).values_list(
            "code", "description"
        )
    )
    all_rows = Feedback.objects.count()
    contacts = Contact.objects.filter(feedback__code__in=list(rows)).count()
    stored = {normalise_code(code): description for code, description in rows.items()}
    answered = Counter(normalise_code(s.request_id) for s in accepted)
    duplicated_ids = sum(c - 1 for c in answered.values() if c > 1)
    lost = [rid for rid in answered if rid not in stored]
    unanswered = [code for code in stored if code not in answered]
    mismatched = sum(
        1
        for s in accepted
        if stored.get(normalise_code(s.request_id), "").split("(mã gửi ")[-1] != f"{tag}-{s.n})"
    )
    report.check(
        f"Feedback rows stored = 201 answers ({len(rows):,} = {len(accepted):,})",
        len(rows) == len(accepted) == all_rows,
    )
    report.check(f"Contact rows = Feedback rows ({contacts:,})", contacts == len(rows))
    report.check(
        f"every service_request_id distinct ({duplicated_ids} repeated)", duplicated_ids == 0
    )
    report.check(f"every answered id stored, zero lost ({len(lost)} lost)", not lost)
    report.check(f"no row without its 201, zero extra ({len(unanswered)} extra)", not unanswered)
    report.check(
        f"each id stored with the description sent ({mismatched} mismatched)", mismatched == 0
    )
    return {
        "feedback_rows": len(rows),
        "feedback_rows_all": all_rows,
        "contact_rows": contacts,
        "answered_201": len(accepted),
        "distinct_ids": len(answered),
        "duplicated_ids": duplicated_ids,
        "lost": len(lost),
        "stored_without_201": len(unanswered),
        "description_mismatches": mismatched,
    }


# --- the run ----------------------------------------------------------------------------------


def run(report: Report) -> None:
    import tempfile

    import psutil
    from bench_emergency import Sampler
    from django.db import connection

    data = make_data(report)
    vendor = connection.vendor
    tag = f"{vendor}-{int(time.time())}"
    results: dict[str, Any] = {
        "seconds": SECONDS,
        "warmup_s": WARMUP_S,
        "concurrency": CONCURRENCY,
        "communes": len(data["communes"]),
        "setup_s": data["setup_s"],
    }
    report.results = results
    results["queries_per_submit"] = queries_per_submission(data, tag)
    with tempfile.TemporaryDirectory(prefix="ttcs-bench-open311-") as tmp:
        log = Path(tmp) / "web.log"
        server = start_server(os.environ.get("BENCH_DATABASE_URL", ""), log)
        if server is None:
            report.check("the web server started", False)
            return
        sent: list[Sent] = []
        try:
            first = asyncio.run(probe(data, tag))
            sent.append(first)
            ok = first.status == 201 and bool(first.request_id)
            report.check(f"POST {PATH} answers 201 with an id ({first.status})", ok)
            if not ok:
                print(
                    f"\nThe Open311 endpoint is not answering: POST {PATH} gave "
                    f"{first.status or first.error}"
                    + (
                        " — thongtincoso/feedback/open311.py (the endpoint) is not there yet."
                        if first.status == 404
                        else f": {first.error[:300]}"
                    ),
                    file=sys.stderr,
                )
                return
            server_procs = psutil.Process(server.pid)
            groups: dict[str, Any] = {
                "server": lambda: [server_procs, *server_procs.children(recursive=True)],
                "load_generator": lambda: [psutil.Process()],
            }
            if vendor == "postgresql":
                groups["postgresql"] = lambda: [
                    p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"
                ]
            sampler = Sampler(groups)
            waits = WaitSampler() if vendor == "postgresql" else None

            def on_measure() -> None:
                sampler.start()
                if waits is not None:
                    waits.start()

            answers, measure_from = asyncio.run(load(data, tag, on_measure))
            resources = sampler.stop()
            if waits is not None:
                results["postgresql_waits"] = waits.stop()
            sent += answers
        finally:
            stop_server(server)
        errors_logged = server_errors(log)

    window = [s for s in sent if s.n and s.started >= measure_from]
    accepted_window = sorted(s.finished - s.started for s in window if s.status == 201)
    completed_in_window = sum(
        1 for s in sent if s.status == 201 and measure_from <= s.finished < measure_from + SECONDS
    )
    throughput = completed_in_window / SECONDS
    statuses = Counter(s.status for s in sent)
    errors = {str(k): v for k, v in sorted(statuses.items()) if k != 201}
    error_kinds = Counter(s.error.splitlines()[0][:120] for s in sent if s.error)
    accepted = [s for s in sent if s.status == 201 and s.request_id]
    latency = {
        "p50": percentile(accepted_window, 0.50),
        "p95": percentile(accepted_window, 0.95),
        "p99": percentile(accepted_window, 0.99),
        "max": accepted_window[-1] if accepted_window else float("nan"),
    }
    locked = sum(v for k, v in errors_logged.items() if "database is locked" in k)
    results |= {
        "requests": len(sent),
        "accepted": len(accepted),
        "accepted_in_window": completed_in_window,
        "accepted_per_s": round(throughput, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors_by_status": errors,
        "client_errors": dict(error_kinds.most_common(10)),
        "server_exceptions": errors_logged,
        "database_is_locked": locked,
        "latency_s": {k: round(v, 4) for k, v in latency.items()},
        "resources": resources,
    }
    report.check(f"no request failed ({sum(errors.values())} failed: {errors})", not errors)
    report.check(f"no 'database is locked' in the server log ({locked})", locked == 0)
    results["database"] = count_rows(report, data, accepted, tag)

    def cpu(name: str) -> str:
        r = resources.get(name, {})
        return (
            f"CPU {r.get('cpu_mean_pct', 0):.0f}% mean / {r.get('cpu_peak_pct', 0):.0f}% peak, "
            f"RSS {r.get('rss_peak_mb', 0):.0f} MB"
        )

    db = results["database"]
    report.row(
        f"POST {PATH}, concurrency {CONCURRENCY}, {SECONDS:.0f} s",
        fmt_time(latency["p50"]),
        fmt_time(latency["p95"]),
        fmt_time(latency["p99"]),
        f"max {fmt_time(latency['max'])}; **{throughput:,.1f} accepted/s** "
        f"({completed_in_window:,} in the window, {len(accepted):,} in all); errors: "
        + (", ".join(f"{v:,} × {k}" for k, v in errors.items()) or "none"),
    )
    report.row(
        "stored rows: Feedback / Contact",
        "",
        "",
        "",
        f"{db['feedback_rows']:,} / {db['contact_rows']:,} for {db['answered_201']:,} answers "
        f"201; {db['lost']} lost, {db['duplicated_ids']} duplicated, "
        f"{db['stored_without_201']} extra",
    )
    report.row("server (granian, 2 workers × 4 threads)", "", "", "", cpu("server"))
    report.row("load generator (this process, asyncio)", "", "", "", cpu("load_generator"))
    if "postgresql" in resources:
        report.row("PostgreSQL server (all its processes)", "", "", "", cpu("postgresql"))
        waits_seen = results.get("postgresql_waits", {})
        report.row(
            "busy backends by wait event (mean)",
            "",
            "",
            "",
            ", ".join(f"{k} {v}" for k, v in waits_seen.items()) or "none sampled",
        )
    report.row(
        "statements in one feedback_submit() (in process)",
        "",
        "",
        "",
        f"{results['queries_per_submit']} statements, savepoints included (the endpoint adds"
        " the key lookup and the category check)",
    )
    if errors_logged:
        print("Server exceptions:", json.dumps(errors_logged, ensure_ascii=False, indent=1))
    if error_kinds:
        print("Client-side errors:", json.dumps(dict(error_kinds), ensure_ascii=False, indent=1))


# --- one process per database -------------------------------------------------------------


def postgres_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


def main() -> int:
    """Each database in its own process: Django is set up once per process."""
    status = 0
    for database in DATABASES:
        env = os.environ.copy() | {CHILD: database}
        if database == "sqlite":
            env.pop("BENCH_DATABASE_URL", None)
        elif database == "postgresql":
            if not postgres_reachable(POSTGRES_URL):
                print(f"== PostgreSQL: {POSTGRES_URL} not reachable, skipped", file=sys.stderr)
                continue
            env["BENCH_DATABASE_URL"] = POSTGRES_URL
        else:
            print(f"unknown database {database!r} (sqlite, postgresql)", file=sys.stderr)
            return 2
        print(f"== {database}", flush=True)
        child = subprocess.Popen([sys.executable, __file__], env=env)  # noqa: S603
        try:
            code = child.wait()
        finally:
            if child.poll() is None:  # interrupted: the child stops its server in `finally`
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        status = max(status, code)
    return status


if __name__ == "__main__":
    if not os.environ.get(CHILD):
        sys.exit(main())
    sys.exit(
        run_main(
            lambda env: (
                f"\n## Open311 submissions — {env['database_version']}, {env['cpus_usable']} CPUs"
                f" (concurrency {CONCURRENCY}, {SECONDS:.0f} s after a {WARMUP_S:.0f} s warm-up)"
            ),
            run,
            OUTPUT,
            columns=("Case", "p50", "p95", "p99", "Result"),
            footer="Results written to {path} (key {key!r}); elapsed {elapsed} s",
        )
    )
