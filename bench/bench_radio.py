"""Benchmark: commune radio at national scale: ~50,000 devices' manifests and the poll path.

On a scratch database with the official 3,321 communes, each with a station (two weekday
sessions) and `BENCH_DEVICES_PER_COMMUNE` loudspeaker clusters (default 15, so 49,815 devices),
and a national priority bulletin relayed to every commune:

(a) plan every station (`planner.replan`): sessions filled for eight days;
(b) build every manifest (`manifests.refresh` over all devices): rendered, written as files;
    then again with nothing changed (files compared, none rewritten);
(c) one bulletin of one commune: re-planned and re-rendered; only that commune's devices'
    manifests change (ETags compared across all devices);
(d) the poll path at concurrency 200 with wrk on this machine, every request a conditional poll
    of one of 1,000 devices (304):
    - embedded default: the web server exactly as `make demo` runs it (scripts/serve.py's
      web_command: granian, 2 workers, access log on, config.wsgi with the manifest fast path),
      `GET /api/device/v1/manifest` with a Bearer credential;
    - the shipped nginx configuration (the `/device-manifests/` location of
      deploy/nginx/ttcs.conf, extracted from that file) against the same nginx serving a plain
      static file of the same size, in the same run: the ratio is the figure.
Goals (issue 5): (b) under 60 s on SQLite, 30 s on PostgreSQL; (c) only that commune; (d) the
embedded default ≥ 10,000 requests/s with p99 under 100 ms, nginx ≥ 50% of the plain file.

Needs `wrk` and `nginx` (Debian packages) for (d); without them (d) is reported as skipped.
SQLite by default; `BENCH_DATABASE_URL=postgres://…/NAME` uses PostgreSQL (bench/harness.py).
Writes var/bench/radio.json.

    uv run python bench/bench_radio.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench uv run python bench/bench_radio.py
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness import ROOT, Report, fmt_time, run_main, wait_port

OUTPUT = ROOT / "var" / "bench" / "radio.json"
PER_COMMUNE = int(os.environ.get("BENCH_DEVICES_PER_COMMUNE", "15"))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "15"))
CONCURRENCY = 200
POLLED_DEVICES = 1000
GOAL_BUILD_S = {"sqlite": 60.0, "postgresql": 30.0}
GOAL_RPS = 10_000
GOAL_P99_MS = 100.0
GOAL_NGINX_RATIO = 0.5
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
APP_PORT = 18231
NGINX_PORT = 18232


# --- data -----------------------------------------------------------------------------------


def credential_of(n: int) -> str:
    return f"ttcsd_bench-{n:06d}-" + hashlib.sha256(str(n).encode()).hexdigest()[:24]


def make_fleet(report: Report) -> dict[str, Any]:
    """Units, stations, slots, devices (bulk), a relayed national priority bulletin with audio."""
    from django.utils import timezone

    from thongtincoso.accounts.models import RoleAssignment, User
    from thongtincoso.accounts.roles import Role
    from thongtincoso.bulletins import services
    from thongtincoso.radio.credentials import sha256_hex
    from thongtincoso.radio.models import Device, Slot, Station
    from thongtincoso.radio.tests.factories import with_audio
    from thongtincoso.units.models import Unit, UnitKind
    from thongtincoso.units.services import units_load_official

    units_load_official()
    communes = list(Unit.objects.current().filter(kind=UnitKind.COMMUNE).order_by("code"))
    Station.objects.bulk_create(
        [Station(unit=c, name=f"Đài truyền thanh {c.name}") for c in communes], batch_size=2000
    )
    stations = list(Station.objects.all())
    monday = timezone.localdate() - dt.timedelta(days=timezone.localdate().weekday())
    weekdays = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    Slot.objects.bulk_create(
        [
            Slot(
                station=s,
                name=name,
                rrule=weekdays,
                start_time=start,
                duration_minutes=30,
                starts_on=monday,
            )
            for s in stations
            for name, start in (("Sáng", dt.time(6)), ("Chiều", dt.time(17)))
        ],
        batch_size=2000,
    )
    now = timezone.now()
    devices = []
    n = 0
    for commune in communes:
        for i in range(PER_COMMUNE):
            devices.append(
                Device(
                    code=f"{commune.code}-{i:02d}",
                    kind="cluster",
                    commune=commune,
                    credential_hash=sha256_hex(credential_of(n)),
                    credential_issued_at=now,
                    enrolled_at=now,
                )
            )
            n += 1
    Device.objects.bulk_create(devices, batch_size=2000)

    nation = Unit.objects.get(code="VN")
    people = {}
    for role in (Role.EDITOR, Role.APPROVER):
        user = User.objects.create_user(username=f"bench_{role}", password=None, unit=nation)
        RoleAssignment.objects.create(user=user, role=role, unit=nation)
        people[role] = user
    provinces = list(Unit.objects.current().filter(kind=UnitKind.PROVINCE))
    bulletin = services.bulletin_create(
        actor=people[Role.EDITOR],
        unit=nation,
        title="Chủ động phòng, chống bão số 3",
        body="<p>Chủ động phòng, chống bão số 3 và mưa lũ sau bão.</p>",
        category="kien-thuc-san-xuat-doi-song",
        priority="priority",
        valid_from=now,
        targets=provinces,
    )
    with_audio(bulletin, 95.0)
    services.bulletin_submit(actor=people[Role.EDITOR], bulletin=bulletin)
    services.bulletin_approve(actor=people[Role.APPROVER], bulletin=bulletin)
    report.check(
        f"{len(communes):,} stations and {len(devices):,} devices",
        Device.objects.count() == len(devices) == len(communes) * PER_COMMUNE,
    )
    return {"communes": len(communes), "devices": len(devices), "people": people}


# --- (a)–(c) ----------------------------------------------------------------------------------


def build(report: Report, facts: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection

    from thongtincoso.radio import manifests, planner
    from thongtincoso.radio.models import Airing, Device, Station

    station_ids = list(Station.objects.values_list("pk", flat=True))
    t0 = time.perf_counter()
    planned = planner.replan(station_ids)  # also renders the manifests of changed stations
    plan_and_render_s = time.perf_counter() - t0
    airings = Airing.objects.count()
    report.check(
        f"every station planned ({airings:,} airings)",
        len(planned) == len(station_ids) and airings >= len(station_ids),
    )
    devices = list(Device.objects.select_related("commune"))
    root = Path(os.environ["TTCS_MANIFEST_ROOT"])
    shutil.rmtree(root, ignore_errors=True)  # (b) from nothing: every file written
    Device.objects.update(manifest_etag="")
    t0 = time.perf_counter()
    changed = manifests.refresh(devices)
    build_s = time.perf_counter() - t0
    files = sum(1 for _ in root.rglob("*.json"))
    report.check(
        f"every manifest written ({files:,} files)",
        len(changed) == len(devices) == files,
    )
    goal = GOAL_BUILD_S[connection.vendor]
    report.check(f"(b) build every manifest under {goal:.0f} s ({build_s:.1f} s)", build_s < goal)
    t0 = time.perf_counter()
    unchanged = manifests.refresh(list(Device.objects.select_related("commune")))
    again_s = time.perf_counter() - t0
    report.check("(b) nothing changed: no manifest rewritten", unchanged == [])

    # (c) one commune's own bulletin.
    from thongtincoso.bulletins import services
    from thongtincoso.radio.tests.factories import with_audio
    from thongtincoso.units.models import Unit

    commune = Unit.objects.get(code="00070")
    before = dict(Device.objects.values_list("pk", "manifest_etag"))
    people = facts["people"]
    from thongtincoso.accounts.models import RoleAssignment
    from thongtincoso.accounts.roles import Role

    for role in (Role.EDITOR, Role.APPROVER):
        RoleAssignment.objects.get_or_create(user=people[role], role=role, unit=commune)
    local = services.bulletin_create(
        actor=people[Role.EDITOR],
        unit=commune,
        title="Lịch tiêm chủng tháng này",
        body="<p>Trạm y tế phường tiêm chủng vào thứ Bảy.</p>",
        category="kien-thuc-san-xuat-doi-song",
        channels=["radio", "portal"],
    )
    with_audio(local, 40.0)
    services.bulletin_submit(actor=people[Role.EDITOR], bulletin=local)
    services.bulletin_approve(actor=people[Role.APPROVER], bulletin=local)
    station = commune.station  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    planner.replan([station.pk])
    one_s = time.perf_counter() - t0
    after = dict(Device.objects.values_list("pk", "manifest_etag"))
    moved = {pk for pk, etag in after.items() if before.get(pk) != etag}
    own = set(Device.objects.filter(commune=commune).values_list("pk", flat=True))
    report.check(
        f"(c) one commune's bulletin re-rendered only its {len(own)} devices ({len(moved)})",
        moved == own,
    )
    sizes = [p.stat().st_size for p in list(root.rglob("*.json"))[:500]]
    report.row(
        "(a) plan every station + render changed",
        fmt_time(plan_and_render_s),
        "",
        "",
        f"{len(station_ids) / plan_and_render_s:,.0f} stations/s",
    )
    report.row(
        f"(b) build every manifest ({len(devices):,})",
        fmt_time(build_s),
        "",
        f"< {goal:.0f} s",
        f"{len(devices) / build_s:,.0f} devices/s",
    )
    report.row("(b) again, nothing changed", fmt_time(again_s), "", "", "0 rewritten")
    report.row(
        "(c) one commune's bulletin: re-plan + re-render",
        fmt_time(one_s),
        "",
        "that commune only",
        f"{len(moved)} manifests changed",
    )
    return {
        "devices": len(devices),
        "stations": len(station_ids),
        "airings": airings,
        "plan_all_s": round(plan_and_render_s, 2),
        "build_all_s": round(build_s, 2),
        "build_goal_s": goal,
        "rebuild_unchanged_s": round(again_s, 2),
        "one_commune_s": round(one_s, 3),
        "one_commune_changed": len(moved),
        "manifest_bytes_median": sorted(sizes)[len(sizes) // 2] if sizes else 0,
    }


# --- (d) the poll path ------------------------------------------------------------------------


def lua_rotation(work: Path, requests: list[tuple[str, dict[str, str]]]) -> Path:
    """A wrk script cycling through (path, headers) requests."""
    lines = ["local reqs = {}"]
    for i, (path, headers) in enumerate(requests, start=1):
        pairs = ", ".join(f'["{k}"] = {lua_string(v)}' for k, v in headers.items())
        lines.append(f'reqs[{i}] = wrk.format("GET", "{path}", {{{pairs}}})')
    lines += [
        "local i = 0",
        "request = function()",
        f"  i = (i % {len(requests)}) + 1",
        "  return reqs[i]",
        "end",
    ]
    script = work / f"rotation-{len(list(work.iterdir()))}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(url: str, script: Path) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "/usr/bin/wrk",
            *("-t", "2", "-c", str(CONCURRENCY), "-d", f"{WRK_SECONDS}s"),
            *("--latency", "-s", str(script), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {}
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        latency[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": round(rps),
        "p50_ms": round(latency["50"], 2),
        "p99_ms": round(latency["99"], 2),
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def poll_requests(devices: list[Any], *, capability_urls: bool) -> list[tuple[str, dict[str, str]]]:
    from thongtincoso.radio.credentials import capability_for

    requests = []
    for n, device in devices:
        credential = credential_of(n)
        headers = {"If-None-Match": device.manifest_etag}
        if capability_urls:
            requests.append((f"/device-manifests/{capability_for(credential)}.json", headers))
        else:
            requests.append(
                ("/api/device/v1/manifest", {**headers, "Authorization": f"Bearer {credential}"})
            )
    return requests


def sampled_devices() -> list[tuple[int, Any]]:
    from thongtincoso.radio.models import Device

    step = max(1, Device.objects.count() // POLLED_DEVICES)
    rows = list(Device.objects.order_by("pk").only("pk", "manifest_etag"))
    first = rows[0].pk
    return [(d.pk - first, d) for d in rows[::step][:POLLED_DEVICES]]


def check_304(port: int, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def embedded(report: Report, work: Path) -> dict[str, Any]:
    devices = sampled_devices()
    requests = poll_requests(devices, capability_urls=False)
    sys.path.insert(0, str(ROOT / "scripts"))
    from serve import web_command  # the exact command of `make demo`

    server = subprocess.Popen(  # noqa: S603
        web_command("127.0.0.1", APP_PORT),
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if not wait_port(APP_PORT):
            report.check("the web server started", False)
            return {}
        status = check_304(APP_PORT, *requests[0])
        report.check(f"a poll through the web server is a 304 ({status})", status == 304)
        result = run_wrk(f"http://127.0.0.1:{APP_PORT}", lua_rotation(work, requests))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    report.check(
        f"(d) embedded default ≥ {GOAL_RPS:,} requests/s ({result['requests_per_s']:,})",
        result["requests_per_s"] >= GOAL_RPS,
    )
    report.check(
        f"(d) embedded default p99 under {GOAL_P99_MS:.0f} ms ({result['p99_ms']} ms)",
        result["p99_ms"] < GOAL_P99_MS,
    )
    report.check("(d) embedded default: no errors", result["errors"] == 0)
    report.row(
        "(d) poll, embedded default (`make demo`'s server, Bearer → 304)",
        f"{result['p50_ms']} ms",
        f"{result['p99_ms']} ms",
        f"≥ {GOAL_RPS:,}/s, p99 < {GOAL_P99_MS:.0f} ms",
        f"{result['requests_per_s']:,} requests/s",
    )
    return result


def nginx_location() -> str:
    """The device-manifests location block of deploy/nginx/ttcs.conf, as shipped."""
    text = (ROOT / "deploy" / "nginx" / "ttcs.conf").read_text()
    start = text.index('    location ~ "^/device-manifests/')
    depth, i = 0, text.index('" {\n', start) + 2  # the block's brace, not the regex's
    while True:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
        i += 1


def through_nginx(report: Report, work: Path) -> dict[str, Any]:
    manifest_root = Path(os.environ["TTCS_MANIFEST_ROOT"])
    devices = sampled_devices()
    requests = poll_requests(devices, capability_urls=True)
    sample = next(manifest_root.rglob("*.json"))
    plain_dir = work / "plain"
    plain_dir.mkdir()
    plain = plain_dir / "plain.json"
    plain.write_bytes(os.urandom(sample.stat().st_size))
    location = nginx_location().replace("/var/lib/ttcs/manifests/", f"{manifest_root}/")
    conf = work / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 2;
user root;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{NGINX_PORT};
{location}
        location /plain/ {{
            alias {plain_dir}/;
            default_type application/json;
            etag on;
            if_modified_since off;
            add_header Cache-Control "private, no-cache" always;
            open_file_cache max=100000 inactive=60s;
            open_file_cache_valid 1s;
        }}
    }}
}}
"""
    )
    started = subprocess.run(  # noqa: S603
        [NGINX, "-c", str(conf), "-p", str(work)], capture_output=True, text=True
    )
    if started.returncode != 0:
        report.check(f"nginx started ({started.stderr.strip()[:200]})", False)
        return {}
    try:
        wait_port(NGINX_PORT)
        status = check_304(NGINX_PORT, *requests[0])
        report.check(f"a conditional poll through nginx is a 304 ({status})", status == 304)
        manifest = run_wrk(f"http://127.0.0.1:{NGINX_PORT}", lua_rotation(work, requests))
        etag = f'"{int(plain.stat().st_mtime):x}-{plain.stat().st_size:x}"'
        plain_status = check_304(NGINX_PORT, "/plain/plain.json", {"If-None-Match": etag})
        report.check(
            f"the plain file's conditional GET is a 304 ({plain_status})", plain_status == 304
        )
        static = run_wrk(
            f"http://127.0.0.1:{NGINX_PORT}",
            lua_rotation(work, [("/plain/plain.json", {"If-None-Match": etag})]),
        )
    finally:
        subprocess.run(  # noqa: S603
            [NGINX, "-c", str(conf), "-p", str(work), "-s", "stop"], capture_output=True
        )
    ratio = manifest["requests_per_s"] / static["requests_per_s"]
    report.check(
        f"(d) nginx manifests ≥ {GOAL_NGINX_RATIO:.0%} of a plain static file ({ratio:.0%})",
        ratio >= GOAL_NGINX_RATIO,
    )
    report.row(
        "(d) poll through the shipped nginx location (capability URL → 304)",
        f"{manifest['p50_ms']} ms",
        f"{manifest['p99_ms']} ms",
        f"≥ {GOAL_NGINX_RATIO:.0%} of the plain file",
        f"{manifest['requests_per_s']:,} requests/s (ratio {ratio:.2f})",
    )
    report.row(
        "(d) the same nginx, a plain static file of the same size (→ 304)",
        f"{static['p50_ms']} ms",
        f"{static['p99_ms']} ms",
        "",
        f"{static['requests_per_s']:,} requests/s",
    )
    return {"manifests": manifest, "plain_file": static, "ratio": round(ratio, 3)}


