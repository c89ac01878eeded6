"""The fleet simulator against a tiny HTTP server speaking enough of the device protocol.

Three real agents share one aiohttp session; two are in the commune an emergency targets, one
is not. The emergency appears only in the province's alerts file (as the server publishes it
before re-rendering manifests), so what is checked is the whole chain the benchmark relies on:
the ready file, a poll that brings the notice, the audio download, the player's first sample,
and the results file that records all of it per device.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from ttcs_agent.simulator import Options, _active_ids, run_fleet

AUDIO = b"ID3" + os.urandom(20_000)
SHA = hashlib.sha256(AUDIO).hexdigest()
EMERGENCY = 7
FLEET = [
    {"credential": f"ttcsd_test-{n}", "device": code, "commune": commune, "zone": None,
     "province": "01", "topics": [f"ttcs/devices/{code}/events", "ttcs/provinces/01/events"]}
    for n, (code, commune) in enumerate(
        [("A-01", "00004"), ("A-02", "00004"), ("B-01", "00008")]
    )
]  # fmt: skip


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class FakeServer:
    """Manifests without items, an alerts file once `start()` is called, audio, heartbeats."""

    def __init__(self) -> None:
        self.notice: dict[str, Any] | None = None
        self.requests: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/api/device/v1/manifest", self.manifest)
        self.app.router.add_get("/device-alerts/{code}.json", self.alerts)
        self.app.router.add_get("/api/device/v1/audio/{sha}.mp3", self.audio)
        self.app.router.add_post("/api/device/v1/heartbeat", self.heartbeat)
        self.app.router.add_post("/api/device/v1/playlog", self.playlog)

    def start(self) -> None:
        now = time.time()
        self.notice = {
            "id": EMERGENCY,
            "state": "active",
            "title": "Cảnh báo lũ",
            "started_at": iso(now),
            "ends_at": iso(now + 2.0),
            "stopped_at": None,
            "repeat": 1,
            "interval": 0.0,
            "audio": {"sha256": SHA, "size": len(AUDIO), "duration": 2.0,
                      "url": f"/api/device/v1/audio/{SHA}.mp3"},
            "targets": {"provinces": [], "communes": ["00004"], "zones": []},
        }  # fmt: skip

    def device(self, request: web.Request) -> dict[str, Any]:
        self.requests.append(request.path)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        for entry in FLEET:
            if entry["credential"] == token:
                return entry
        raise web.HTTPUnauthorized()

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        entry = self.device(request)
        if request.headers.get("If-None-Match") == '"m1"':
            return web.Response(status=304, headers={"ETag": '"m1"'})
        body = {"version": 1, "device": entry["device"], "kind": "cluster",
                "commune": entry["commune"], "zone": None, "poll_interval": 1, "volume": 80,
                "items": [], "commands": [], "emergencies": []}  # fmt: skip
        return web.json_response(body, headers={"ETag": '"m1"'})

    async def alerts(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        if self.notice is None:
            return web.json_response({"detail": "Not found."}, status=404)
        body = {"version": 1, "province": "01", "emergencies": [self.notice]}
        return web.json_response(body, headers={"ETag": '"a1"'})

    async def audio(self, request: web.Request) -> web.StreamResponse:
        self.device(request)
        if request.match_info["sha"] != SHA:
            raise web.HTTPNotFound()
        return web.Response(body=AUDIO, content_type="audio/mpeg")

    async def heartbeat(self, request: web.Request) -> web.StreamResponse:
        self.device(request)
        body = {"server_time": iso(time.time()), "manifest_etag": '"m1"', "poll_interval": 1}
        return web.json_response(body)

    async def playlog(self, request: web.Request) -> web.StreamResponse:
        self.device(request)
        events = (await request.json()).get("events", [])
        return web.json_response({"accepted": len(events), "duplicates": 0, "rejected": []})


async def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


async def simulate(tmp_path: Path) -> tuple[FakeServer, dict[str, Any], dict[str, Any]]:
    server = FakeServer()
    runner = web.AppRunner(server.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ready, results = tmp_path / "ready", tmp_path / "results.json"
    options = Options(
        server=f"http://127.0.0.1:{port}",
        fleet=FLEET,
        rate=100,
        connections=4,
        ready=ready,
        progress=tmp_path / "progress.json",
        results=results,
    )
    stop = asyncio.Event()
    fleet_task = asyncio.create_task(run_fleet(options, stop))
    try:
        assert await wait_until(ready.exists, 10), "every agent got its manifest"
        ready_data = json.loads(ready.read_text())
        server.start()
        progress = options.progress
        assert progress is not None

        def both_started() -> bool:
            data = json.loads(progress.read_text())
            return bool(data["emergency_starts"].get(str(EMERGENCY)) == 2)

        assert await wait_until(both_started, 10), "both targeted devices played"
    finally:
        stop.set()
        await fleet_task
        await runner.cleanup()
    return server, ready_data, json.loads(results.read_text())


def test_fleet_records_poll_download_and_first_sample(tmp_path: Path) -> None:
    before = time.time()
    server, ready, results = asyncio.run(simulate(tmp_path))

    assert ready["agents"] == 3
    assert ready["manifests"] == 3
    devices = results["devices"]
    assert set(devices) == {"A-01", "A-02", "B-01"}
    for code in ("A-01", "A-02"):
        starts = [s for s in devices[code]["starts"] if s[2] == EMERGENCY]
        assert starts, code
        key, kind, _eid, at = starts[0]
        assert key == f"emergency:{EMERGENCY}:1"
        assert kind == "emergency"
        heard_at, how = devices[code]["heard"][str(EMERGENCY)]
        assert how == "poll"
        assert before < heard_at <= at  # heard first, then played
    # Outside the targeted commune: the province's file lists it, the device ignores it.
    assert devices["B-01"]["starts"] == []
    assert devices["B-01"]["heard"] == {}
    counters = results["counters"]
    assert counters["downloads"] == 2
    assert counters["download_bytes"] == 2 * len(AUDIO)
    assert counters["errors"] == 0
    assert counters["http_errors"] == 0
    assert counters["requests"] >= 9  # each agent: manifest, alerts file, heartbeat
    assert any(path.startswith("/device-alerts/01.json") for path in server.requests)


def test_active_ids_reads_manifests_and_targeted_notices() -> None:
    notices = [
        {"id": 1, "state": "active", "targets": {"communes": ["00004"], "zones": []}},
        {"id": 2, "state": "active", "targets": {"communes": ["00008"]}},
        {"id": 3, "state": "stopped", "targets": {"communes": ["00004"]}},
        {"id": 4, "state": "active", "targets": {"provinces": ["01"]}},
    ]
    assert _active_ids(notices, frozenset({"00004", "01"})) == [1, 4]
    # A manifest's emergencies[] has no targets: it is already this device's.
    assert _active_ids([{"id": 5, "state": "active"}, {"id": 6, "state": "finished"}], None) == [5]
    assert _active_ids("not a list", None) == []
