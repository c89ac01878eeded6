"""End to end, in real time with real processes: a server as `make demo` runs it (granian and
the Huey worker, scripts/serve.py's commands), the Mosquitto broker, and 20 `ttcs-agent`
processes. An operator puts an emergency on air through the web form; every agent must start
playing it within 3 s, its play log must reach the server, and the fleet page must show the 20
devices online.

Skipped when no MQTT broker answers on 127.0.0.1:1883 or the agent's CLI cannot run (CI has
both). The server gets a database of its own (the embedded SQLite file of `make demo`, in the
test's temp directory, migrated by a setup process), its own MEDIA_ROOT, manifest root and Huey
queue.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
from serve import web_command  # noqa: E402  (the exact command of `make demo`)

AGENTS = 20
BROKER = ("127.0.0.1", 1883)
EMERGENCY_DEADLINE_S = 3.0  # approval -> first sample on every agent
STARTUP_S = 60.0  # how long the agents may take to enrol, connect and subscribe
EVENTS_S = 30.0  # how long the play log may take to reach the server


def broker_answers() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


def agent_cli_runs() -> bool:
    result = subprocess.run(  # noqa: S603
        agent_cli("--version"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return result.returncode == 0


def agent_cli(*args: str | Path) -> list[str]:
    """`ttcs-agent ARGS` from this interpreter's environment (the venv's ttcs_agent)."""
    return [sys.executable, "-m", "ttcs_agent.cli", *map(str, args)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Any, seconds: float, step: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(step)


class Processes:
    """Every process this test starts, each in its own session, stopped in `stop_all`."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.running.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        # Agents and granian stop on SIGTERM; the Huey consumer finishes its job on SIGINT.
        for name, process in self.running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT if name == "worker" else signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, process in self.running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own group: granian's workers too
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Processes(logs)
    try:
        yield running
    finally:
        running.stop_all()


def server_env(tmp_path: Path) -> dict[str, str]:
    var = tmp_path / "var"
    var.mkdir()
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        # No DATABASE_URL: the embedded SQLite of `make demo` (IMMEDIATE transactions, WAL) in
        # var/ttcs.sqlite3, and the Huey queue (SqliteHuey) beside it.
        "TTCS_VAR_DIR": str(var),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "TTCS_MANIFEST_ROOT": str(tmp_path / "manifests"),
        "MQTT_URL": f"mqtt://{BROKER[0]}:{BROKER[1]}",
        "SECRET_KEY": "e2e-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "false",
        "TTCS_API_ANON_RATE": "100000/m",  # 20 enrolments from one address
        "TTCS_PORTAL_RATE": "100000/m",
        "TTCS_AUDIT_ANCHOR": str(var / "audit-anchor.json"),
    }


def build_world(env: dict[str, str], prefix: str) -> dict[str, Any]:
    """Migrate + units, people, devices, an emergency bulletin (agent_support.e2e_setup), with
    collectstatic alongside (the pages need the static manifest, as in `make demo`)."""
    static = subprocess.Popen(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    setup = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "thongtincoso.radio.tests.agent_support", str(AGENTS), prefix],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert setup.returncode == 0, setup.stderr[-3000:]
    _, static_err = static.communicate(timeout=300)
    assert static.returncode == 0, static_err[-3000:]
    world: dict[str, Any] = json.loads(setup.stdout.strip().splitlines()[-1])
    return world


