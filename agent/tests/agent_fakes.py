"""A tiny in-memory server speaking the device protocol, for unit tests of the agent.

The real server is exercised by the Django tests and the drills; this fake lets the agent's
own behaviour (timing, pre-emption, crash safety, downloads) be checked in virtual time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from email.utils import formatdate
from typing import Any, TypeVar

from ttcs_agent.agent import Agent, AgentConfig
from ttcs_agent.clock import VirtualClock, format_iso
from ttcs_agent.player import NullPlayer
from ttcs_agent.store import MemoryStore, Store
from ttcs_agent.transport import BytesStream, Response, StreamResponse, TransportError

T0 = 1_800_000_000.0  # a fixed "true" start time for every test (2027-01-15)
T = TypeVar("T")


def audio_bytes(label: str, size: int = 10_000) -> bytes:
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


# The audio most tests schedule: two bulletins and an emergency, all on the fake server.
A = audio_bytes("bulletin-a", 20_000)
B = audio_bytes("bulletin-b", 20_000)
E = audio_bytes("emergency", 8_000)


def server_with_audio(clock: VirtualClock) -> FakeServer:
    server = FakeServer(clock)
    for data in (A, B, E):
        server.add_audio(data)
    return server


def sha_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def item(
    key: str,
    start: float,
    duration: float,
    audio: bytes,
    *,
    end: float | None = None,
    kind: str = "bulletin",
    status: str = "planned",
    loop: bool = False,
    emergency: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    sha = sha_of(audio)
    raw: dict[str, Any] = {
        "id": key,
        "kind": kind,
        "title": f"title {key}",
        "priority": "emergency" if kind == "emergency" else "normal",
        "start": format_iso(start),
        "end": format_iso(end if end is not None else start + duration),
        "status": status,
        "offset": 0.0,
        "loop": loop,
        "audio": {
            "sha256": sha,
            "size": len(audio),
            "duration": duration,
            "url": f"/api/device/v1/audio/{sha}.mp3",
        },
    }
    if emergency:
        raw["emergency"] = {"id": emergency[0], "repetition": emergency[1], "of": emergency[2]}
    return raw


def notice(
    emergency_id: int,
    started_at: float,
    audio: bytes,
    *,
    duration: float,
    repeat: int = 1,
    interval: float = 0.0,
    state: str = "active",
    targets: dict[str, list[str]] | None = None,
    stopped_at: float | None = None,
) -> dict[str, Any]:
    sha = sha_of(audio)
    return {
        "id": emergency_id,
        "state": state,
        "title": f"emergency {emergency_id}",
        "started_at": format_iso(started_at),
        "ends_at": None,
        "stopped_at": format_iso(stopped_at) if stopped_at else None,
        "repeat": repeat,
        "interval": interval,
        "audio": {
            "sha256": sha,
            "size": len(audio),
            "duration": duration,
            "url": f"/api/device/v1/audio/{sha}.mp3",
        },
        "targets": targets or {"provinces": [], "communes": ["00070"], "zones": []},
    }


class FakeServer:
    """Implements `Transport` in process. Server time is the virtual clock's true time."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.manifest: dict[str, Any] = {
            "version": 1,
            "items": [],
            "commands": [],
            "emergencies": [],
        }
        self.etag_counter = 1
        self.audio: dict[str, bytes] = {}
        self.alerts: dict[str, Any] | None = None
        self.events: dict[str, dict[str, Any]] = {}
        self.heartbeats: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.down = False
        self.revoked = False
        self.corrupt_next: set[str] = set()  # serve wrong bytes once for these hashes
        self.cut_after: dict[str, int] = {}  # break the next download of a hash after N bytes
        self.ignore_range = False
        self.server_time_offset = 0.0  # for heartbeat answers only (tests of the midpoint)

    # ---- test controls ----------------------------------------------------------------------

    def add_audio(self, data: bytes) -> str:
        self.audio[sha_of(data)] = data
        return sha_of(data)

    def set_items(self, items: list[dict[str, Any]], **extra: Any) -> None:
        self.manifest = {"version": 1, "items": items, "commands": [], "emergencies": [], **extra}
        self.etag_counter += 1

    @property
    def etag(self) -> str:
        return f'"etag-{self.etag_counter}"'

    # ---- Transport --------------------------------------------------------------------------

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"date": formatdate(self.clock.true_time(), usegmt=True), **extra}

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Response:
        await asyncio.sleep(0)
        self.requests.append((method, path, dict(headers or {})))
        if self.down:
            raise TransportError("connection refused (fake)")
        if self.revoked:
            return Response(401, self._headers(), b'{"detail": "revoked"}')
        if path == "/api/device/v1/manifest":
            if (headers or {}).get("If-None-Match") == self.etag:
                return Response(304, self._headers(etag=self.etag))
            return Response(200, self._headers(etag=self.etag), _json(self.manifest))
        if path.startswith("/device-alerts/"):
            if self.alerts is None:
                return Response(404, self._headers(), b'{"detail": "none"}')
            return Response(200, self._headers(etag='"alerts"'), _json(self.alerts))
        if path == "/api/device/v1/heartbeat":
            self.heartbeats.append(json_body)
            answer = {
                "server_time": format_iso(self.clock.true_time() + self.server_time_offset),
                "manifest_etag": self.etag,
                "poll_interval": self.manifest.get("poll_interval", 60),
            }
            return Response(200, self._headers(), _json(answer))
        if path == "/api/device/v1/playlog":
            accepted = duplicates = 0
            for event in json_body["events"]:
                if event["event_id"] in self.events:
                    duplicates += 1
                else:
                    self.events[event["event_id"]] = event
                    accepted += 1
            body = {"accepted": accepted, "duplicates": duplicates, "rejected": []}
            return Response(200, self._headers(), _json(body))
        return Response(404, self._headers(), b'{"detail": "not found"}')

    @asynccontextmanager
    async def _stream(self, path: str, headers: dict[str, str]) -> AsyncIterator[StreamResponse]:
        await asyncio.sleep(0)
        self.requests.append(("GET", path, dict(headers)))
        if self.down:
            raise TransportError("connection refused (fake)")
        sha = path.rsplit("/", 1)[-1].removesuffix(".mp3")
        data = self.audio.get(sha)
        if data is None:
            yield BytesStream(404, self._headers())
            return
        if sha in self.corrupt_next:
            self.corrupt_next.discard(sha)
            data = bytes(b ^ 0xFF for b in data)
        status, body = 200, data
        range_header = headers.get("Range")
        if range_header and not self.ignore_range:
            first = int(range_header.removeprefix("bytes=").split("-")[0])
            status, body = 206, data[first:]
        limit = self.cut_after.pop(sha, None)
        yield _CuttingStream(status, self._headers(), body, chunk_size=1000, limit=limit)

    def stream(self, path: str, *, headers: dict[str, str] | None = None) -> Any:
        return self._stream(path, dict(headers or {}))


