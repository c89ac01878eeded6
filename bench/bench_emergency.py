"""Benchmark: emergency latency, from approval to the first audio sample on every loudspeaker.

A fleet of simulated devices (`ttcs-agent-sim`: thousands of real `ttcs_agent.Agent`s in one
asyncio process, each with its own credential, poll loop and, when MQTT is on, its own broker
connection) runs against the server exactly as `make demo` runs it (scripts/serve.py's granian
command + the Huey worker), on a scratch database with 200 communes × 50 devices:

- a national editor writes an emergency bulletin for the run's communes (20 communes for 1,000
  devices, all 200 for 10,000) with a ~20 s spoken-length MP3 attached, and submits it;
- t0 is taken just before an approver approves it over the API with a personal token
  (`POST /api/v1/bulletins/<id>/approve`), the way a leader does from a program: approval
  publishes the bulletin, relays it to the communes, and the relay starts the emergency;
- every device's player records the clock time of the emergency's first audio sample; the
  latency is that minus t0 (one machine, one clock). A device that has not started after
  poll interval + 30 s is a failure.

Each size runs twice: with MQTT push (a bench-private Mosquitto on 127.0.0.1:18883; the
server's MQTT_URL set) and polling only (no broker, MQTT_URL unset). Between runs the emergency
is stopped, the Huey queue drained and the simulator restarted, so every run starts clean.
During each run the server's CPU (% of one core: granian processes + Huey worker) and memory
(RSS sum) are sampled with psutil, and so are the simulator's and the broker's.

Goals (issue 6): MQTT p99 < 3 s at 10,000 devices; polling-only p99 < poll interval + 1 s; no
device left silent.

    uv run python bench/bench_emergency.py
    BENCH_EMERGENCY_SIZES=1000 uv run python bench/bench_emergency.py      # quick run

Environment: BENCH_EMERGENCY_SIZES (default "1000,10000"), BENCH_EMERGENCY_POLL_INTERVAL
(seconds, default 30), BENCH_EMERGENCY_MODES (default "mqtt,poll"), and the knobs described at
their constants below (heartbeats, connection pools, logs, profiling; bench/README.md lists
them). Writes var/bench/emergency.json and each run's per-device records in
var/bench/emergency-runs/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import ROOT, Report, fmt_time, run_main, wait_port

OUTPUT = ROOT / "var" / "bench" / "emergency.json"
RUNS_DIR = ROOT / "var" / "bench" / "emergency-runs"  # the simulator's results of each run
SIZES = [int(s) for s in os.environ.get("BENCH_EMERGENCY_SIZES", "1000,10000").split(",") if s]
MODES = [m for m in os.environ.get("BENCH_EMERGENCY_MODES", "mqtt,poll").split(",") if m]
POLL_INTERVAL = int(os.environ.get("BENCH_EMERGENCY_POLL_INTERVAL", "30"))
PER_COMMUNE = 50
COMMUNES = max(1, math.ceil(max(SIZES) / PER_COMMUNE))
AUDIO_SECONDS = 20.0
GOAL_MQTT_P99_S = 3.0
GOAL_POLL_P99_S = POLL_INTERVAL + 1.0
WAIT_S = POLL_INTERVAL + 30.0  # after t0: a device still silent then is a failure
START_RATE = 200  # agents started per second by the simulator
# The simulator's HTTP connections, shared by all its agents (real devices have one each).
CONNECTIONS = int(os.environ.get("BENCH_EMERGENCY_CONNECTIONS", "256"))
# Heartbeats: every 10 minutes instead of the protocol's minute, one in flight at a time. The
# demo server on SQLite cannot ingest 10,000 devices' minute heartbeats (each waits for the one
# writer), and while they wait they hold granian's blocking threads, which the manifest and
# alerts fast path needs too: without this, 10,000 agents never all got their first manifest
# (docs/benchmarks.md).
HEARTBEAT_S = float(os.environ.get("BENCH_EMERGENCY_HEARTBEAT", "600"))
CONTROL_CONNECTIONS = int(os.environ.get("BENCH_EMERGENCY_CONTROL_CONNECTIONS", "1"))
APP_PORT = 18241
MQTT_PORT = 18883
SAMPLE_S = 0.5
# Keep the servers' access logs and error output in RUNS_DIR (large at 10,000 devices).
KEEP_LOGS = bool(os.environ.get("BENCH_EMERGENCY_KEEP_LOGS"))
PROFILE = bool(os.environ.get("BENCH_EMERGENCY_PROFILE"))  # cProfile the simulator
WINDOW_S = 15.0  # resources are sampled from t0 for at least this long


# --- data -----------------------------------------------------------------------------------


def credential_of(n: int) -> str:
    return f"ttcsd_bench-{n:06d}-" + hashlib.sha256(str(n).encode()).hexdigest()[:24]


def speech_like_wav(seconds: float, rate: int = 24000) -> bytes:
    """A WAV with the rhythm of speech: voiced syllables (harmonics of a moving pitch, ~4 a
    second) and short pauses. The server then encodes it like any recording, so the MP3 has the
    size of a real spoken warning of that length."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    pitch = 150 + 40 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 0.5
    phrases = (np.sin(2 * np.pi * 0.25 * t) > -0.8).astype(float)  # a pause every 4 s
    rng = np.random.default_rng(6)
    noise = rng.normal(0, 0.05, t.size)
    signal_ = 0.3 * (voice * syllables * phrases + noise * syllables)
    pcm = (np.clip(signal_, -1, 1) * 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def make_fleet(report: Report) -> dict[str, Any]:
    """Units, rules, stations, devices (bulk), manifests, the people and the warning audio."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from thongtincoso.accounts.models import RoleAssignment, User
    from thongtincoso.accounts.roles import Role
    from thongtincoso.accounts.services import api_token_create
    from thongtincoso.radio import manifests
    from thongtincoso.radio.credentials import sha256_hex
    from thongtincoso.radio.models import BroadcastRules, Device, Station
    from thongtincoso.speech.models import AudioSource
    from thongtincoso.speech.services import upload_asset
    from thongtincoso.units.models import PATH_SEGMENT_WIDTH, Unit, UnitKind
    from thongtincoso.units.services import units_load_official

    t0 = time.perf_counter()
    units_load_official()
    nation = Unit.objects.get(code="VN")
    # The nation's rules reach every commune: the poll interval of the run, and no second person
    # for wide emergencies (a relayed emergency bulletin never needs one anyway).
    BroadcastRules.objects.update_or_create(
        unit=nation,
        defaults={"poll_interval_seconds": POLL_INTERVAL, "province_emergency_confirmation": False},
    )
    communes = list(
        Unit.objects.current().filter(kind=UnitKind.COMMUNE).order_by("code")[:COMMUNES]
    )
    provinces = dict(
        Unit.objects.current().filter(kind=UnitKind.PROVINCE).values_list("path", "code")
    )
    Station.objects.bulk_create(
        [Station(unit=c, name=f"Đài truyền thanh {c.name}") for c in communes]
    )
    now = dt.datetime.now(dt.UTC)
    devices: list[Any] = []
    fleet: list[dict[str, Any]] = []
    for commune in communes:
        path = commune.path
        ancestors = [path[:i] for i in range(PATH_SEGMENT_WIDTH, len(path), PATH_SEGMENT_WIDTH)]
        province = next(provinces[p] for p in ancestors if p in provinces)
        for i in range(PER_COMMUNE):
            n = len(devices)
            code = f"{commune.code}-{i:02d}"
            devices.append(
                Device(
                    code=code,
                    kind="cluster",
                    commune=commune,
                    credential_hash=sha256_hex(credential_of(n)),
                    credential_issued_at=now,
                    enrolled_at=now,
                )
            )
            fleet.append(
                {
                    "credential": credential_of(n),
                    "device": code,
                    "commune": commune.code,
                    "zone": None,
                    "province": province,
                    "topics": [
                        f"ttcs/devices/{code}/events",
                        f"ttcs/communes/{commune.code}/events",
                        f"ttcs/provinces/{province}/events",
                    ],
                }
            )
    Device.objects.bulk_create(devices, batch_size=2000)
    changed = manifests.refresh(list(Device.objects.select_related("commune")))
    report.check(
        f"{len(communes)} communes, {len(devices):,} devices, every manifest written",
        len(changed) == len(devices) == len(communes) * PER_COMMUNE,
    )

    people: dict[str, Any] = {}
    for role in (Role.EDITOR, Role.APPROVER, Role.BROADCAST_OPERATOR):
        user = User.objects.create_user(username=f"bench_{role}", password=None, unit=nation)
        RoleAssignment.objects.create(user=user, role=role, unit=nation)
        people[role] = user
    # Approvers must use two-factor authentication for their tokens to work, as on a server.
    TOTPDevice.objects.create(user=people[Role.APPROVER], name="bench", confirmed=True)
    _token, secret = api_token_create(
        actor=people[Role.APPROVER], user=people[Role.APPROVER], name="bench_emergency"
    )
    asset = upload_asset(
        unit=nation,
        stream=io.BytesIO(speech_like_wav(AUDIO_SECONDS)),
        source=AudioSource.RECORDING,
        name="canh-bao-lu-quet.wav",
    )
    report.check(
        f"the warning's MP3 is stored ({asset.mp3_size:,} bytes, {asset.duration:.1f} s)",
        abs(asset.duration - AUDIO_SECONDS) < 1.0,
    )
    return {
        "communes": [c.pk for c in communes],
        "fleet": fleet,
        "people": people,
        "token": secret,
        "asset": asset,
        "setup_s": round(time.perf_counter() - t0, 1),
    }


def emergency_bulletin(facts: dict[str, Any], communes: int, run: str) -> Any:
    """An emergency bulletin for the first `communes` communes, audio attached, submitted."""
    from thongtincoso.accounts.roles import Role
    from thongtincoso.bulletins import services
    from thongtincoso.speech.models import AudioSource, BulletinAudio
    from thongtincoso.speech.services import text_sha256
    from thongtincoso.units.models import Unit

    editor = facts["people"][Role.EDITOR]
    targets = list(Unit.objects.filter(pk__in=facts["communes"][:communes]))
    bulletin = services.bulletin_create(
        actor=editor,
        unit=Unit.objects.get(code="VN"),
        title=f"Cảnh báo lũ quét, sạt lở đất ({run})",
        body="<p>Mưa lớn kéo dài: nguy cơ lũ quét, sạt lở đất. Người dân vùng trũng thấp "
        "khẩn trương di chuyển đến nơi an toàn.</p>",
        category="kien-thuc-san-xuat-doi-song",
        priority="emergency",
        channels=["radio", "portal"],
        valid_from=dt.datetime.now(dt.UTC),
        targets=targets,
    )
    BulletinAudio.objects.update_or_create(
        bulletin=bulletin,
        defaults={
            "asset": facts["asset"],
            "source": AudioSource.RECORDING,
            "text_sha256": text_sha256(bulletin.reading_text),
        },
    )
    services.bulletin_submit(actor=editor, bulletin=bulletin)
    return bulletin


def approve_over_api(bulletin_id: int, token: str) -> tuple[float, int, float]:
    """(t0, HTTP status, seconds the request took): the approval as a program sends it."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{APP_PORT}/api/v1/bulletins/{bulletin_id}/approve",
        data=json.dumps({"comment": "Phát ngay"}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    t0 = time.time()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
        print(f"approve answered {status}: {exc.read()[:300]!r}", file=sys.stderr)
    return t0, status, time.time() - t0


def stop_emergency(facts: dict[str, Any], bulletin: Any) -> None:
    """Take the run's emergency off the air and wait until the worker has told every device."""
    from huey.contrib.djhuey import HUEY

    from thongtincoso.accounts.roles import Role
    from thongtincoso.radio.emergencies import emergency_stop
    from thongtincoso.radio.models import Emergency, EmergencyState

    for emergency in Emergency.objects.filter(bulletin=bulletin, state=EmergencyState.ACTIVE):
        emergency_stop(
            actor=facts["people"][Role.BROADCAST_OPERATOR], emergency=emergency, reason="bench"
        )
    deadline = time.monotonic() + 120
    while HUEY.pending_count() and time.monotonic() < deadline:
        time.sleep(0.5)


# --- processes ------------------------------------------------------------------------------


def raise_nofile() -> None:
    """Thousands of MQTT connections: the broker and the simulator inherit the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_mosquitto(work: Path) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        return None
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {MQTT_PORT} 127.0.0.1\nallow_anonymous true\nmax_connections -1\n"
        "persistence false\nlog_dest none\nmax_queued_messages 1000\n"
    )
    broker = subprocess.Popen(  # noqa: S603
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if not wait_port(MQTT_PORT, 10):
        broker.kill()
        return None
    return broker


@dataclass
class Server:
    """`make demo`'s two processes: granian (web_command) and the Huey worker."""

    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]

    def processes(self) -> list[Any]:
        import psutil

        found = []
        for proc in (self.web, self.worker):
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(proc.pid)
                found += [parent, *parent.children(recursive=True)]
        return found

    def stop(self) -> None:
        for proc, sig in ((self.web, signal.SIGTERM), (self.worker, signal.SIGINT)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        for proc in (self.web, self.worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_server(mqtt_url: str | None, logs: Path) -> Server | None:
    from django.db import connection

    sys.path.insert(0, str(ROOT / "scripts"))
    from serve import web_command  # the exact command of `make demo`

    connection.close()  # the server opens its own connections to the scratch database
    env = os.environ.copy()
    env.pop("MQTT_URL", None)
    if mqtt_url:
        env["MQTT_URL"] = mqtt_url
    commands = {
        "web": web_command("127.0.0.1", APP_PORT),
        "worker": [sys.executable, "manage.py", "run_huey"],
    }
    procs = {}
    for name, command in commands.items():
        procs[name] = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=env,
            stdout=(logs / f"{name}.out").open("ab") if KEEP_LOGS else subprocess.DEVNULL,
            stderr=(logs / f"{name}.log").open("ab"),
            start_new_session=True,
        )
    server = Server(procs["web"], procs["worker"])
    if not wait_port(APP_PORT):
        server.stop()
        return None
    return server


@dataclass
class Sampler:
    """CPU (% of one core) and RSS of process groups, every SAMPLE_S, in a thread."""

    groups: dict[str, Any]  # name -> callable returning the group's psutil processes
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        cpu_seen: dict[int, Any] = {}
        while not self._stop.is_set():
            for name, procs in self.groups.items():
                cpu = rss = 0.0
                for proc in procs():
                    with contextlib.suppress(psutil.Error):
                        proc = cpu_seen.setdefault(proc.pid, proc)
                        cpu += proc.cpu_percent(None)  # since this process's previous sample
                        rss += proc.memory_info().rss
                self.samples.setdefault(name, []).append((cpu, rss))
            self._stop.wait(SAMPLE_S)

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        summary = {}
        for name, values in self.samples.items():
            cpus = [c for c, _ in values[1:]] or [0.0]  # the first sample has no interval
            summary[name] = {
                "cpu_mean_pct": round(sum(cpus) / len(cpus), 1),
                "cpu_peak_pct": round(max(cpus), 1),
                "rss_peak_mb": round(max(r for _, r in values) / 2**20, 1),
            }
        return summary


def start_simulator(
    fleet_file: Path, work: Path, mqtt_url: str | None, run: str
) -> tuple[subprocess.Popen[bytes], Path, Path, Path]:
    ready, progress, results = (work / f"{run}.{name}" for name in ("ready", "progress", "json"))
    command = [
        sys.executable,
        "-m",
        "ttcs_agent.simulator",
        *("--server", f"http://127.0.0.1:{APP_PORT}"),
        *("--fleet", str(fleet_file)),
        *("--ready", str(ready)),
        *("--progress", str(progress)),
        *("--results", str(results)),
        *("--rate", str(START_RATE)),
        *("--connections", str(CONNECTIONS)),
        *("--heartbeat-interval", str(HEARTBEAT_S)),
        *("--control-connections", str(CONTROL_CONNECTIONS)),
    ]
    if mqtt_url:
        command += ["--mqtt", mqtt_url]
    if PROFILE:
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        command += ["--profile", str(RUNS_DIR / f"{run}.prof")]
    sim = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, stderr=(work / f"{run}.sim.log").open("ab"), start_new_session=True
    )
    return sim, ready, progress, results


def wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


def started_count(progress: Path, emergency_id: int) -> int:
    try:
        data = json.loads(progress.read_text())
    except (OSError, ValueError):
        return 0
    return int(data.get("emergency_starts", {}).get(str(emergency_id), 0))


# --- one run ----------------------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run_once(
    report: Report,
    facts: dict[str, Any],
    server: Server,
    broker: subprocess.Popen[bytes] | None,
    work: Path,
    *,
    size: int,
    mqtt_url: str | None,
) -> dict[str, Any]:
    from thongtincoso.radio.models import Emergency

    mode = "mqtt" if mqtt_url else "poll"
    run = f"{mode}-{size}"
    fleet_file = work / f"fleet-{size}.json"
    fleet_file.write_text(json.dumps(facts["fleet"][:size]))
    sim, ready, progress, results_path = start_simulator(fleet_file, work, mqtt_url, run)
    try:
        import psutil

        sim_proc = psutil.Process(sim.pid)
        started = time.monotonic()
        if not wait_for(ready, sim, size / START_RATE + 120):
            report.check(f"{run}: the simulator got every first manifest", False)
            return {}
        ready_s = time.monotonic() - started
        time.sleep(5)  # let the start-up burst (first heartbeats, alerts files) settle
        groups = {"server": server.processes, "simulator": lambda: [sim_proc]}
        if broker is not None and mqtt_url:
            groups["mosquitto"] = lambda: [psutil.Process(broker.pid)]
        sampler = Sampler(groups)
        sampler.start()
        bulletin = emergency_bulletin(facts, size // PER_COMMUNE, run)
        t0, status, approve_s = approve_over_api(bulletin.pk, facts["token"])
        emergency = Emergency.objects.filter(bulletin=bulletin).first()
        report.check(
            f"{run}: approval over the API answered 200 and started the emergency ({status})",
            status == 200 and emergency is not None,
        )
        if emergency is None:
            sampler.stop()
            return {}
        deadline = t0 + WAIT_S
        while time.time() < deadline and started_count(progress, emergency.pk) < size:
            time.sleep(0.2)
        waited_s = time.time() - t0
        # Resources over at least WINDOW_S: the manifests re-rendered and polled after the
        # push belong to the emergency's cost too.
        time.sleep(max(0.0, t0 + WINDOW_S - time.time()))
        resources = sampler.stop()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sim.pid, signal.SIGTERM)
        try:
            sim.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(sim.pid, signal.SIGKILL)
            sim.wait()
    try:
        data = json.loads(results_path.read_text())
    except (OSError, ValueError):
        report.check(f"{run}: the simulator wrote its results", False)
        data = {"devices": {}, "counters": {}}
    stop_emergency(facts, bulletin)
    RUNS_DIR.mkdir(parents=True, exist_ok=True)  # per-device records, for a closer look
    shutil.copy(results_path, RUNS_DIR / f"{run}.json")
    emergency.refresh_from_db()
    assert emergency.started_at is not None
    return summarise(report, run, data, emergency.pk, t0, size, mqtt_url) | {
        "on_air_after_s": round(emergency.started_at.timestamp() - t0, 3),
        "approve_request_s": round(approve_s, 3),
        "simulator_ready_s": round(ready_s, 1),
        "waited_s": round(waited_s, 1),
        "resources": resources,
    }


