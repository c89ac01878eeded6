"""A simulated fleet: thousands of real agents in one asyncio process, against a real server.

`ttcs-agent-sim --server URL --fleet FLEET.json [--mqtt URL] --ready PATH --results PATH`

Each device of the fleet file (`[{"credential", "device", "commune", "zone", "province",
"topics"}, ...]`, as an enrolment would have stored it) is a real `Agent` with a `MemoryStore`
(audio is downloaded and checked, its bytes dropped), a `NullPlayer` and an `HttpTransport`.
All transports share ONE aiohttp session for polls and downloads and one for heartbeats and play
logs, whose connectors bound the open connections (thousands of agents must not open thousands
of sockets to the web server); with `--mqtt` every agent has its own broker connection and
subscription, because fanning a message out to every device is exactly the broker's work being
measured.

Agents start at `--rate` per second so neither the server nor the broker is stormed. Once every
agent holds its first manifest (and, with MQTT, its subscription) the `--ready` file is written.
`--progress` is rewritten twice a second with counts a driver can wait on. On SIGTERM/SIGINT or
after `--duration` seconds the `--results` JSON is written: per device, every player start
`[item key, kind, emergency id, clock time of the first sample]` and, per emergency, when the
device first heard of it `[clock time, "push" | "poll"]`; plus fleet-wide counters.

The recording is done around the agent, not inside it: a transport wrapper reads the alerts
files and manifests the agent receives, `notify` is wrapped to see pushes, and the player's
`on_start` hook stamps starts. The agent's code runs unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import resource
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .agent import Agent, AgentConfig
from .clock import SystemClock
from .player import NullPlayer
from .schedule import PlayItem
from .store import MemoryStore
from .transport import HttpTransport, Response, StreamResponse, Transport, TransportError

log = logging.getLogger("ttcs_agent.simulator")

DEFAULT_RATE = 500.0
DEFAULT_CONNECTIONS = 256  # polls and downloads
DEFAULT_CONTROL_CONNECTIONS = 32  # heartbeats and play logs
PROGRESS_EVERY = 0.5
FREEZE_EVERY = 500  # agents built between two gc.freeze() calls
ALERTS_PREFIX = "/device-alerts/"


@dataclass
class Counters:
    """Fleet-wide, one object: per-agent memory stays a few small fields."""

    requests: int = 0
    errors: int = 0  # network failures (TransportError)
    http_errors: int = 0  # 5xx, and 4xx other than an absent alerts file
    downloads: int = 0
    download_bytes: int = 0
    bytes: int = 0  # response bodies of plain requests
    pushes: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(slots=True)
class Device:
    """What the simulator remembers of one device (small: 10,000 of them)."""

    code: str
    units: frozenset[str]  # its zone, commune and province codes: what notices target
    starts: list[tuple[str, str, int | None, float]] = field(default_factory=list)
    heard: dict[int, tuple[float, str]] = field(default_factory=dict)
    has_manifest: bool = False
    subscribed: bool = False

    def hear(self, emergency_id: int, how: str) -> None:
        if emergency_id not in self.heard:
            self.heard[emergency_id] = (time.time(), how)


class Fleet:
    """Every simulated device's record and the fleet's counters."""

    def __init__(self) -> None:
        self.devices: list[Device] = []
        self.counters = Counters()
        self.emergency_starts: dict[int, int] = {}

    def started(self, device: Device, item: PlayItem, at: float) -> None:
        eid = item.emergency_id
        if eid is not None and all(s[2] != eid for s in device.starts):
            self.emergency_starts[eid] = self.emergency_starts.get(eid, 0) + 1
        device.starts.append((item.key, item.kind, eid, at))

    def progress(self) -> dict[str, Any]:
        return {
            "agents": len(self.devices),
            "manifests": sum(d.has_manifest for d in self.devices),
            "subscribed": sum(d.subscribed for d in self.devices),
            "emergency_starts": {str(k): v for k, v in self.emergency_starts.items()},
            "counters": self.counters.as_json(),
        }

    def results(self) -> dict[str, Any]:
        return {
            "written_at": time.time(),
            "agents": len(self.devices),
            "counters": self.counters.as_json(),
            "devices": {
                d.code: {
                    "starts": [list(s) for s in d.starts],
                    "heard": {str(k): list(v) for k, v in d.heard.items()},
                }
                for d in self.devices
            },
        }


def _active_ids(emergencies: Any, units: frozenset[str] | None) -> list[int]:
    """Ids of active emergencies in a manifest's `emergencies[]` or an alerts file's notices
    (for notices, only those whose targets name one of `units`)."""
    found = []
    for entry in emergencies if isinstance(emergencies, list) else []:
        if not isinstance(entry, dict) or entry.get("state") != "active":
            continue
        targets = entry.get("targets")
        if units is not None and isinstance(targets, dict):
            codes = {c for values in targets.values() if isinstance(values, list) for c in values}
            if not codes & units:
                continue
        if isinstance(entry.get("id"), int):
            found.append(entry["id"])
    return found


class RecordingTransport:
    """Wraps a transport: counts traffic and notes when a poll first shows an emergency."""

    def __init__(
        self,
        inner: Transport,
        device: Device,
        counters: Counters,
        control: Transport | None = None,
    ) -> None:
        self.inner = inner
        self.control = control or inner  # for POSTs (heartbeats, play logs): see build_agent
        self.device = device
        self.counters = counters

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Response:
        self.counters.requests += 1
        try:
            via = self.inner if method in ("GET", "HEAD") else self.control
            response = await via.request(method, path, headers=headers, json_body=json_body)
        except TransportError:
            self.counters.errors += 1
            raise
        self.counters.bytes += len(response.body)
        alerts = path.startswith(ALERTS_PREFIX)
        if response.status >= 500 or (
            response.status >= 400 and not (alerts and response.status == 404)
        ):
            self.counters.http_errors += 1
        if method == "GET" and response.status == 200:
            self._look(path, response, alerts)
        return response

    def _look(self, path: str, response: Response, alerts: bool) -> None:
        try:
            data = response.json()
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if alerts:
            ids = _active_ids(data.get("emergencies"), self.device.units)
        else:
            self.device.has_manifest = True
            ids = _active_ids(data.get("emergencies"), None)
        for eid in ids:
            self.device.hear(eid, "poll")

    def stream(
        self, path: str, *, headers: dict[str, str] | None = None
    ) -> AbstractAsyncContextManager[StreamResponse]:
        return self._stream(path, headers)

    @asynccontextmanager
    async def _stream(
        self, path: str, headers: dict[str, str] | None
    ) -> AsyncIterator[StreamResponse]:
        self.counters.downloads += 1
        try:
            async with self.inner.stream(path, headers=headers) as response:
                yield _CountingStream(response, self.counters)
        except TransportError:
            self.counters.errors += 1
            raise


class _CountingStream:
    def __init__(self, inner: StreamResponse, counters: Counters) -> None:
        self.inner = inner
        self.status = inner.status
        self.headers = inner.headers
        self.counters = counters

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner.chunks():
            self.counters.download_bytes += len(chunk)
            yield chunk


class _WatchedClient:
    """An MQTT client (aiomqtt-like) that marks its device subscribed once every topic is."""

    def __init__(self, client: Any, device: Device, topics: int) -> None:
        self.client = client
        self.device = device
        self.topics = topics
        self.subscribed = 0

    async def __aenter__(self) -> _WatchedClient:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        self.device.subscribed = False
        return await self.client.__aexit__(*exc)

    async def subscribe(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        result = await self.client.subscribe(topic, *args, **kwargs)
        self.subscribed += 1
        if self.subscribed >= self.topics:
            self.device.subscribed = True
        return result

    @property
    def messages(self) -> Any:
        return self.client.messages


class SimulatedAgent(Agent):
    """The real agent, with a note taken whenever a push names an emergency."""

    def __init__(self, *args: Any, record: Device, counters: Counters, **kwargs: Any) -> None:
        self.record = record
        self.counters = counters
        super().__init__(*args, **kwargs)

    def notify(self, message: Any) -> None:
        self.counters.pushes += 1
        eid = message.get("emergency") if isinstance(message, dict) else None
        is_start = message.get("type") == "emergency" and message.get("event") == "start"
        if is_start and isinstance(eid, int):
            self.record.hear(eid, "push")
        super().notify(message)

    def watched_mqtt_client(self) -> _WatchedClient:
        return _WatchedClient(self._default_mqtt_factory(), self.record, len(self.topics))


@dataclass
class Options:
    server: str
    fleet: list[dict[str, Any]]
    mqtt: str | None = None
    rate: float = DEFAULT_RATE
    connections: int = DEFAULT_CONNECTIONS
    control_connections: int = DEFAULT_CONTROL_CONNECTIONS
    ready: Path | None = None
    progress: Path | None = None
    results: Path | None = None
    duration: float | None = None
    heartbeat_interval: float = 60.0


def _write(path: Path | None, data: Any) -> None:
    """Atomically: a driver polling the file never reads half of it."""
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def build_agent(
    entry: dict[str, Any],
    options: Options,
    sessions: tuple[aiohttp.ClientSession, aiohttp.ClientSession],
    fleet: Fleet,
) -> SimulatedAgent:
    """One device as its enrolment left it: the device record in the store, the credential in
    the transport.

    `sessions` = (polls and downloads, heartbeats and play logs). A real device has its own
    connection, so a heartbeat that waits on the server's database never delays another
    device's poll; with one shared pool it would (every pooled connection busy with slow
    POSTs). Two pools keep that artefact out while still bounding the sockets."""
    units = frozenset(
        str(c) for c in (entry.get("zone"), entry.get("commune"), entry.get("province")) if c
    )
    record = Device(code=str(entry["device"]), units=units)
    fleet.devices.append(record)
    store = MemoryStore()
    topics = list(entry.get("topics") or [])
    store.save_json(
        "device",
        {k: entry.get(k) for k in ("device", "commune", "zone", "province")} | {"topics": topics},
    )
    clock = SystemClock()
    transport = RecordingTransport(
        HttpTransport(options.server, entry["credential"], session=sessions[0]),
        record,
        fleet.counters,
        control=HttpTransport(options.server, entry["credential"], session=sessions[1]),
    )
    config = AgentConfig(
        server_url=options.server,
        state_dir=tempfile.gettempdir(),  # unused: everything is in the MemoryStore
        player="null",
        mqtt_url=options.mqtt,
        heartbeat_interval=options.heartbeat_interval,
    )
    agent = SimulatedAgent(
        config,
        store=store,
        transport=transport,
        clock=clock,
        player=NullPlayer(clock, on_start=lambda item, at: fleet.started(record, item, at)),
        topics=topics,
        record=record,
        counters=fleet.counters,
    )
    if options.mqtt:
        agent._mqtt_factory = agent.watched_mqtt_client
    return agent


def _all_ready(fleet: Fleet, total: int, mqtt: bool) -> bool:
    if len(fleet.devices) < total:
        return False
    return all(d.has_manifest and (d.subscribed or not mqtt) for d in fleet.devices)


async def run_fleet(options: Options, stop: asyncio.Event | None = None) -> Fleet:
    """Run every agent until `stop` is set (or `duration` passes); returns the records.

    The agents are long-lived objects by the million: a full collection of Python's cyclic
    garbage collector over them stalled the event loop for seconds at 10,000 agents (no
    request sent, every timer late). They are frozen (`gc.freeze`) as they are built, so
    collections only look at the short-lived objects of requests and messages.
    """
    gc.set_threshold(50_000, 20, 20)
    stop = stop or asyncio.Event()
    fleet = Fleet()
    connector = aiohttp.TCPConnector(limit=options.connections, keepalive_timeout=60)
    control = aiohttp.TCPConnector(limit=options.control_connections, keepalive_timeout=60)
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        aiohttp.ClientSession(connector=control) as control_session,
    ):
        reporter = asyncio.create_task(_report(fleet, options, stop, len(options.fleet)))
        try:
            for n, entry in enumerate(options.fleet):
                if stop.is_set():
                    break
                # Staggered: agent n starts at n / rate seconds.
                delay = started + n / options.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                agent = build_agent(entry, options, (session, control_session), fleet)
                tasks.append(asyncio.create_task(agent.run(), name=f"agent {entry['device']}"))
                if n % FREEZE_EVERY == FREEZE_EVERY - 1:
                    gc.freeze()
            gc.freeze()
            log.info("%d agents started in %.1f s", len(tasks), time.monotonic() - started)
            if options.duration is not None:
                remaining = started + options.duration - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, remaining))
            else:
                await stop.wait()
        finally:
            stop.set()
            _write(options.results, fleet.results())
            await reporter
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return fleet


async def _report(fleet: Fleet, options: Options, stop: asyncio.Event, total: int) -> None:
    """The progress file, and the ready file once the whole fleet is up."""
    ready = False
    while not stop.is_set():
        _write(options.progress, fleet.progress())
        if not ready and _all_ready(fleet, total, bool(options.mqtt)):
            ready = True
            _write(options.ready, fleet.progress() | {"ready_at": time.time()})
            log.info("ready: %d agents with a manifest", total)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PROGRESS_EVERY)
    _write(options.progress, fleet.progress())


def raise_open_files_limit() -> int:
    """Thousands of MQTT connections need thousands of descriptors: soft limit up to hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ttcs-agent-sim", description="Run a simulated fleet of ttcs agents in one process."
    )
    parser.add_argument("--server", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--fleet", required=True, type=Path, help="fleet JSON file")
    parser.add_argument("--mqtt", help="broker URL, e.g. mqtt://127.0.0.1:1883 (default: none)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="agents started a second")
    parser.add_argument(
        "--connections", type=int, default=DEFAULT_CONNECTIONS, help="HTTP connections, shared"
    )
    parser.add_argument(
        "--control-connections",
        type=int,
        default=DEFAULT_CONTROL_CONNECTIONS,
        help="HTTP connections for heartbeats and play logs, shared",
    )
    parser.add_argument("--limit", type=int, help="only the first N devices of the fleet")
    parser.add_argument("--ready", type=Path, help="written once every agent has a manifest")
    parser.add_argument("--progress", type=Path, help="counts, rewritten twice a second")
    parser.add_argument("--results", type=Path, help="results JSON, written at the end")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--heartbeat-interval", type=float, default=60.0)
    parser.add_argument("--profile", type=Path, help="write cProfile statistics to this file")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def _use_uvloop() -> None:
    """uvloop when installed (a development dependency, not the agent's): with ten thousand
    agents the load generator's own event loop is the bottleneck on a small machine, and uvloop
    runs the same coroutines with a fraction of asyncio's per-callback cost."""
    try:
        import uvloop
    except ImportError:
        log.info("uvloop is not installed: the standard asyncio event loop is used")
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    fleet = json.loads(args.fleet.read_text())
    if args.limit is not None:
        fleet = fleet[: args.limit]
    limit = raise_open_files_limit()
    if args.mqtt and limit < len(fleet) + args.connections + 100:
        log.warning("open files limit %d is low for %d MQTT connections", limit, len(fleet))
    options = Options(
        server=args.server,
        fleet=fleet,
        mqtt=args.mqtt,
        rate=args.rate,
        connections=args.connections,
        control_connections=args.control_connections,
        ready=args.ready,
        progress=args.progress,
        results=args.results,
        duration=args.duration,
        heartbeat_interval=args.heartbeat_interval,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_fleet(options, stop)

    _use_uvloop()
    if args.profile is None:
        asyncio.run(run())
        return 0
    import cProfile

    with cProfile.Profile() as profile:  # where the simulator's own CPU goes
        asyncio.run(run())
    profile.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
