"""Benchmark: the public portal (pages, feeds) of a commune with 10,000 published bulletins.

Target: a commune's page and its feeds answer with p95 under 100 ms (issue: public side of
bulletins). On a scratch database holding the official 3,356 units, the script writes with
`bulk_create` (not through the services, which would take minutes):

- 10,000 published bulletins of one commune (1 % emergency, 5 % priority), every 10th with an
  audio attachment row and every 5th with a tag;
- 1,000 published bulletins of its province relayed to it (every 10th declined by the commune, so
  not shown), and 500 of the commune's own drafts and withdrawn bulletins (not shown);
- 10,000 published bulletins of a neighbouring commune, so the index has to pick the right unit.

Then each public URL is requested through `django.test.Client` (the whole middleware stack,
in-process, one client) 200 times after 5 warm-up requests; median, p95 (nearest rank), queries
per request and response size are printed. The query plan of the list query is printed too.

SQLite by default: a file in a temporary directory (`TTCS_VAR_DIR`); any `DATABASE_URL`,
`REDIS_URL` or `MQTT_URL` in the environment is ignored. With `BENCH_DATABASE_URL=postgres://…/NAME`
the run uses a throwaway `test_NAME` PostgreSQL database, created and dropped by Django's test
machinery. Writes the figures to var/bench/portal.json (one entry per database vendor). Exits
non-zero when a structural check fails (wrong counts, a status other than 200) or a commune page
or feed misses the 100 ms p95 target. `BENCH_REPS` (default 200) sets the repetitions.

    uv run python bench/bench_portal.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench uv run python bench/bench_portal.py
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from harness import REPS, ROOT, Report, count_queries, fmt_ms, measure, run_main, versions

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User
    from thongtincoso.units.models import Unit

OUTPUT = ROOT / "var" / "bench" / "portal.json"
COMMUNE_BULLETINS = 10_000
PROVINCE_RELAYED = 1_000
HIDDEN = 500
NEIGHBOUR_BULLETINS = 10_000
BATCH = 1_000
TARGET_P95 = 0.100  # seconds, for the commune page and its feeds
PROVINCE_CODE = "01"


# --- data -----------------------------------------------------------------------------------


@dataclass
class Data:
    province: Unit
    commune: Unit
    neighbour: Unit
    shown: int  # public bulletins on the commune's page
    with_audio: int  # public bulletins with audio on the commune's page
    sample_pk: int  # one public bulletin of the commune


def _bulletins(
    unit: Unit, author: User, count: int, *, start: dt.datetime, status: str, label: str
) -> list[Any]:
    from thongtincoso.bulletins.models import Bulletin, Category, Channel, Language, Priority

    categories = list(Category.objects.all())
    language = Language.objects.get(code="vi")
    rows = []
    for i in range(count):
        if i % 100 == 0:
            priority = Priority.EMERGENCY
        elif i % 20 == 0:
            priority = Priority.PRIORITY
        else:
            priority = Priority.NORMAL
        published_at = start + dt.timedelta(minutes=i)
        body = (
            f"<p>{label} số {i}: thông báo của {unit.name} về lịch tiêm chủng, cắt điện và "
            "phòng chống thiên tai.</p><p>Đề nghị bà con theo dõi và thực hiện.</p>"
        )
        rows.append(
            Bulletin(
                unit=unit,
                title=f"{label} số {i}: thông báo của {unit.name}",
                summary=f"Tóm tắt {label.lower()} số {i}" if i % 3 else "",
                body=body,
                reading_text=body,
                category=categories[i % len(categories)],
                language=language,
                channels=[Channel.RADIO, Channel.PORTAL],
                on_portal=True,
                priority=priority,
                valid_from=published_at,
                status=status,
                author=author,
                published_at=published_at if status == "published" else None,
            )
        )
    return rows


def _insert(rows: list[Any]) -> list[int]:
    """bulk_create in batches; primary keys back (both databases return them)."""
    from thongtincoso.bulletins.models import Bulletin

    created = Bulletin.objects.bulk_create(rows, batch_size=BATCH)
    return [b.pk for b in created]


def load_data(report: Report) -> Data:
    from django.db import transaction

    from thongtincoso.accounts.models import User
    from thongtincoso.bulletins.models import (
        Attachment,
        AttachmentKind,
        Bulletin,
        Delivery,
        DeliveryStatus,
        Priority,
        Status,
        Tag,
    )
    from thongtincoso.units.models import Unit, UnitKind
    from thongtincoso.units.services import units_load_official

    units_load_official()
    province = Unit.objects.get(code=PROVINCE_CODE)
    commune, neighbour = list(
        Unit.objects.filter(parent=province, kind=UnitKind.COMMUNE).order_by("code")[:2]
    )
    author = User.objects.create(username="bench", unit=commune)
    start = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)

    started = time.perf_counter()
    with transaction.atomic():
        own = _insert(
            _bulletins(commune, author, COMMUNE_BULLETINS, start=start, status=Status.PUBLISHED,
                       label="Bản tin")
        )  # fmt: skip
        relayed = _insert(
            _bulletins(province, author, PROVINCE_RELAYED, start=start, status=Status.PUBLISHED,
                       label="Tin thành phố")
        )  # fmt: skip
        _insert(
            _bulletins(commune, author, HIDDEN // 2, start=start, status=Status.DRAFT,
                       label="Bản nháp")
            + _bulletins(commune, author, HIDDEN // 2, start=start, status=Status.WITHDRAWN,
                         label="Đã thu hồi")
        )  # fmt: skip
        _insert(
            _bulletins(neighbour, author, NEIGHBOUR_BULLETINS, start=start,
                       status=Status.PUBLISHED, label="Tin phường bên")
        )  # fmt: skip
        declined = set(relayed[::10])
        Delivery.objects.bulk_create(
            [
                Delivery(
                    bulletin_id=pk,
                    commune=commune,
                    priority=Priority.NORMAL,
                    status=DeliveryStatus.DECLINED if pk in declined else DeliveryStatus.ACCEPTED,
                )
                for pk in relayed
            ],
            batch_size=BATCH,
        )
        audio_pks = own[::10]
        Attachment.objects.bulk_create(
            [
                Attachment(
                    bulletin_id=pk,
                    kind=AttachmentKind.AUDIO,
                    file=f"bulletins/aa/{pk:064d}.mp3",
                    original_name=f"Bản tin {pk}.mp3",
                    content_type="audio/mpeg",
                    extension="mp3",
                    size=1_234_567,
                    sha256=f"{pk:064d}",
                    uploaded_by=author,
                )
                for pk in audio_pks
            ],
            batch_size=BATCH,
        )
        tags = [Tag.objects.create(name=name) for name in ("y tế", "điện", "thiên tai")]
        through = Bulletin.tags.through
        through.objects.bulk_create(
            [through(bulletin_id=pk, tag_id=tags[i % 3].pk) for i, pk in enumerate(own[::5])],
            batch_size=BATCH,
        )
    load_s = time.perf_counter() - started

    shown = COMMUNE_BULLETINS + PROVINCE_RELAYED - len(declined)
    report.results["data"] = {
        "commune": commune.code,
        "province": province.code,
        "bulletins_total": Bulletin.objects.count(),
        "public_on_commune_page": shown,
        "with_audio": len(audio_pks),
        "bulk_create_s": round(load_s, 2),
    }
    print(
        f"Data: {Bulletin.objects.count():,} bulletins ({shown:,} public on the page of "
        f"{commune.name} {commune.code}), written in {load_s:.1f} s"
    )
    return Data(province, commune, neighbour, shown, len(audio_pks), own[-1])


# --- the benchmark --------------------------------------------------------------------------


def explain_list(report: Report, data: Data) -> None:
    """Query plans of the page's key query (UNION ALL of the two parts) and of its counts."""
    from django.db import connection

    from thongtincoso.portal.selectors import PublicBulletinList

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("analyze")
    rows = PublicBulletinList(data.commune)
    own, relayed = rows._parts
    plans = {
        "page keys (UNION ALL)": rows._keys(20)[:20].explain(),
        "count of own": own.order_by().values("pk").explain(),
        "count of relayed": relayed.order_by().values("pk").explain(),
    }
    for label, plan in plans.items():
        print(f"\nQuery plan, {label}:\n```\n{plan}\n```")
    report.results["explain"] = plans