def run(report: Report) -> None:
    os.environ["TTCS_MANIFEST_ROOT"] = str(Path(os.environ["TTCS_VAR_DIR"]) / "manifests")
    from django.conf import settings

    settings.TTCS_MANIFEST_ROOT = os.environ["TTCS_MANIFEST_ROOT"]
    facts = make_fleet(report)
    results: dict[str, Any] = {"devices_per_commune": PER_COMMUNE}
    results["build"] = build(report, facts)
    tools = shutil.which("wrk") and shutil.which("nginx")
    if not tools:
        report.check("wrk and nginx installed (apt-get install wrk nginx)", False)
    else:
        from django.db import connection

        connection.close()  # the servers open their own connections
        with tempfile.TemporaryDirectory(prefix="ttcs-bench-poll-") as tmp:
            work = Path(tmp)
            results["poll_embedded"] = embedded(report, work)
            results["poll_nginx"] = through_nginx(report, work)
            results["wrk"] = {"concurrency": CONCURRENCY, "seconds": WRK_SECONDS}
    report.results = results


if __name__ == "__main__":
    sys.exit(
        run_main(
            lambda env: (
                f"\n## Commune radio — {env['database_version']}, {env['cpus_usable']} CPUs"
            ),
            run,
            OUTPUT,
            columns=("Case", "Time / p50", "p99", "Goal", "Result"),
            footer="Results written to {path}; elapsed {elapsed} s",
        )
    )
