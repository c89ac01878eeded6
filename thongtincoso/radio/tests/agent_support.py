"""Helpers for running the reference agent (`ttcs_agent`) against the real server in tests.

- `DjangoTransport`: the agent's `Transport` answered in-process by the real Django views
  (django.test.Client), with the server's clock moved to the drill's virtual true time for each
  call (time-machine), and a `Date` header as a real server adds.
- `FaultyTransport`: wraps any transport and injects faults: down, flapping (calls fail before
  they reach the server or after it answered, downloads are cut midway), corrupt audio bodies.
- Server fixtures: audio assets with real bytes in storage, a station with short airings, an
  enrolled device, a published bulletin to start an emergency with.
- `e2e_setup()`: the same world in a real database, run in a subprocess by the end-to-end test.

Everything here runs in the test's thread: the Django calls are synchronous inside the agent's
event loop (the drills set DJANGO_ALLOW_ASYNC_UNSAFE), which is what makes the drills
deterministic under a `VirtualClock`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections
from django.test import Client
from ttcs_agent.transport import BytesStream, Response, StreamResponse, TransportError

if TYPE_CHECKING:
    from ttcs_agent.clock import VirtualClock

    from thongtincoso.radio.models import Airing, Device, Station
    from thongtincoso.speech.models import AudioAsset
    from thongtincoso.units.models import Unit

# Small enough to keep drills fast, large enough to cut a download in the middle.
STREAM_CHUNK = 8 * 1024
AUDIO_URL_PREFIX = "/api/device/v1/audio/"
T = TypeVar("T")


def _epoch_to_datetime(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def run_with_test_database(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(coroutine) on the test's own database connection.

    Django keeps connections per asyncio context, so the event loop would open a second
    connection: it cannot see the test's uncommitted rows. The loop's context is given the
    test's connections.
    """
    outer = {alias: connections[alias] for alias in connections}

    async def main() -> T:
        for alias, connection in outer.items():
            connections[alias] = connection
        return await coroutine

    return asyncio.run(main())


# --- The real server, in-process ----------------------------------------------------------------


@dataclass
class Call:
    """One request as the server answered it."""

    true_time: float
    method: str
    path: str
    status: int
    body: Any = None  # the JSON the agent sent, if any


class DjangoTransport:
    """The agent's Transport answered by the real Django views, at the virtual clock's time.

    `traveller` is a started `time_machine.travel(..., tick=False)`: each call moves it to the
    clock's true time first, so `timezone.now()` in the views (heartbeat `server_time`, the play
    log's "future" check, emergency starts) follows the drill's virtual time.

    The test client does not pass through config.wsgi's fast path (manifests, alerts, audio
    answered without Django): the Django views answer the same, which fastpath's own tests check.
    """

    def __init__(self, clock: VirtualClock, traveller: Any, credential: str | None = None) -> None:
        self.clock = clock
        self.traveller = traveller
        self.credential = credential
        self.client = Client()
        self.calls: list[Call] = []

    def server_now(self) -> None:
        """Move the server's clock to the drill's true time."""
        self.traveller.move_to(_epoch_to_datetime(self.clock.true_time()))

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        return headers

    def _answer_headers(self, response: Any) -> dict[str, str]:
        headers = {name.lower(): value for name, value in response.items()}
        headers["date"] = formatdate(self.clock.true_time(), usegmt=True)
        return headers

    def _send(self, method: str, path: str, headers: dict[str, str] | None, json_body: Any) -> Any:
        self.server_now()
        body = "" if json_body is None else json.dumps(json_body)
        response = self.client.generic(
            method,
            path,
            data=body,
            content_type="application/json" if body else "application/octet-stream",
            headers=self._headers(headers),
        )
        call = Call(self.clock.true_time(), method, path, response.status_code, json_body)
        self.calls.append(call)
        return response

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Response:
        response = self._send(method, path, headers, json_body)
        return Response(response.status_code, self._answer_headers(response), _body_of(response))

    @asynccontextmanager
    async def _stream(
        self, path: str, headers: dict[str, str] | None
    ) -> AsyncIterator[BytesStream]:
        response = self._send("GET", path, headers, None)
        yield BytesStream(
            response.status_code,
            self._answer_headers(response),
            _body_of(response),
            chunk_size=STREAM_CHUNK,
        )

    def stream(
        self, path: str, *, headers: dict[str, str] | None = None
    ) -> AbstractAsyncContextManager[StreamResponse]:
        return self._stream(path, headers)


def _body_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


# --- Fault injection ----------------------------------------------------------------------------


@dataclass
class Faults:
    """What is wrong with the network right now; a drill changes these as it goes."""

    down: bool = False
    flap_rate: float = 0.0  # fraction of calls that fail (half before, half after the server)
    corrupt_downloads: int = 0  # this many audio downloads get a flipped byte
    blocked: tuple[str, ...] = ()  # paths starting with these fail (one endpoint unreachable)
    counts: Counter[str] = field(default_factory=Counter)