def bench_requests(report: Report, data: Data) -> None:
    import feedparser
    from django.test import Client

    # A host ALLOWED_HOSTS lets through. No setup_test_environment(): its instrumented template
    # rendering copies the context at every {% include %}, which a server never does.
    client = Client(HTTP_HOST="localhost")
    c, p = data.commune.code, data.province.code
    last_page = math.ceil(data.shown / 20)
    cases: list[tuple[str, str, bool, Callable[[Any], bool]]] = [
        (
            f"/portal/{c}/",
            "commune page, newest 20",
            True,
            lambda r: r.content.count(b"<h3>") == 20,
        ),
        (
            f"/portal/{c}/?page={last_page}",
            f"commune page {last_page} (the oldest)",
            True,
            lambda r: r.content.count(b"<h3>") == data.shown - 20 * (last_page - 1),
        ),
        (f"/portal/{c}/rss.xml", "RSS 2.0, 50 items", True, lambda r: _entries(r) == 50),
        (f"/portal/{c}/atom.xml", "Atom 1.0, 50 items", True, lambda r: _entries(r) == 50),
        (f"/portal/{c}/podcast.xml", "podcast, 50 episodes", True, lambda r: _entries(r) == 50),
        (f"/portal/{c}/b/{data.sample_pk}/", "bulletin page", False, lambda r: True),
        (f"/portal/{p}/", "province page (communes listed)", False, lambda r: True),
        ("/portal/?q=phường", "home with a commune search", False, lambda r: True),
    ]

    def _entries(response: Any) -> int:
        feed = feedparser.parse(response.content)
        return len(feed.entries) if not feed.bozo else -1

    results = {}
    for url, label, targeted, valid in cases:
        response = client.get(url)
        report.check(f"GET {url} answers 200", response.status_code == 200)
        report.check(f"GET {url}: {label}", response.status_code == 200 and valid(response))
        queries, sql = count_queries(partial(client.get, url))
        stats = measure(partial(client.get, url))
        if targeted:
            report.check(
                f"GET {url}: p95 {fmt_ms(stats.p95)} under {fmt_ms(TARGET_P95)}",
                stats.p95 < TARGET_P95,
            )
        results[url] = {
            "case": label,
            "queries": queries,
            "sql": sql,
            "bytes": len(response.content),
            "target_p95_ms": TARGET_P95 * 1e3 if targeted else None,
        } | stats.as_json(3, operations=False)
        report.row(
            f"`GET {url}` ({label}, {len(response.content) / 1024:.0f} KiB)",
            fmt_ms(stats.median),
            fmt_ms(stats.p95),
            str(queries),
            f"{stats.per_second:,.0f} requests/s",
        )
    report.results["requests"] = results


def run(report: Report) -> None:
    data = load_data(report)
    explain_list(report, data)
    bench_requests(report, data)


if __name__ == "__main__":
    sys.exit(
        run_main(
            lambda env: f"\n## Public portal — {versions(env)}, {REPS} requests each",
            run,
            OUTPUT,
            columns=("Case", "Median", "p95", "Queries", "Throughput (1 client)"),
            repetitions=REPS,
            collectstatic=True,
            database_details=False,
        )
    )
