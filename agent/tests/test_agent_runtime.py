"""The agent end to end against an in-process fake server, in virtual time.

Each test runs hours of schedule in milliseconds: every wait goes through the VirtualClock.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_fakes import (
    T0,
    A,
    B,
    E,
    FakeServer,
    Running,
    audio_bytes,
    item,
    make_agent,
    notice,
    run,
    server_with_audio,
    sha_of,
)
from ttcs_agent.clock import VirtualClock, format_iso, parse_iso
from ttcs_agent.player import NullPlayer
from ttcs_agent.schedule import PlayItem
from ttcs_agent.store import DiskStore, MemoryStore

_server = server_with_audio


def _events(server: FakeServer) -> list[tuple[str, str, float]]:
    """(item_key, outcome, seconds after T0 it started) for every event the server got."""
    rows = [
        (e["item_key"], e["outcome"], round(parse_iso(e["started_at"]) - T0, 3))
        for e in server.events.values()
    ]
    return sorted(rows, key=lambda row: row[2])


def test_plays_on_server_time_whatever_the_local_clock_says() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0, skew=-3600)  # the device thinks it is an hour earlier
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 100, 40, A), item("1:d:2", T0 + 150, 40, B)])
        agent, player, _ = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.advance(300)
            starts = [
                (r.key, r.at - clock.skew - T0) for r in player.records if r.action == "start"
            ]
            assert starts == [("1:d:1", 100), ("1:d:2", 150)]
            assert agent.clock_offset == pytest.approx(3600, abs=0.01)
        assert _events(server) == [("1:d:1", "completed", 100), ("1:d:2", "completed", 150)]
        assert server.heartbeats[-1]["clock_offset_ms"] == 3_600_000
        assert server.heartbeats[0]["firmware"].startswith("ttcs-agent ")

    run(scenario)


def test_an_emergency_notice_preempts_then_the_item_resumes() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 100, 100, A)])
        agent, player, _ = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.run_until(T0 + 120)
            push = notice(5, T0 + 120, E, duration=30)
            agent.notify({"type": "emergency", "event": "start", "emergency": 5, "notice": push})
            await clock.settle()
            assert agent.current_item == "emergency:5:1"  # at once, not at the next poll
            await clock.run_until(T0 + 160)
            assert agent.current_item == "1:d:1"  # offline rule: the rest of its window
            assert player.records[-1].offset == pytest.approx(50)
            await clock.run_until(T0 + 300)
        assert _events(server) == [
            ("1:d:1", "preempted", 100),
            ("emergency:5:1", "completed", 120),
            ("1:d:1", "completed", 150),
        ]

    run(scenario)


def test_an_emergency_learned_late_is_heard_from_the_beginning() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, player, _ = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.run_until(T0 + 12)
            agent.notify({"type": "emergency", "notice": notice(5, T0, E, duration=30)})
            await clock.settle()
            assert player.records[-1].key == "emergency:5:1"
            assert player.records[-1].offset == 0.0
            await clock.run_until(T0 + 41)
            assert agent.current_item == "emergency:5:1"  # past its listed end: heard whole
            await clock.run_until(T0 + 60)
        [(key, outcome, started)] = _events(server)
        assert (key, outcome, started) == ("emergency:5:1", "completed", 12)
        assert next(iter(server.events.values()))["played_seconds"] == pytest.approx(30)

    run(scenario)


def test_a_stop_push_silences_the_emergency_at_once() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, _, _ = make_agent(clock, server)
        async with Running(agent, clock):
            agent.notify({"type": "emergency", "notice": notice(5, T0, E, duration=60, repeat=3)})
            await clock.run_until(T0 + 10)
            assert agent.current_item == "emergency:5:1"
            agent.notify({"type": "emergency", "event": "stop", "emergency": 5})
            await clock.settle()
            assert agent.current_item is None
            await clock.run_until(T0 + 400)
            assert agent.current_item is None  # the later repetitions are gone too
        assert _events(server) == [("emergency:5:1", "partial", 0)]

    run(scenario)


def test_the_manifest_takes_over_an_overlay_without_replaying() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, player, _ = make_agent(clock, server)
        async with Running(agent, clock):
            agent.notify({"type": "emergency", "notice": notice(5, T0, E, duration=30, repeat=2)})
            await clock.run_until(T0 + 5)
            reps = [
                item("emergency:5:1", T0, 30, E, kind="emergency", emergency=(5, 1, 2)),
                item("emergency:5:2", T0 + 30, 30, E, kind="emergency", emergency=(5, 2, 2)),
            ]
            server.set_items(reps)
            agent.request_poll()
            await clock.run_until(T0 + 100)
        assert player.starts() == ["emergency:5:1", "emergency:5:2"]
        assert _events(server) == [
            ("emergency:5:1", "completed", 0),
            ("emergency:5:2", "completed", 30),
        ]

    run(scenario)


def test_a_power_cut_becomes_one_partial_event_and_the_reboot_catches_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 10, 100, A)])
        agent, _, _store = make_agent(clock, server, DiskStore(tmp_path), alive_interval=5)
        async with Running(agent, clock):
            await clock.run_until(T0 + 47)
        # The plug is pulled at T0+47 (last alive at T0+45); power is back at T0+60.
        await clock.run_until(T0 + 60)
        server.down = True  # and the network is not back yet
        rebooted, player, _ = make_agent(clock, server, DiskStore(tmp_path))
        async with Running(rebooted, clock):
            await clock.settle()
            assert player.records[0].key == "1:d:1"
            assert player.records[0].offset == pytest.approx(50)  # catch-up from now - start
            await clock.run_until(T0 + 120)
            assert rebooted.queue_length == 2  # offline: kept
            server.down = False
            await clock.run_until(T0 + 200)
            assert rebooted.queue_length == 0
        events = sorted(server.events.values(), key=lambda e: e["started_at"])
        assert [(e["outcome"], e["started_at"], e["ended_at"]) for e in events] == [
            ("partial", format_iso(T0 + 10), format_iso(T0 + 45)),
            ("completed", format_iso(T0 + 60), format_iso(T0 + 110)),
        ]
        assert DiskStore(tmp_path).open_play() is None

    run(scenario)


def test_a_corrupt_download_is_discarded_then_retried() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.corrupt_next.add(sha_of(A))
        server.set_items([item("1:d:1", T0 + 60, 40, A)])
        agent, player, store = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.settle()
            assert not store.has_audio(sha_of(A))  # the bad bytes were not kept
            await clock.run_until(T0 + 60)
            assert store.has_audio(sha_of(A))
            assert player.starts() == ["1:d:1"]
        downloads = [r for r in server.requests if r[1].endswith(".mp3")]
        assert len(downloads) == 2

    run(scenario)


@pytest.mark.parametrize("ignore_range", [False, True])
def test_an_interrupted_download_resumes_with_range(ignore_range: bool) -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.cut_after[sha_of(A)] = 7_000
        server.ignore_range = ignore_range  # a server answering 200: the file restarts
        server.set_items([item("1:d:1", T0 + 60, 40, A)])
        agent, _, store = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.settle()
            assert store.partial_size(sha_of(A)) == 7_000
            await clock.run_until(T0 + 30)
            assert store.has_audio(sha_of(A))
        downloads = [r for r in server.requests if r[1].endswith(".mp3")]
        assert [r[2].get("Range") for r in downloads] == [None, "bytes=7000-"]

    run(scenario)


def test_a_full_disk_postpones_downloads_without_crashing() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 600, 40, A)])
        store = MemoryStore(capacity=50_000)
        agent, player, _ = make_agent(clock, server, store, min_free_bytes=40_000)
        async with Running(agent, clock):
            await clock.run_until(T0 + 120)
            assert not store.has_audio(sha_of(A))
            assert agent.status() == "disk full"
            assert server.heartbeats[-1]["status"] == "disk full"
            agent.config.min_free_bytes = 0  # room was made
            await clock.run_until(T0 + 700)
            assert store.has_audio(sha_of(A))
            assert player.starts() == ["1:d:1"]
            assert agent.status() == "idle"

    run(scenario)


def test_enospc_during_events_keeps_them_in_memory_until_written() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 10, 20, A)])
        store = MemoryStore()
        agent, _, _ = make_agent(clock, server, store)
        async with Running(agent, clock):
            await clock.run_until(T0 + 5)
            store.full = True  # every write now fails with ENOSPC
            server.down = True
            await clock.run_until(T0 + 60)
            assert agent.queue_length == 1
            assert agent.status() == "disk full"
            store.full = False
            server.down = False
            await clock.run_until(T0 + 400)
        assert _events(server) == [("1:d:1", "completed", 10)]

    run(scenario)


def test_401_means_needs_enrolment_and_nothing_new_plays() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 100, 40, A)])
        agent, player, store = make_agent(clock, server)
        async with Running(agent, clock):
            await clock.run_until(T0 + 30)
            server.revoked = True
            agent.request_poll()
            await clock.run_until(T0 + 40)
            polls = len(server.requests)
            await clock.run_until(T0 + 1000)
            assert agent.status() == "needs enrolment"
            assert len(server.requests) == polls  # stopped polling, uploading, heartbeats
            assert player.starts() == []
        assert store.load_json("enrolment") == {"needs": True}

    run(scenario)


def test_polls_never_wait_longer_than_the_interval() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, _, _ = make_agent(clock, server, poll_interval=10.0)
        async with Running(agent, clock):
            await clock.run_until(T0 + 1000)
        polls = [
            parse_time
            for parse_time, (_, path, _) in enumerate(server.requests)
            if path == "/api/device/v1/manifest"
        ]
        # 0.9-1.0 x 10 s: between 100 and 112 polls in 1000 s (never fewer than 100).
        assert 100 <= len(polls) <= 112

    run(scenario)


def test_commands_run_once_and_are_acknowledged() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items(
            [], volume=80, commands=[{"id": 9, "kind": "volume", "params": {"volume": 35}}]
        )
        agent, player, store = make_agent(clock, server, heartbeat_interval=30)
        async with Running(agent, clock):
            await clock.run_until(T0 + 100)
            assert player.volume == 35
        acks = [hb.get("commands") for hb in server.heartbeats if hb.get("commands")]
        assert acks
        assert all(a == [{"id": 9, "ok": True, "message": "volume 35"}] for a in acks)
        assert all(hb["volume"] == 35 for hb in server.heartbeats[1:])
        # A restarted agent with the same store does not run it again.
        agent2, player2, _ = make_agent(clock, server, store)
        agent2.set_manifest(server.manifest, server.etag)
        assert player2.volume == 35

    run(scenario)


def test_a_heartbeat_with_a_new_etag_triggers_a_poll() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, _, _ = make_agent(clock, server, poll_interval=3600.0, heartbeat_interval=60)
        async with Running(agent, clock):
            await clock.run_until(T0 + 10)
            server.set_items([item("1:d:1", T0 + 100, 40, A)])
            await clock.run_until(T0 + 70)
            assert agent.manifest_etag == server.etag

    run(scenario)


def test_alerts_file_brings_an_emergency_for_the_province() -> None:
    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        agent, player, _ = make_agent(clock, server, poll_interval=5.0)
        async with Running(agent, clock):
            await clock.run_until(T0 + 20)
            targets = {"provinces": ["01"], "communes": [], "zones": []}
            other = {"provinces": ["79"], "communes": [], "zones": []}
            server.alerts = {
                "version": 1,
                "province": "01",
                "emergencies": [
                    notice(8, T0 + 20, E, duration=30, targets=targets),
                    notice(9, T0 + 20, B, duration=30, targets=other),
                ],
            }
            await clock.run_until(T0 + 60)
        assert player.starts() == ["emergency:8:1"]
        assert any(r[1] == "/device-alerts/01.json" for r in server.requests)

    run(scenario)


def test_recovery_writes_the_partial_event_exactly_once(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    server = _server(clock)
    DiskStore(tmp_path).play_open({"key": "1:d:1", "title": "t", "started_at": T0})
    for _ in range(3):  # the device keeps crashing before it plays anything else
        agent, _, _ = make_agent(clock, server, DiskStore(tmp_path))
        agent.recover()
    [event] = DiskStore(tmp_path).queue_peek(10)
    assert (event["item_key"], event["outcome"]) == ("1:d:1", "partial")


def test_a_player_that_cannot_start_logs_a_failed_event() -> None:
    class BrokenPlayer(NullPlayer):
        async def start(self, item: PlayItem, path: Path | None, offset: float) -> None:
            raise FileNotFoundError(2, "No such file or directory", "mpv")

    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 10, 40, A)])
        agent, _, _ = make_agent(clock, server)
        agent.player = BrokenPlayer(clock)
        async with Running(agent, clock):
            await clock.run_until(T0 + 100)
            assert agent.status() == "idle"
        assert _events(server) == [("1:d:1", "failed", 10)]

    run(scenario)


def test_the_same_agent_runs_again_in_a_new_event_loop() -> None:
    """Drills pause a device and resume it in a later asyncio.run: nothing may spin or break."""
    clock = VirtualClock(T0)
    server = _server(clock)
    server.set_items([item("1:d:1", T0 + 10, 100, A), item("1:d:2", T0 + 200, 40, B)])
    agent, player, _ = make_agent(clock, server)

    async def first() -> None:
        async with Running(agent, clock):
            await clock.run_until(T0 + 50)

    async def second() -> None:
        async with Running(agent, clock):
            await clock.run_until(T0 + 400)

    run(first)
    requests_before = len(server.requests)
    run(second)
    assert player.starts() == ["1:d:1", "1:d:2"]  # the first item went on, not restarted
    assert _events(server) == [("1:d:1", "completed", 10), ("1:d:2", "completed", 200)]
    polls = [r for r in server.requests[requests_before:] if r[1].endswith("manifest")]
    assert len(polls) < 60  # about one per 10 s of virtual time, not a busy loop


def test_an_item_cut_by_a_new_manifest_is_logged_preempted() -> None:
    """Polling only: the manifest that cuts the item (at the emergency's start) arrives after
    that moment, before the emergency's audio: the item ends `preempted`, not `partial`."""

    async def scenario() -> None:
        clock = VirtualClock(T0)
        server = _server(clock)
        server.set_items([item("1:d:1", T0 + 10, 100, A)])
        agent, _, _ = make_agent(clock, server, poll_interval=30.0)
        async with Running(agent, clock):
            await clock.run_until(T0 + 40)
            server.audio.pop(sha_of(E))  # the emergency audio is not there yet
            server.set_items(
                [
                    item("1:d:1", T0 + 10, 100, A, end=T0 + 50, status="preempted"),
                    item("emergency:2:1", T0 + 50, 20, E, kind="emergency", emergency=(2, 1, 1)),
                ]
            )
            await clock.run_until(T0 + 100)
        assert _events(server)[0][:2] == ("1:d:1", "preempted")

    run(scenario)


@pytest.mark.parametrize(
    ("message", "at_once", "later"),
    [
        ({"type": "manifest", "etag": '"new-1"'}, True, True),  # this device's own change
        ({"type": "manifest", "etag": None}, False, True),  # a commune broadcast: spread out
        ({"type": "emergency", "event": "stop", "emergency": 3}, True, True),
    ],
)
def test_a_push_polls_now_or_spread_out(message: dict, at_once: bool, later: bool) -> None:
    async def scenario() -> tuple[bool, bool]:
        clock = VirtualClock(T0)
        agent, _, _ = make_agent(clock, FakeServer(clock))
        agent.notify(message)
        now = agent._poll_now.is_set()
        await clock.advance(6)  # PUSH_POLL_SPREAD_S has passed
        return now, agent._poll_now.is_set()

    import asyncio

    assert asyncio.run(scenario()) == (at_once, later)


def test_a_manifest_push_with_the_etag_already_held_does_not_poll() -> None:
    import asyncio

    async def scenario() -> bool:
        clock = VirtualClock(T0)
        agent, _, _ = make_agent(clock, FakeServer(clock))
        agent.set_manifest({"version": 1, "items": []}, '"held-1"')
        agent.notify({"type": "manifest", "etag": '"held-1"'})
        await clock.advance(6)
        return agent._poll_now.is_set()

    assert asyncio.run(scenario()) is False


def test_notices_heard_by_push_are_forgotten_after_two_days() -> None:
    import asyncio

    from agent_fakes import notice

    async def scenario() -> list[str]:
        clock = VirtualClock(T0)
        agent, _, store = make_agent(clock, FakeServer(clock))
        agent.apply_notice(notice(1, T0 - 3 * 86400, audio_bytes("old"), duration=20))
        agent.apply_notice(notice(2, T0 - 3600, audio_bytes("new"), duration=20))
        return sorted(store.load_json("push_notices"))

    assert asyncio.run(scenario()) == ["2"]