def summarise(
    report: Report,
    run: str,
    data: dict[str, Any],
    emergency_id: int,
    t0: float,
    size: int,
    mqtt_url: str | None,
) -> dict[str, Any]:
    latencies: list[float] = []
    heard: list[float] = []
    to_play: list[float] = []  # from hearing of it to the first sample: mostly the download
    heard_by: dict[str, int] = {}
    for record in data.get("devices", {}).values():
        firsts = [s[3] for s in record.get("starts", []) if s[2] == emergency_id]
        news = record.get("heard", {}).get(str(emergency_id))
        if firsts:
            latencies.append(min(firsts) - t0)
        if news:
            heard.append(news[0] - t0)
            heard_by[news[1]] = heard_by.get(news[1], 0) + 1
        if firsts and news:
            to_play.append(min(firsts) - news[0])
    for values in (latencies, heard, to_play):
        values.sort()
    failures = size - len(latencies)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    goal = GOAL_MQTT_P99_S if mqtt_url else GOAL_POLL_P99_S
    report.check(f"{run}: every device played the emergency ({failures} silent)", failures == 0)
    report.check(f"{run}: p99 under {goal:.0f} s ({p99:.2f} s)", p99 < goal)
    return {
        "devices": size,
        "played": len(latencies),
        "silent": failures,
        "latency_s": {
            "p50": round(p50, 3),
            "p99": round(p99, 3),
            "max": round(latencies[-1], 3) if latencies else None,
            "min": round(latencies[0], 3) if latencies else None,
        },
        "heard_s": {
            "p50": round(percentile(heard, 0.5), 3),
            "p99": round(percentile(heard, 0.99), 3),
        },
        "heard_to_play_s": {
            "p50": round(percentile(to_play, 0.5), 3),
            "p99": round(percentile(to_play, 0.99), 3),
        },
        "heard_by": heard_by,
        "goal_p99_s": goal,
        "counters": data.get("counters", {}),
    }


