"""Fault drills: the reference agent against the real server, an hour of virtual time each.

The agent (`ttcs_agent.Agent`) runs under a `VirtualClock` with a real `DiskStore` in a temp
directory and a `NullPlayer`; the server is the real Django app (views, database, manifests,
ingest) reached in-process through `DjangoTransport`, whose clock follows the virtual one, and
`FaultyTransport` breaks the network as each drill says. Every drill checks the same promises:

- an item whose audio was on the device at its start plays on time (within 0.5 s, true time);
- every play reaches the server exactly once (PlayEvent rows per item = the player's starts);
- the agent recovers by itself once the fault is gone.

docs/agent.md describes the drills; agent_support.py holds the transport and the fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import hashlib
import json
import random
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from ttcs_agent.agent import Agent, AgentConfig
from ttcs_agent.clock import VirtualClock
from ttcs_agent.player import NullPlayer
from ttcs_agent.store import DiskStore

from thongtincoso.accounts.roles import Role
from thongtincoso.radio import emergencies, push
from thongtincoso.radio.models import Airing, Device, EmergencySource, PlayEvent
from thongtincoso.radio.tests.agent_support import (
    DjangoTransport,
    Faults,
    FaultyTransport,
    add_airing,
    drill_schedule,
    emergency_bulletin,
    play_counts,
    real_asset,
    refresh_manifests,
    run_with_test_database,
)
from thongtincoso.radio.tests.test_devices import (  # noqa: F401  (fixtures)
    _english,
    make_device,
    manifest_root,
)
from thongtincoso.speech.models import AudioAsset

pytestmark = pytest.mark.usefixtures("manifest_root")

ON_TIME_S = 0.5
MANIFEST = "/api/device/v1/manifest"
ALERTS = "/device-alerts/"
HOUR = 3600.0
SETTLE_S = 180.0  # after the drill: faults gone, time for the queue to drain


def drill_start() -> dt.datetime:
    """09:00 local on a fixed day: the hour of the drill is inside one manifest window."""
    return dt.datetime(2026, 12, 1, 9, 0, tzinfo=timezone.get_current_timezone())


# --- The world: a commune, its station's hour of short items, one enrolled device -----------------


@dataclass
class World:
    traveller: Any
    t0: float  # the drill's start, epoch seconds (true time)
    device: Device
    answer: dict[str, Any]  # the enrolment answer (credential, topics, ...)
    airings: list[Airing]
    tree: Any
    make_user: Any

    @property
    def credential(self) -> str:
        return str(self.answer["credential"])


@pytest.fixture
def world(tree: Any, make_user: Any, settings: Any, monkeypatch: Any) -> Iterator[World]:
    # The agent's event loop calls the Django views synchronously, in this thread, inside the
    # test's transaction: that is deliberate (deterministic virtual time), so allow it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MQTT_URL = ""  # no broker: the drills deliver pushes themselves, or not at all
    start = drill_start()
    with time_machine.travel(start - dt.timedelta(minutes=5), tick=False) as traveller:
        device, code = make_device(tree.hoankiem, "HK-DRILL", zone=tree.zone)
        answer = Client().post(
            "/api/device/v1/enrol", {"enrolment_code": code}, content_type="application/json"
        )
        assert answer.status_code == 201, answer.content
        airings = drill_schedule(tree.hoankiem, start)
        device.refresh_from_db()
        refresh_manifests(device)
        yield World(traveller, start.timestamp(), device, answer.json(), airings, tree, make_user)


def seed_enrolment(store: DiskStore, answer: dict[str, Any]) -> None:
    """What `ttcs-agent enrol` leaves in the state directory (ttcs_agent.cli.enrol)."""
    from ttcs_agent.agent import province_from_topics

    topics = list(answer["mqtt_topics"])
    store.save_json("credential", {"credential": answer["credential"]})
    store.save_json(
        "device",
        {
            "server_url": "http://testserver",
            "device": answer["device"],
            "kind": answer["kind"],
            "commune": answer["commune"],
            "zone": answer["zone"],
            "province": province_from_topics(topics),
            "manifest_url": answer["manifest_url"],
            "poll_interval": answer["poll_interval"],
            "topics": topics,
        },
    )
    store.save_json("enrolment", {"needs": False})


class FullDiskStore(DiskStore):
    """A DiskStore whose disk can be made full: every file write fails with ENOSPC and SQLite
    says "database or disk is full", as on a device whose SD card filled up."""

    full = False

    def _write(self, handle: Any, data: bytes) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device (drill)")
        super()._write(handle, data)

    def _apply(self, kind: str, event: dict[str, Any] | None) -> None:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        super()._apply(kind, event)

    def play_alive(self, at: float) -> None:
        if not self.full:
            super().play_alive(at)


@dataclass
class Start:
    key: str
    true_time: float
    offset: float


@dataclass
class Drill:
    """One agent on one state directory, its clock, its (faulty) network, what it played."""

    world: World
    state_dir: Path
    skew: float = 0.0
    store_class: type[DiskStore] = DiskStore
    seed: int = 6
    poll_interval: float | None = None  # None: the server's (60 s)
    clock: VirtualClock = field(init=False)
    server: DjangoTransport = field(init=False)
    faults: Faults = field(init=False)
    store: DiskStore = field(init=False)
    agent: Agent = field(init=False)
    starts: list[Start] = field(default_factory=list)
    cached_at_start: dict[str, bool] = field(default_factory=dict)
    agents: int = 0

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.world.t0, skew=self.skew)
        self.server = DjangoTransport(self.clock, self.world.traveller, self.world.credential)
        self.faults = Faults()
        self.transport = FaultyTransport(self.server, self.faults, seed=self.seed)
        self.store = self.store_class(self.state_dir)
        seed_enrolment(self.store, self.world.answer)
        self.agent = self.boot()

    def boot(self) -> Agent:
        """A new Agent on the store (the first boot, or the one after a power cut)."""
        self.agents += 1
        player = NullPlayer(self.clock, on_start=self._on_start)
        self.player = player
        config = AgentConfig(
            server_url="http://testserver",
            state_dir=str(self.state_dir),
            poll_interval=self.poll_interval,
        )
        rng = random.Random(self.seed * 100 + self.agents)
        return Agent(
            config,
            store=self.store,
            transport=self.transport,
            clock=self.clock,
            player=player,
            rng=rng,
        )

    def _on_start(self, item: Any, local_time: float) -> None:
        offset = self.player.records[-1].offset if self.player.records else 0.0
        self.starts.append(Start(item.key, local_time - self.clock.skew, offset))

    def at(self, seconds: float) -> float:
        """True time `seconds` after the drill's start."""
        return self.world.t0 + seconds

    async def run(
        self, until: float, actions: dict[float, Callable[[], Any]] | None = None
    ) -> None:
        """Run the agent to `until` (seconds after t0), doing `actions` at their times, and
        noting at each airing's start whether its audio was on the device."""
        steps: dict[float, list[Callable[[], Any]]] = {}
        for airing in Airing.objects.filter(station__unit=self.world.tree.hoankiem):
            start = airing.starts_at.timestamp()
            steps.setdefault(start - 0.001, []).append(self._checker(airing))
        for seconds, action in (actions or {}).items():
            steps.setdefault(self.at(seconds), []).append(action)
        task = asyncio.ensure_future(self.agent.run())
        try:
            for moment in sorted(t for t in steps if self.clock.true_time() <= t):
                if moment > self.at(until):
                    break
                await self.clock.run_until(moment)
                for action in steps[moment]:
                    result = action()
                    if asyncio.iscoroutine(result):
                        await result
                if task.done():
                    task.result()  # an agent that died is a failure, not a silent stop
            await self.clock.run_until(self.at(until))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _checker(self, airing: Airing) -> Callable[[], None]:
        def check() -> None:
            self.cached_at_start[airing.key] = self.store.has_audio(airing.audio_sha256)

        return check

    def power_cut(self) -> None:
        """The process dies: nothing is flushed, the next boot opens the directory again."""
        self.store.close()
        self.store = self.store_class(self.state_dir)
        self.agent = self.boot()

    # ---- checks ----------------------------------------------------------------------------

    def starts_of(self, key: str) -> list[Start]:
        return [s for s in self.starts if s.key == key]

    def assert_on_time(self, *, skip: set[str] = frozenset()) -> int:  # type: ignore[assignment]
        """Every airing whose audio was cached at its start started within ON_TIME_S."""
        checked = 0
        for airing in Airing.objects.filter(station__unit=self.world.tree.hoankiem):
            if airing.key in skip or not self.cached_at_start.get(airing.key):
                continue
            first = self.starts_of(airing.key)
            assert first, f"{airing.key} was cached but never played"
            late = first[0].true_time - airing.starts_at.timestamp()
            assert abs(late) <= ON_TIME_S, f"{airing.key} started {late:+.3f} s off"
            assert first[0].offset == pytest.approx(0.0, abs=ON_TIME_S)
            checked += 1
        return checked

    def assert_exactly_once(self) -> list[PlayEvent]:
        """The server holds one event per play, and no other; the agent's queue is empty."""
        assert self.store.queue_len() == 0, "events left on the device"
        played = Counter(s.key for s in self.starts)
        assert play_counts(self.world.device) == played
        events = list(PlayEvent.objects.filter(device=self.world.device).order_by("started_at"))
        # Each event is dated in server time at the moment the player started.
        by_key: dict[str, list[Start]] = {}
        for start in self.starts:
            by_key.setdefault(start.key, []).append(start)
        for event in events:
            candidates = by_key[event.item_key]
            assert any(
                abs(event.started_at.timestamp() - s.true_time) <= ON_TIME_S for s in candidates
            ), f"{event.item_key}: started_at {event.started_at} matches no play"
        return events