class _CutStream:
    """A download that breaks after `cut_after` chunks, or carries one flipped byte."""

    def __init__(self, inner: StreamResponse, cut_after: int | None, corrupt: bool) -> None:
        self.status = inner.status
        self.headers = inner.headers
        self._inner = inner
        self._cut_after = cut_after
        self._corrupt = corrupt

    async def chunks(self) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in self._inner.chunks():
            if self._cut_after is not None and sent >= self._cut_after:
                raise TransportError("drill: connection reset in the middle of a download")
            if self._corrupt and sent == 0 and chunk:
                chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
            sent += 1
            yield chunk


class FaultyTransport:
    """Wraps a transport and breaks it as `faults` says, with a seeded random generator so a
    drill fails the same way every run."""

    def __init__(self, inner: Any, faults: Faults | None = None, *, seed: int = 6) -> None:
        self.inner = inner
        self.faults = faults or Faults()
        self.random = random.Random(seed)

    def _fails(self) -> bool:
        return self.faults.flap_rate > 0 and self.random.random() < self.faults.flap_rate

    def _refuse(self, method: str, path: str) -> None:
        if self.faults.down:
            self.faults.counts["down"] += 1
            raise TransportError(f"drill: server down ({method} {path})")
        if path.startswith(self.faults.blocked):
            self.faults.counts["blocked"] += 1
            raise TransportError(f"drill: {method} {path} blocked")

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Response:
        self._refuse(method, path)
        if self._fails():
            if self.random.random() < 0.5:
                self.faults.counts["lost request"] += 1
                raise TransportError(f"drill: {method} {path} never arrived")
            # The server did the work but the answer is lost: the agent must retry safely.
            await self.inner.request(method, path, headers=headers, json_body=json_body)
            self.faults.counts["lost answer"] += 1
            raise TransportError(f"drill: the answer to {method} {path} was lost")
        return await self.inner.request(method, path, headers=headers, json_body=json_body)

    @asynccontextmanager
    async def _stream(self, path: str, headers: dict[str, str] | None) -> AsyncIterator[Any]:
        self._refuse("GET", path)
        if self._fails():
            self.faults.counts["lost request"] += 1
            raise TransportError(f"drill: GET {path} never arrived")
        audio = path.startswith(AUDIO_URL_PREFIX)
        cut_after = self.random.randint(1, 3) if audio and self._fails() else None
        corrupt = False
        if audio and self.faults.corrupt_downloads > 0 and cut_after is None:
            self.faults.corrupt_downloads -= 1
            corrupt = True
        async with self.inner.stream(path, headers=headers) as response:
            if response.status not in (200, 206):
                cut_after, corrupt = None, False
            if cut_after is not None:
                self.faults.counts["cut download"] += 1
            if corrupt:
                self.faults.counts["corrupt download"] += 1
            yield _CutStream(response, cut_after, corrupt)

    def stream(
        self, path: str, *, headers: dict[str, str] | None = None
    ) -> AbstractAsyncContextManager[StreamResponse]:
        return self._stream(path, headers)


# --- Server-side world --------------------------------------------------------------------------


def audio_bytes(label: str, size: int) -> bytes:
    """Deterministic bytes standing for an MP3 (the null player never decodes them)."""
    seed = hashlib.sha256(label.encode()).digest()
    out = bytearray()
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out.extend(block)
    return bytes(out[:size])


def real_asset(label: str, duration: float, size: int = 40 * 1024) -> AudioAsset:
    """An AudioAsset whose file really is in storage, named by the SHA-256 of its bytes."""
    from thongtincoso.speech.models import AudioAsset, AudioSource

    data = audio_bytes(label, size)
    sha = hashlib.sha256(data).hexdigest()
    name = f"audio/{sha[:2]}/{sha}.mp3"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(data))
    asset, _ = AudioAsset.objects.get_or_create(
        sha256=sha,
        defaults={
            "mp3": name,
            "mp3_size": size,
            "opus_sha256": hashlib.sha256(b"opus:" + data).hexdigest(),
            "opus": f"audio/{sha[:2]}/{sha}.opus",
            "opus_size": size // 2,
            "duration": duration,
            "integrated_lufs": -16.0,
            "true_peak_dbtp": -1.5,
            "target_lufs": -16.0,
            "sample_rate": 24000,
            "source": AudioSource.SPEECH,
        },
    )
    return asset


def station_of(commune: Unit) -> Station:
    from thongtincoso.radio.models import Station

    return Station.objects.get_or_create(unit=commune, defaults={"name": f"Đài {commune.name}"})[0]


def add_airing(
    commune: Unit, key: str, start: dt.datetime, asset: AudioAsset, *, title: str = "Bản tin"
) -> Airing:
    """One planned item playing `asset` from `start` (as the planner would write it)."""
    from thongtincoso.radio.models import Airing

    end = start + dt.timedelta(seconds=asset.duration)
    return Airing.objects.create(
        station=station_of(commune),
        key=key,
        occurrence_start=start,
        occurrence_end=start + dt.timedelta(minutes=10),
        starts_at=start,
        ends_at=end,
        kind="bulletin",
        title=title,
        priority="normal",
        audio_sha256=asset.sha256,
        audio_size=asset.mp3_size,
        audio_duration=asset.duration,
        zone_codes=[],
    )


