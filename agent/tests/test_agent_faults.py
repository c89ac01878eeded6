"""Faults found in review: late player ends, stops, clock steps, bad input, shutdown, crashes.

Each test runs the agent against the in-process fake server in virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import (
    T0,
    A,
    B,
    E,
    FakeServer,
    Running,
    item,
    make_agent,
    notice,
    run,
    server_with_audio,
)
from ttcs_agent.agent import MAX_EMERGENCY_FAILURES, ServerError
from ttcs_agent.clock import VirtualClock, parse_iso
from ttcs_agent.player import NullPlayer
from ttcs_agent.schedule import PlayItem
from ttcs_agent.store import DiskStore, MemoryStore, Store
from ttcs_agent.transport import Response

_server = server_with_audio


def _events(server: FakeServer) -> list[tuple[str, str, float, float]]:
    """(item_key, outcome, start, end) in seconds after T0, in start order."""
    rows = [
        (
            e["item_key"],
            e["outcome"],
            round(parse_iso(e["started_at"]) - T0, 2),
            round(parse_iso(e["ended_at"]) - T0, 2),
        )
        for e in server.events.values()
    ]
    return sorted(rows, key=lambda row: row[2])


def _actions(player: NullPlayer) -> list[tuple[str, str, float]]:
    return [(r.action, r.key, round(r.at - T0, 2)) for r in player.records]


class LateEndPlayer(NullPlayer):
    """Like mpv: the audio ends `late` seconds after start + duration (start-up latency)."""

    def __init__(self, clock: VirtualClock, late: float) -> None:
        super().__init__(clock)
        self.late = late

    async def start(self, item: PlayItem, path: Path | None, offset: float) -> None:
        await super().start(item, path, offset)
        if self._ends_at is not None:
            self._ends_at += self.late


class CrashingPlayer(NullPlayer):
    """Ends every play after `lasts` seconds with a non-zero exit status (a crash)."""

    def __init__(self, clock: VirtualClock, lasts: float) -> None:
        super().__init__(clock)
        self.lasts = lasts
        self.exit_code: int | None = None

    async def start(self, item: PlayItem, path: Path | None, offset: float) -> None:
        await super().start(item, path, offset)
        self._ends_at = self.clock.time() + self.lasts

    async def wait(self) -> None:
        await super().wait()
        self.exit_code = 1


class SlowStopPlayer(NullPlayer):
    """Like SubprocessPlayer.stop: terminate, then wait for the child to exit."""

    async def stop(self) -> None:
        was = self.current
        await super().stop()
        if was is not None:
            await self.clock.sleep(0.05)


def _with_player(agent: Any, player: NullPlayer) -> NullPlayer:
    agent.player = player
    return player


# ---- 1. emergencies are neither cut at their tail nor replayed --------------------------------


@pytest.mark.parametrize(("late", "stopped_at"), [(0.3, None), (10.0, 33.5)])
def test_an_emergency_ending_after_its_time_is_not_replayed(
    late: float, stopped_at: float | None
) -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, _, _ = make_agent(clock, server)
        player = _with_player(agent, LateEndPlayer(clock, late))
        async with Running(agent, clock):
            await clock.run_until(T0 + 1)
            agent.notify({"type": "emergency", "notice": notice(5, T0 + 2, E, duration=30)})
            await clock.run_until(T0 + 200)
        starts = [a for a in _actions(player) if a[0] == "start"]
        assert starts == [("start", "emergency:5:1", 2.0)]  # heard once, never replayed
        if stopped_at is None:  # a player a little late: its tail is not cut
            assert _actions(player)[-1] == ("end", "emergency:5:1", 32.3)
        else:  # a player far too late is stopped after the slack
            assert _actions(player)[-1] == ("stop", "emergency:5:1", stopped_at)
        assert [(k, o) for k, o, _, _ in _events(server)] == [("emergency:5:1", "completed")]

    run(scenario)


# ---- 2. a stop silences a repetition playing past its listed end -----------------------------


def test_a_stop_silences_a_late_started_emergency_at_once() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, player, _ = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.run_until(T0 + 19)
            # Learnt late from the manifest: heard whole from T0+19 to T0+49.
            rep = item("emergency:5:1", T0, 30, E, kind="emergency", emergency=(5, 1, 1))
            server.set_items([rep])
            agent.request_poll()
            await clock.run_until(T0 + 40)
            assert agent.current_item == "emergency:5:1"
            stopped = notice(5, T0, E, duration=30, state="stopped", stopped_at=T0 + 40)
            agent.notify({"type": "emergency", "event": "stop", "emergency": 5, "notice": stopped})
            await clock.settle()
            assert agent.current_item is None
            await clock.run_until(T0 + 100)
        assert _actions(player) == [
            ("start", "emergency:5:1", 19.0),
            ("stop", "emergency:5:1", 40.0),
        ]
        assert _events(server) == [("emergency:5:1", "partial", 19.0, 40.0)]

    run(scenario)


# ---- 3. a wall-clock step does not move the schedule -----------------------------------------


def test_an_ntp_step_of_the_local_clock_does_not_cut_or_move_plays() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0, skew=-7200)  # booted with the clock two hours behind
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 100, 600, A), item("1:d:2", T0 + 3000, 600, B)])
        agent, player, _ = make_agent(clock, server, heartbeat_interval=60.0)
        async with Running(agent, clock):
            await clock.run_until(T0 + 200)
            assert agent.current_item == "1:d:1"
            clock.skew = 0.0  # NTP steps the clock to the truth
            await clock.run_until(T0 + 201)
            assert agent.server_now() == pytest.approx(clock.true_time())
            assert agent.clock_offset == pytest.approx(0.0)
            await clock.run_until(T0 + 3700)
        assert _events(server) == [
            ("1:d:1", "completed", 100.0, 700.0),
            ("1:d:2", "completed", 3000.0, 3600.0),
        ]
        assert [a for a in _actions(player) if a[0] == "stop"] == []

    run(scenario)


# ---- 4. one malformed entry does not brick the agent ------------------------------------------


def test_a_malformed_notice_is_ignored_and_not_persisted() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 10, 30, A)])
        agent, player, store = make_agent(clock, server)
        bad = notice(5, T0, E, duration=30)
        bad["started_at"] = "soon"
        message = {"type": "emergency", "event": "start", "emergency": 5, "notice": bad}
        agent._on_mqtt(json.dumps(message))  # no exception
        assert "5" not in (store.load_json("push_notices") or {})
        restarted, player, _ = make_agent(clock, server, store=store)  # the service restarts
        async with Running(restarted, clock):
            await clock.run_until(T0 + 60)
        assert player.starts() == ["1:d:1"]

    run(scenario)


def test_malformed_manifest_items_and_alerts_entries_are_skipped() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        broken = item("1:d:9", T0 + 5, 30, B)
        broken["start"] = None
        server.set_items([broken, item("1:d:1", T0 + 10, 30, A)])
        bad = notice(6, T0, E, duration=30)
        bad["id"] = "six"
        good = notice(5, T0 + 50, E, duration=20, targets={"provinces": ["01"]})
        server.alerts = {"version": 1, "province": "01", "emergencies": [bad, good]}
        agent, player, store = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.run_until(T0 + 100)
        assert player.starts() == ["1:d:1", "emergency:5:1"]
        assert [n["id"] for n in store.load_json("alerts")["emergencies"]] == [5]
        make_agent(clock, server, store=store)  # what was kept loads again

    run(scenario)


# ---- 5. a held-back close and the next checkpoint ---------------------------------------------


def _close_held_back_then_next_play(store: Store, make_full: Any, make_room: Any) -> None:
    store.play_open({"key": "A", "started_at": 1.0})
    make_full()
    store.play_close({"event_id": "EV-A", "item_key": "A"})  # held in memory
    make_room()
    store.play_open({"key": "B", "started_at": 2.0})


def test_a_held_back_close_is_written_before_the_next_checkpoint(tmp_path: Path) -> None:
    disk = DiskStore(tmp_path, max_db_pages=8)
    filler: list[str] = []

    def fill() -> None:
        while not disk.disk_full:
            event_id = f"F{len(filler):04d}"
            disk.queue_put({"event_id": event_id, "title": "x" * 3000})
            filler.append(event_id)

    _close_held_back_then_next_play(disk, fill, lambda: disk.queue_remove(filler))
    assert not disk.disk_full
    rebooted = DiskStore(tmp_path)  # a power cut now loses nothing
    assert [e["event_id"] for e in rebooted.queue_peek(10)] == ["EV-A"]
    assert rebooted.open_play() is not None
    assert rebooted.open_play()["key"] == "B"  # type: ignore[index]
    disk.queue_put({"event_id": "EV-X"})
    assert disk.open_play() is not None  # B's checkpoint survives later writes


def test_memory_store_keeps_the_next_checkpoint_too() -> None:
    memory = MemoryStore()

    def full(value: bool) -> None:
        memory.full = value

    _close_held_back_then_next_play(memory, lambda: full(True), lambda: full(False))
    assert [e["event_id"] for e in memory.queue_peek(10)] == ["EV-A"]
    memory.queue_put({"event_id": "EV-X"})
    assert (memory.open_play() or {}).get("key") == "B"


# ---- 6. shutdown does not start the item again --------------------------------------------


def test_shutdown_stops_the_scheduler_before_the_player(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        store = DiskStore(tmp_path)
        agent, _, _ = make_agent(clock, server, store=store)
        player = _with_player(agent, SlowStopPlayer(clock))
        server.set_items([item("1:d:1", T0 + 10, 100, A)])
        runner = asyncio.create_task(agent.run())
        await clock.run_until(T0 + 30)
        stopping = asyncio.create_task(agent.shutdown())
        await clock.advance(1)
        await stopping
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        assert _actions(player) == [("start", "1:d:1", 10.0), ("stop", "1:d:1", 30.0)]
        assert player.current is None
        assert store.open_play() is None
        logged = [*store.queue_peek(10), *server.events.values()]
        assert [(e["item_key"], e["outcome"]) for e in logged] == [("1:d:1", "partial")]
        store.close()

    run(scenario)


# ---- 7. a player that crashes is not "completed" --------------------------------------------


def test_a_crashed_player_is_logged_partial_not_completed() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 10, 40, A)])
        agent, _, _ = make_agent(clock, server)
        player = _with_player(agent, CrashingPlayer(clock, lasts=5.0))
        async with Running(agent, clock):
            await clock.run_until(T0 + 100)
        assert player.starts() == ["1:d:1"]  # not restarted in a loop
        assert _events(server) == [("1:d:1", "partial", 10.0, 15.0)]

    run(scenario)


def test_an_emergency_whose_player_fails_is_tried_again_then_given_up() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, _, _ = make_agent(clock, server)
        player = _with_player(agent, CrashingPlayer(clock, lasts=0.5))
        async with Running(agent, clock):
            await clock.run_until(T0 + 1)
            agent.notify({"type": "emergency", "notice": notice(5, T0 + 2, E, duration=30)})
            await clock.run_until(T0 + 100)
        assert player.starts() == ["emergency:5:1"] * MAX_EMERGENCY_FAILURES
        assert {o for _, o, _, _ in _events(server)} == {"failed"}
        assert "emergency:5:1" in agent.played  # given up: not restarted for ever

    run(scenario)


# ---- 8. emergencies ignore the free-space reserve -------------------------------------------


def test_an_emergency_downloads_below_the_free_space_reserve() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 10, 30, A)])
        store = MemoryStore(capacity=100_000)
        agent, player, _ = make_agent(clock, server, store=store, min_free_bytes=95_000)
        async with Running(agent, clock):
            await clock.run_until(T0 + 1)
            agent.notify({"type": "emergency", "notice": notice(5, T0 + 20, E, duration=30)})
            await clock.run_until(T0 + 60)
        assert player.starts() == ["emergency:5:1"]  # the bulletin's audio stayed postponed

    run(scenario)


# ---- 9. the Date header: dated on the headers' arrival, ignored after a slow round trip ------


class SlowServer(FakeServer):
    """Answers after `before` seconds; the body then takes `body` more seconds to arrive."""

    def __init__(self, clock: VirtualClock, before: float, body: float) -> None:
        super().__init__(clock)
        self.before, self.body = before, body

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        await self.clock.sleep(self.before)
        response = await super().request(method, path, **kwargs)
        await self.clock.sleep(self.body)
        response.body_seconds = self.body
        return response


@pytest.mark.parametrize(
    ("before", "body", "used"),
    [(0.2, 3.0, True), (2.0, 0.0, False)],
)
def test_date_header_timing(before: float, body: float, used: bool) -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0, skew=-100)
        server = SlowServer(clock, before, body)
        server.manifest["poll_interval"] = 60
        agent, _, _ = make_agent(clock, server)
        call = asyncio.create_task(agent._call("GET", "/api/device/v1/manifest"))
        await clock.advance(before + body + 1)
        await call
        if used:  # dated when the headers came: off by the Date's resolution only
            assert agent.sync.known
            assert agent.clock_offset == pytest.approx(100.0, abs=1.0)
        else:
            assert not agent.sync.known

    run(scenario)


# ---- 10. the public alerts path ----------------------------------------------------------------


class AlertsServer(FakeServer):
    def __init__(self, clock: VirtualClock, status: int, body: bytes) -> None:
        super().__init__(clock)
        self.alerts_answer = (status, body)

    async def request(self, method: str, path: str, **kwargs: Any) -> Response:
        if path.startswith("/device-alerts/"):
            self.requests.append((method, path, {}))
            status, body = self.alerts_answer
            return Response(status, {"date": formatdate(self.clock.true_time(), usegmt=True)}, body)
        return await super().request(method, path, **kwargs)


def test_a_401_on_the_public_alerts_file_is_not_revocation() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = AlertsServer(clock, 401, b"no")
        server.add_audio(A)
        server.set_items([item("1:d:1", T0 + 10, 30, A)])
        agent, player, _ = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.run_until(T0 + 60)
        assert not agent.needs_enrolment
        assert player.starts() == ["1:d:1"]

    run(scenario)


def test_an_answer_that_is_not_json_is_a_server_error_with_back_off() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = AlertsServer(clock, 200, b"<html>maintenance</html>")
        agent, _, _ = make_agent(clock, server, poll_interval=3600.0)
        with pytest.raises(ServerError):
            await agent.poll_once()
        async with Running(agent, clock):
            await clock.run_until(T0 + 30)
        alerts = [p for _, p, _ in server.requests if p.startswith("/device-alerts/")]
        # Backed off (1 s doubling), not a poll every interval nor a restart every 5 s.
        assert 3 <= len(alerts) <= 8
        assert agent.status() != "needs enrolment"

    run(scenario)