@pytest.fixture
def drill(world: World, tmp_path: Path) -> Drill:
    return Drill(world, tmp_path / "agent")


def run(coroutine: Any) -> Any:
    return run_with_test_database(coroutine)


def outcomes(events: list[PlayEvent]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for event in events:
        result.setdefault(event.item_key, []).append(event.outcome)
    return result


# --- The drills ---------------------------------------------------------------------------------


def test_a_quiet_hour_plays_every_item_on_time(drill):
    """The baseline: no fault. Every item plays, on time, completed, reported once."""
    run(drill.run(HOUR + SETTLE_S))
    assert drill.assert_on_time() == len(drill.world.airings)
    events = drill.assert_exactly_once()
    assert outcomes(events) == {a.key: ["completed"] for a in drill.world.airings}
    # It heartbeats: the server knows its clock is right and what it runs.
    device = Device.objects.get(pk=drill.world.device.pk)
    assert device.last_seen_at is not None
    assert abs(device.clock_offset_ms or 0) <= 1000
    assert (device.firmware or "").startswith("ttcs-agent")


def test_a_server_down_for_30_minutes(drill):
    """Cached items keep playing offline; the events queue up and arrive once, after."""
    down_from, down_to = 300.0, 2100.0

    def down() -> None:
        drill.faults.down = True

    def up() -> None:
        drill.faults.down = False

    def offline_checks() -> None:
        assert drill.agent.status() in ("offline-cache", "playing")
        assert drill.store.queue_len() >= 4  # the plays of the last half hour wait on the device

    run(drill.run(HOUR + SETTLE_S, {down_from: down, down_to - 1: offline_checks, down_to: up}))
    assert drill.faults.counts["down"] > 0
    assert drill.assert_on_time() == len(drill.world.airings)
    events = drill.assert_exactly_once()
    offline = [
        e for e in events if drill.at(down_from) < e.started_at.timestamp() < drill.at(down_to)
    ]
    assert len(offline) == 6
    assert all(e.received_at.timestamp() >= drill.at(down_to) for e in offline)
    # Nothing was sent while the server was down.
    assert not [
        c for c in drill.server.calls if drill.at(down_from) < c.true_time < drill.at(down_to)
    ]


def test_a_flapping_network_for_the_whole_hour(drill):
    """A third of the calls fail (before the server, or with the answer lost) and downloads
    break midway: Range resume, retries and idempotent uploads still deliver everything."""
    drill.faults.flap_rate = 0.3

    def calm() -> None:
        drill.faults.flap_rate = 0.0

    run(drill.run(HOUR + SETTLE_S, {HOUR: calm}))
    assert drill.faults.counts["cut download"] > 0
    assert drill.faults.counts["lost answer"] > 0
    # Every file was eventually whole and verified (a resumed download joined up right).
    for airing in drill.world.airings:
        path = drill.store.audio_path(airing.audio_sha256)
        assert path is not None
        assert hashlib.sha256(path.read_bytes()).hexdigest() == airing.audio_sha256
    resumed = [c for c in drill.server.calls if c.status == 206]
    assert resumed, "no download was resumed with Range"
    assert drill.assert_on_time() >= len(drill.world.airings) - 1
    drill.assert_exactly_once()


def test_corrupt_downloads_are_discarded_and_fetched_again(drill):
    """Three downloads arrive with a flipped byte: each is discarded (SHA-256 mismatch) and
    fetched again; the items play on time because the retries finish before their start."""
    drill.faults.corrupt_downloads = 3
    run(drill.run(HOUR + SETTLE_S))
    assert drill.faults.counts["corrupt download"] == 3
    audio = [c for c in drill.server.calls if c.path.startswith("/api/device/v1/audio/")]
    assert len(audio) == len(drill.world.airings) + 3  # three fetched twice
    for airing in drill.world.airings:
        path = drill.store.audio_path(airing.audio_sha256)
        assert path is not None
        assert hashlib.sha256(path.read_bytes()).hexdigest() == airing.audio_sha256
    assert drill.assert_on_time() == len(drill.world.airings)
    drill.assert_exactly_once()


def test_a_corrupt_file_on_the_server_is_never_played(world, tmp_path):
    """The server's stored copy of the first item's audio is damaged until 10 min: the device
    refuses every copy, so that item is not played at all (never unverified). The same audio
    is planned again at 30 min: once the file is repaired the device fetches it, verifies it
    and plays it on time."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    airing = world.airings[0]  # at t0 + 120 s
    with time_machine.travel(dt.datetime.fromtimestamp(world.t0 - 60, dt.UTC)):
        again = add_airing(
            world.tree.hoankiem,
            "drill:again",
            dt.datetime.fromtimestamp(world.t0 + 1800, dt.UTC),
            AudioAsset.objects.get(sha256=airing.audio_sha256),
        )
        refresh_manifests(world.device)
    name = f"audio/{airing.audio_sha256[:2]}/{airing.audio_sha256}.mp3"
    good = default_storage.open(name).read()
    drill = Drill(world, tmp_path / "agent")

    def store_bytes(data: bytes) -> None:
        default_storage.delete(name)
        default_storage.save(name, ContentFile(data))

    def repair() -> None:
        assert drill.store.audio_path(airing.audio_sha256) is None
        store_bytes(good)

    store_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    run(drill.run(HOUR + SETTLE_S, {600: repair}))
    fetched = [c for c in drill.server.calls if airing.audio_sha256 in c.path]
    assert len([c for c in fetched if c.true_time < world.t0 + 600]) >= 2  # retried, refused
    assert drill.cached_at_start[airing.key] is False
    assert drill.starts_of(airing.key) == []
    assert drill.cached_at_start[again.key] is True
    assert drill.assert_on_time() == len(world.airings)  # the 11 others and the repeat
    drill.assert_exactly_once()


def test_a_full_disk_then_space_freed(world, tmp_path):
    """The SD card fills up at 10 min: plays go on from cached audio, their events wait in
    memory, a new item's download is postponed, the heartbeat says "disk full". Space is freed
    at 25 min: the events are written and sent once, the new item downloads and plays."""
    drill = Drill(world, tmp_path / "agent", store_class=FullDiskStore)
    full_from, full_to = 600.0, 1500.0
    late_start = world.t0 + 1800

    def fill() -> None:
        drill.store.full = True  # type: ignore[attr-defined]

    def free() -> None:
        drill.store.full = False  # type: ignore[attr-defined]

    def new_item() -> None:
        with time_machine.travel(dt.datetime.fromtimestamp(drill.clock.true_time(), dt.UTC)):
            asset = real_asset("drill-late", 20.0)
            add_airing(
                world.tree.hoankiem,
                "drill:late",
                dt.datetime.fromtimestamp(late_start, dt.UTC),
                asset,
            )
        drill.server.server_now()
        refresh_manifests(world.device)

    def while_full() -> None:
        assert drill.agent.status() == "disk full"
        assert drill.store.has_audio(Airing.objects.get(key="drill:late").audio_sha256) is False

    def at_late_start() -> None:
        late = Airing.objects.get(key="drill:late")
        drill.cached_at_start[late.key] = drill.store.has_audio(late.audio_sha256)

    run(
        drill.run(
            HOUR + SETTLE_S,
            {
                full_from: fill,
                full_from + 60: new_item,
                full_to - 1: while_full,
                full_to: free,
                late_start - world.t0 - 0.001: at_late_start,
            },
        )
    )
    statuses = [
        (c.true_time, (c.body or {}).get("status"))
        for c in drill.server.calls
        if c.path.endswith("/heartbeat")
    ]
    assert any(s == "disk full" for t, s in statuses if drill.at(full_from) < t < drill.at(full_to))
    assert statuses[-1][1] in ("idle", "playing")
    assert drill.cached_at_start["drill:late"] is True
    assert drill.assert_on_time() == len(world.airings) + 1
    drill.assert_exactly_once()


def test_a_device_clock_five_minutes_fast(world, tmp_path):
    """The device's clock is 5 minutes ahead: after the first answer from the server it plays
    on true time, and dates its events in server time."""
    drill = Drill(world, tmp_path / "agent", skew=300.0)
    run(drill.run(HOUR + SETTLE_S))
    assert drill.agent.clock_offset == pytest.approx(-300.0, abs=0.1)
    assert drill.assert_on_time() == len(world.airings)
    drill.assert_exactly_once()  # started_at in server time, not the device's
    device = Device.objects.get(pk=world.device.pk)
    assert device.clock_offset_ms == pytest.approx(-300_000, abs=100)


def test_a_power_cut_in_the_middle_of_an_item(drill, world):
    """Power lost 20 s into a 60 s item, back 10 s later: the interrupted play becomes exactly
    one `partial` event, the item resumes where it should be now, the rest plays on time."""
    airing = next(a for a in world.airings if a.audio_duration == 60.0)
    start = airing.starts_at.timestamp() - world.t0
    cut, back = start + 20, start + 30

    async def scenario() -> None:
        await drill.run(cut)  # run() is cancelled at `cut`: the power cut
        drill.power_cut()
        drill.clock._now = world.t0 + back
        await drill.run(HOUR + SETTLE_S)

    run(scenario())
    plays = drill.starts_of(airing.key)
    assert len(plays) == 2
    assert plays[0].true_time == pytest.approx(world.t0 + start, abs=ON_TIME_S)
    assert plays[1].true_time == pytest.approx(world.t0 + back, abs=ON_TIME_S)
    assert plays[1].offset == pytest.approx(back - start, abs=ON_TIME_S)
    events = drill.assert_exactly_once()
    mine = [e for e in events if e.item_key == airing.key]
    assert sorted(e.outcome for e in mine) == ["completed", "partial"]
    partial = next(e for e in mine if e.outcome == "partial")
    # It ended at the last "alive" mark before the cut (refreshed every few seconds).
    assert world.t0 + start < partial.ended_at.timestamp() <= world.t0 + cut
    assert drill.assert_on_time() == len(world.airings)


@pytest.mark.parametrize("pushed", [True, False], ids=["mqtt-push", "polling-only"])
def test_an_emergency_preempts_the_current_item(
    world, tmp_path, pushed, django_capture_on_commit_callbacks
):
    """An operator starts an emergency in the middle of a 60 s item: the item is cut
    (`preempted`) and the emergency plays from its notice — at once when the push arrives, at
    the next poll of the alerts file without it — whole, from the beginning. The manifest is
    unreachable for the first minute (and with the push, the alerts file too), so the notice
    alone must be enough.

    The poll interval is 10 s here (a unit without a broker may set 2–5 s): with the default
    60 s, the whole 40 s emergency could be over before the next poll, which is a property of
    polling, not something this drill is about."""
    drill = Drill(world, tmp_path / "agent", poll_interval=10.0)
    airing = next(a for a in world.airings if a.audio_duration == 60.0)
    start = airing.starts_at.timestamp() - world.t0
    operator = world.make_user("hk_op", world.tree.hoankiem, role=Role.BROADCAST_OPERATOR)
    editor = world.make_user("hk_ed", world.tree.hoankiem, role=Role.EDITOR)
    approver = world.make_user("hk_ap", world.tree.hoankiem, role=Role.APPROVER)
    asset = real_asset("drill-emergency", 15.0)
    bulletin = emergency_bulletin(world.tree.hoankiem, editor, approver, asset)
    started: dict[str, Any] = {}

    def approve() -> None:
        drill.server.server_now()
        with django_capture_on_commit_callbacks(execute=True):
            emergency = emergencies.emergency_start(
                actor=operator,
                unit=world.tree.hoankiem,
                targets=[world.tree.hoankiem],
                source=EmergencySource.BULLETIN,
                bulletin=bulletin,
                repeat_count=2,
                interval_seconds=10,
            )
        started["emergency"] = emergency
        started["at"] = drill.clock.true_time()
        drill.faults.blocked = (MANIFEST, ALERTS) if pushed else (MANIFEST,)
        if pushed:  # what the broker would deliver on the commune's topic
            (_topic, payload), *_ = push.emergency_messages(emergency, "start")
            drill.agent.notify(json.loads(payload))

    def unblock() -> None:
        drill.faults.blocked = ()

    run(drill.run(HOUR + SETTLE_S, {start + 20: approve, start + 80: unblock}))
    assert drill.faults.counts["blocked"] > 0
    emergency = started["emergency"]
    first = drill.starts_of(f"emergency:{emergency.pk}:1")
    assert len(first) == 1
    delay = first[0].true_time - started["at"]
    assert 0 <= delay <= (ON_TIME_S if pushed else 10.0 + 1)
    assert first[0].offset == 0.0  # a warning is heard whole
    second = drill.starts_of(f"emergency:{emergency.pk}:2")
    assert len(second) == 1
    events = drill.assert_exactly_once()
    assert outcomes(events)[airing.key][0] == "preempted"
    assert outcomes(events)[f"emergency:{emergency.pk}:1"] == ["completed"]
    assert drill.assert_on_time(skip={airing.key}) >= len(world.airings) - 1