def row(report: Report, result: dict[str, Any], mode: str) -> None:
    if not result:
        return
    latency = result["latency_s"]
    server = result["resources"].get("server", {})
    simulator = result["resources"].get("simulator", {})
    label = "MQTT push" if mode == "mqtt" else f"polling only ({POLL_INTERVAL} s)"
    report.row(
        f"{result['devices']:,} devices, {label}",
        fmt_time(latency["p50"]),
        fmt_time(latency["p99"]),
        f"< {result['goal_p99_s']:.0f} s",
        f"max {fmt_time(latency['max'] or 0)}, {result['played']:,}/{result['devices']:,} played; "
        f"server CPU {server.get('cpu_mean_pct', 0):.0f}% mean / "
        f"{server.get('cpu_peak_pct', 0):.0f}% peak, RSS {server.get('rss_peak_mb', 0):.0f} MB; "
        f"simulator CPU {simulator.get('cpu_mean_pct', 0):.0f}% / "
        f"{simulator.get('cpu_peak_pct', 0):.0f}%, RSS {simulator.get('rss_peak_mb', 0):.0f} MB",
    )


def run(report: Report) -> None:
    os.environ["TTCS_MANIFEST_ROOT"] = str(Path(os.environ["TTCS_VAR_DIR"]) / "manifests")
    from django.conf import settings

    settings.TTCS_MANIFEST_ROOT = os.environ["TTCS_MANIFEST_ROOT"]
    raise_nofile()
    facts = make_fleet(report)
    results: dict[str, Any] = {
        "poll_interval_s": POLL_INTERVAL,
        "audio": {"bytes": facts["asset"].mp3_size, "seconds": facts["asset"].duration},
        "setup_s": facts["setup_s"],
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="ttcs-bench-emergency-") as tmp:
        work = Path(tmp)
        for mode in MODES:
            broker = None
            mqtt_url = None
            if mode == "mqtt":
                broker = start_mosquitto(work)
                if broker is None:
                    print("mosquitto not installed: MQTT runs skipped", file=sys.stderr)
                    results["runs"]["mqtt"] = "skipped: no mosquitto binary"
                    continue
                mqtt_url = f"mqtt://127.0.0.1:{MQTT_PORT}"
            server = start_server(mqtt_url, work)
            if server is None:
                report.check(f"{mode}: the server started", False)
                continue
            try:
                for size in SIZES:
                    result = run_once(
                        report, facts, server, broker, work, size=size, mqtt_url=mqtt_url
                    )
                    results["runs"][f"{mode}-{size}"] = result
                    row(report, result, mode)
            finally:
                server.stop()
                if broker is not None:
                    broker.terminate()
                    broker.wait(timeout=10)
        if KEEP_LOGS:
            RUNS_DIR.mkdir(parents=True, exist_ok=True)
            for kept in [*work.glob("*.log"), *work.glob("*.out")]:
                shutil.copy(kept, RUNS_DIR / kept.name)
        for log in sorted(work.glob("*.log")):
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            if tail and any("Traceback" in line or "Error" in line for line in tail):
                print(f"--- {log.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)
    report.results = results


if __name__ == "__main__":
    sys.exit(
        run_main(
            lambda env: (
                f"\n## Emergency latency — {env['database_version']}, {env['cpus_usable']} CPUs"
            ),
            run,
            OUTPUT,
            columns=("Case", "p50", "p99", "Goal", "Result"),
            footer="Results written to {path}; elapsed {elapsed} s",
        )
    )