# Item lengths cycle through these (seconds): short items, many plays per drill hour.
DRILL_DURATIONS = (20.0, 30.0, 45.0, 60.0)


def drill_schedule(
    commune: Unit, start: dt.datetime, *, every: float = 300.0, count: int = 12, first: float = 120
) -> list[Airing]:
    """`count` airings of 20–60 s, one every `every` seconds from `start + first`."""
    airings = []
    for n in range(count):
        duration = DRILL_DURATIONS[n % len(DRILL_DURATIONS)]
        asset = real_asset(f"drill-{n}", duration)
        at = start + dt.timedelta(seconds=first + n * every)
        airings.append(add_airing(commune, f"drill:{n}", at, asset, title=f"Bản tin {n}"))
    return airings


def refresh_manifests(*devices: Device) -> None:
    """Render the manifests now, as a schedule change does."""
    from thongtincoso.radio.manifests import refresh

    refresh(list(devices))


def emergency_bulletin(unit: Unit, author: Any, approver: Any, asset: AudioAsset) -> Any:
    """A published emergency bulletin whose fresh programme audio is `asset` (no speech
    rendering)."""
    from thongtincoso.bulletins.models import Priority
    from thongtincoso.bulletins.tests.factories import published
    from thongtincoso.speech.models import AudioSource, BulletinAudio
    from thongtincoso.speech.services import text_sha256

    bulletin = published(
        author, approver, unit, title="Cảnh báo lũ quét", priority=Priority.EMERGENCY
    )
    BulletinAudio.objects.update_or_create(
        bulletin=bulletin,
        defaults={
            "asset": asset,
            "source": AudioSource.SPEECH,
            "text_sha256": text_sha256(bulletin.reading_text),
        },
    )
    return bulletin


def play_counts(device: Device) -> Counter[str]:
    """How many PlayEvent rows the server holds per item key for this device."""
    from thongtincoso.radio.models import PlayEvent

    return Counter(PlayEvent.objects.filter(device=device).values_list("item_key", flat=True))


# --- The end-to-end test's world, built in a subprocess -----------------------------------------

E2E_PASSWORD = "ttcs-e2e-password-2026"


def e2e_setup(devices: int, prefix: str) -> dict[str, Any]:
    """Migrate the (empty, file) database and build: Hà Nội / Phường Hoàn Kiếm, an operator,
    `devices` loudspeakers named `<prefix>-NN` with enrolment codes, and a published emergency
    bulletin with audio in MEDIA_ROOT. Runs with DJANGO_SETTINGS_MODULE set, in a process of
    its own. (Publishing queues a speech render in Huey: the worker may replace that audio, so
    the test reads the emergency's audio hash from the database.)"""
    from django.core.management import call_command

    from thongtincoso.accounts.roles import Role
    from thongtincoso.accounts.services import role_assign, user_create
    from thongtincoso.radio.devices import device_create
    from thongtincoso.units.models import Unit, UnitKind

    call_command("migrate", verbosity=0, interactive=False)
    units: dict[str, Unit] = {}
    for code, name, kind, parent in (
        ("VN", "Việt Nam", UnitKind.NATION, None),
        ("01", "Thành phố Hà Nội", UnitKind.PROVINCE, "VN"),
        ("00070", "Phường Hoàn Kiếm", UnitKind.COMMUNE, "01"),
    ):
        unit = Unit(
            code=code,
            name=name,
            kind=kind,
            type_name=name.split()[0],
            parent=units.get(parent or ""),
            valid_from=dt.date(2025, 7, 1),
        )
        unit.save()
        units[code] = unit
    commune = units["00070"]
    people = {}
    for username, role in (
        ("e2e.operator", Role.BROADCAST_OPERATOR),
        ("e2e.editor", Role.EDITOR),
        ("e2e.approver", Role.APPROVER),
    ):
        user = user_create(
            actor=None, username=username, unit=commune, password=E2E_PASSWORD, full_name=username
        )
        role_assign(actor=None, user=user, role=role, unit=commune, covers_descendants=True)
        people[username] = user
    codes = {}
    for n in range(devices):
        code = f"{prefix}-{n:02d}"
        codes[code] = device_create(actor=None, commune=commune, kind="cluster", code=code)[1]
    asset = real_asset("e2e-emergency", 2.0)
    bulletin = emergency_bulletin(commune, people["e2e.editor"], people["e2e.approver"], asset)
    return {
        "codes": codes,
        "bulletin": bulletin.pk,
        "operator": "e2e.operator",
        "password": E2E_PASSWORD,
        "audio_sha256": asset.sha256,
        "commune": commune.code,
    }


if __name__ == "__main__":
    import sys

    import django

    django.setup()
    print(json.dumps(e2e_setup(int(sys.argv[1]), sys.argv[2])))