class _CuttingStream(BytesStream):
    def __init__(
        self, status: int, headers: dict[str, str], body: bytes, chunk_size: int, limit: int | None
    ):
        super().__init__(status, headers, body, chunk_size)
        self.limit = limit

    async def chunks(self) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in super().chunks():
            if self.limit is not None and sent + len(chunk) > self.limit:
                raise TransportError("connection reset (fake)")
            sent += len(chunk)
            await asyncio.sleep(0)
            yield chunk


def _json(data: Any) -> bytes:
    import json

    return json.dumps(data).encode()


DEVICE = {
    "device": "HK-LOA-01",
    "kind": "cluster",
    "commune": "00070",
    "zone": "00070.001",
    "province": "01",
    "topics": ["ttcs/devices/HK-LOA-01/events", "ttcs/provinces/01/events"],
}


def make_agent(
    clock: VirtualClock,
    server: FakeServer,
    store: Store | None = None,
    **config: Any,
) -> tuple[Agent, NullPlayer, Store]:
    store = store if store is not None else MemoryStore()
    if store.load_json("device") is None:
        store.save_json("device", DEVICE)
    player = NullPlayer(clock)
    settings: dict[str, Any] = {
        "server_url": "http://fake",
        "state_dir": "-",
        "poll_interval": 10.0,
    }
    settings.update(config)
    import random

    agent = Agent(
        AgentConfig(**settings),
        store=store,
        transport=server,
        clock=clock,
        player=player,
        rng=random.Random(1),
    )
    return agent, player, store


def run(coroutine_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coroutine_factory())


class Running:
    """`async with Running(agent, clock): ...` runs the agent, then pulls the plug (cancel)."""

    def __init__(self, agent: Agent, clock: VirtualClock) -> None:
        self.agent = agent
        self.clock = clock
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.agent.run())
        await self.clock.settle()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # surface a crash of run() itself
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task
        await self.clock.settle()