class Browser:
    """A logged-in operator over plain HTTP (cookies + CSRF), as a person with a browser."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return str(response.read().decode())

    def post_form(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
        page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, f"no CSRF token on {path}"
        body = urllib.parse.urlencode([("csrfmiddlewaretoken", token.group(1)), *fields])
        request = urllib.request.Request(  # noqa: S310
            self.base + path,
            data=body.encode(),
            headers={"Referer": self.base + path},
        )
        with self.opener.open(request, timeout=30) as response:
            return int(response.status), response.geturl()


def db_rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        return list(connection.execute(sql, params).fetchall())


def utc_epoch(value: str) -> float:
    """A datetime as Django stores it in SQLite (UTC, no zone)."""
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def player_config(state_dir: Path, server: str) -> Path:
    """The agent's config: a player that leaves evidence (the wall-clock time its first sample
    would play, and the file) and lasts as long as the 2 s audio; quick play-log uploads."""
    plays = state_dir / "plays.txt"
    script = f'echo "$(date +%s.%N) $0" >> {plays}; exec sleep 2'
    config = state_dir.parent / f"{state_dir.name}.toml"
    player = json.dumps(["sh", "-c", script, "{path}"])
    config.write_text(f'server_url = "{server}"\nplayer = {player}\nupload_interval = 2.0\n')
    return config


def first_play(state_dir: Path, sha: str) -> float | None:
    try:
        lines = (state_dir / "plays.txt").read_text().splitlines()
    except FileNotFoundError:
        return None
    times = [float(line.split()[0]) for line in lines if sha in line]
    return min(times) if times else None


def test_twenty_agents_hear_an_emergency_within_three_seconds(tmp_path, processes):
    if not broker_answers():
        pytest.skip("no MQTT broker answers on 127.0.0.1:1883 (CI runs Mosquitto)")
    if not agent_cli_runs():
        pytest.skip("the ttcs-agent CLI cannot run (python -m ttcs_agent.cli)")
    env = server_env(tmp_path)
    prefix = f"E2E{uuid.uuid4().hex[:6].upper()}"  # fresh MQTT client ids and topics per run
    world = build_world(env, prefix)
    db = tmp_path / "var" / "ttcs.sqlite3"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("web", web_command("127.0.0.1", port), env)
    processes.start("worker", [sys.executable, "manage.py", "run_huey"], env)
    wait_for("the web server", lambda: _answers(base + "/healthz"), 30)

    # Enrol the 20 agents (in parallel, as 20 devices would), then run them.
    agent_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    states = {code: tmp_path / "agents" / code for code in world["codes"]}
    enrolments = [
        subprocess.Popen(  # noqa: S603
            agent_cli("enrol", "--server", base, "--code", enrolment, "--state-dir", states[code]),
            cwd=ROOT,
            env=agent_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for code, enrolment in world["codes"].items()
    ]
    for enrolment in enrolments:
        out, _ = enrolment.communicate(timeout=120)
        assert enrolment.returncode == 0, out.decode()
        assert b"ttcsd_" not in out  # the credential is never printed
    for code, state in states.items():
        config = player_config(state, base)
        argv = agent_cli("run", "--state-dir", state, "--config", config, "--mqtt", env["MQTT_URL"])
        processes.start(code, argv, agent_env)

    def all_subscribed() -> bool:
        return all("MQTT: subscribed" in processes.log(code) for code in states)

    wait_for("every agent to subscribe to its MQTT topics", all_subscribed, STARTUP_S)
    seen = "SELECT COUNT(*) FROM radio_device WHERE code LIKE ? AND last_seen_at IS NOT NULL"
    wait_for(
        "every agent's first heartbeat",
        lambda: db_rows(db, seen, prefix + "%")[0][0] == AGENTS,
        STARTUP_S,
    )

    # The operator puts the emergency on air through the web form.
    operator = Browser(base)
    status, _ = operator.post_form(
        "/login/", [("username", world["operator"]), ("password", world["password"])]
    )
    assert status == 200
    status, landed = operator.post_form(
        "/radio/emergencies/new/",
        [
            ("title", "Cảnh báo lũ quét"),
            ("targets", world["commune"]),
            ("source", "bulletin"),
            ("bulletin", str(world["bulletin"])),
            ("repeat_count", "1"),
            ("interval_seconds", "0"),
        ],
    )
    assert re.search(r"/radio/emergencies/\d+/$", landed), landed
    ((emergency_id, started_at, sha),) = db_rows(
        db, "SELECT id, started_at, audio_sha256 FROM radio_emergency WHERE state = 'active'"
    )
    approved = utc_epoch(started_at)
    wait_for(
        "every agent to play the emergency",
        lambda: all(first_play(state, sha) for state in states.values()),
        EMERGENCY_DEADLINE_S + 5,
        step=0.1,
    )
    delays = {code: first_play(state, sha) - approved for code, state in states.items()}  # type: ignore[operator]
    late = {code: round(d, 3) for code, d in delays.items() if not 0 <= d <= EMERGENCY_DEADLINE_S}
    assert not late, f"agents outside 0–{EMERGENCY_DEADLINE_S} s of approval: {late}"

    # Their play logs reach the server: one event per device for the emergency's repetition.
    key = f"emergency:{emergency_id}:1"
    events = "SELECT device_code, started_at FROM radio_playevent WHERE item_key = ?"
    rows = wait_for(
        "the play logs",
        lambda: (r := db_rows(db, events, key)) and len(r) == AGENTS and r,
        EVENTS_S,
    )
    assert sorted(code for code, _ in rows) == sorted(states)
    for code, started in rows:  # dated in server time, when the sound started
        assert abs(utc_epoch(started) - (approved + delays[code])) <= 1.0

    # The fleet page, as the operator sees it: the 20 devices online.
    page = operator.get("/radio/devices/?status=online")
    online = re.findall(r'data-status="online"', page)
    assert len(online) >= AGENTS
    for code in states:
        assert code in page


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return int(response.status) == 200
    except OSError:
        return False
