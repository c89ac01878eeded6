"""VirtualClock (discrete-event time) and ClockSync (server offset, protocol §4)."""

from __future__ import annotations

import asyncio
from email.utils import formatdate

import pytest
from agent_fakes import T0
from ttcs_agent.clock import ClockSync, VirtualClock, format_iso, parse_iso
from ttcs_agent.store import MemoryStore


def test_virtual_sleepers_wake_in_deadline_order_without_real_waiting() -> None:
    async def scenario() -> list[tuple[str, float]]:
        clock = VirtualClock(T0)
        woke: list[tuple[str, float]] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append((name, clock.true_time()))
            if name == "a":  # a sleeper scheduling another sleep while time advances
                await clock.sleep(1.0)
                woke.append(("a2", clock.true_time()))

        tasks = [
            asyncio.create_task(sleeper(n, s)) for n, s in [("b", 3600), ("a", 5), ("c", 7200)]
        ]
        await clock.advance(3600)
        assert clock.true_time() == T0 + 3600
        for task in tasks:
            task.cancel()
        await clock.settle()
        return woke

    assert asyncio.run(scenario()) == [("a", T0 + 5), ("a2", T0 + 6), ("b", T0 + 3600)]


def test_skew_moves_the_local_clock_not_the_true_one() -> None:
    clock = VirtualClock(T0, skew=-90)
    assert clock.time() == T0 - 90
    clock.skew = 30  # a clock step (NTP, dead RTC battery)
    assert clock.time() == T0 + 30
    assert clock.true_time() == T0


def test_cancelled_sleepers_are_skipped() -> None:
    async def scenario() -> int:
        clock = VirtualClock(T0)
        task = asyncio.create_task(clock.sleep(10))
        await clock.settle()
        task.cancel()
        await clock.advance(20)
        return clock.pending()

    assert asyncio.run(scenario()) == 0


def test_iso_round_trip_keeps_milliseconds() -> None:
    assert format_iso(T0 + 0.25) == "2027-01-15T08:00:00.250Z"
    assert parse_iso(format_iso(T0 + 0.25)) == pytest.approx(T0 + 0.25)


def test_offset_from_heartbeat_uses_the_round_trip_midpoint() -> None:
    clock = VirtualClock(T0, skew=-120)
    sync = ClockSync(clock)
    # Sent at local L, answered after a 2 s round trip; the server read its clock mid-way.
    sent = clock.time()
    server_time = format_iso(clock.true_time() + 1.0)
    sync.from_heartbeat(server_time, sent, sent + 2.0)
    assert sync.offset == pytest.approx(120.0)
    assert sync.precise
    assert sync.server_now() == pytest.approx(clock.true_time())


def test_date_header_is_used_until_a_heartbeat_estimate_exists() -> None:
    clock = VirtualClock(T0, skew=-120)
    sync = ClockSync(clock)
    sync.from_date_header(formatdate(T0, usegmt=True), clock.time())
    assert sync.offset == pytest.approx(120.5)  # whole seconds: assume mid-second
    sync.from_heartbeat(format_iso(T0), clock.time(), clock.time())
    assert sync.offset == pytest.approx(120.0)
    # Within 2 s of the precise estimate, the coarse header changes nothing...
    sync.from_date_header(formatdate(T0 + 1, usegmt=True), clock.time())
    assert sync.offset == pytest.approx(120.0)
    # ...but one that disagrees by more than 2 s is followed at once.
    sync.from_date_header(formatdate(T0 + 10, usegmt=True), clock.time())
    assert sync.offset == pytest.approx(130.5)
    assert not sync.precise


def test_a_wall_clock_step_does_not_move_server_time() -> None:
    # A Pi without RTC boots hours off; NTP then steps its wall clock. Server time is kept
    # against the monotonic clock, so the step changes the offset, not server time.
    clock = VirtualClock(T0, skew=-7200)
    sync = ClockSync(clock, MemoryStore())
    sync.from_heartbeat(format_iso(T0), clock.time(), clock.time())
    assert sync.server_now() == pytest.approx(T0)
    clock.skew = 0.0
    assert sync.server_now() == pytest.approx(T0)
    assert sync.offset == pytest.approx(0.0)
    assert sync.precise  # a Date header agreeing with it now changes nothing
    sync.from_date_header(formatdate(T0, usegmt=True), clock.time())
    assert sync.precise


def test_before_any_estimate_server_time_is_the_wall_clock() -> None:
    clock = VirtualClock(T0, skew=-50)
    sync = ClockSync(clock)
    clock.skew = 0.0  # NTP steps the clock before the server was ever reached
    assert sync.server_now() == pytest.approx(T0)


def test_malformed_date_headers_are_ignored() -> None:
    sync = ClockSync(VirtualClock(T0))
    for value in (None, "", "yesterday"):
        sync.from_date_header(value, T0)
    assert sync.offset == 0.0
    assert not sync.known


def test_the_offset_survives_a_reboot() -> None:
    store = MemoryStore()
    clock = VirtualClock(T0, skew=45)
    ClockSync(clock, store).from_heartbeat(format_iso(T0), clock.time(), clock.time())
    rebooted = ClockSync(clock, store)
    assert rebooted.known
    assert rebooted.offset == pytest.approx(-45.0)
