"""Emergency pre-emption (docs/radio.md), table-driven: each case is a plan, the emergencies that
reach the device, and the timeline the device must play. Times are "HH:MM:SS" on one UTC day."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

import pytest

from thongtincoso.radio.timeline import EmergencyWindow, Entry, Item, resolve

DAY = dt.datetime(2026, 5, 4, tzinfo=dt.UTC)


def at(hms: str) -> dt.datetime:
    h, m, s = (int(x) for x in hms.split(":"))
    return DAY + dt.timedelta(hours=h, minutes=m, seconds=s)


def item(key: str, start: str, seconds: float, session_end: str = "06:30:00", **kw: Any) -> Item:
    return Item(key=key, start=at(start), duration=seconds, session_end=at(session_end), **kw)


def filler(key: str, start: str, end: str = "06:30:00") -> Item:
    return Item(
        key=key,
        start=at(start),
        duration=30,
        session_end=at(end),
        kind="filler",
        end=at(end),
    )


def emergency(
    key: str, start: str, seconds: float, repeat: int = 1, interval: float = 0, stopped: str = ""
) -> EmergencyWindow:
    return EmergencyWindow(
        key=key,
        start=at(start),
        duration=seconds,
        repeat=repeat,
        interval=interval,
        stopped_at=at(stopped) if stopped else None,
    )


def table(entries: list[Entry]) -> list[tuple[str, str, str, str]]:
    return [(e.key, f"{e.start:%H:%M:%S}", f"{e.end:%H:%M:%S}", e.status) for e in entries]


CASES = [
    pytest.param(
        [item("a", "06:00:00", 60), item("b", "06:01:00", 60), filler("f", "06:02:00")],
        [],
        "restart",
        [
            ("a", "06:00:00", "06:01:00", "planned"),
            ("b", "06:01:00", "06:02:00", "planned"),
            ("f", "06:02:00", "06:30:00", "planned"),
        ],
        id="no-emergency",
    ),
    pytest.param(
        [item("a", "06:00:00", 60), item("b", "17:00:00", 60, session_end="17:30:00")],
        [emergency("E", "10:00:00", 120)],
        "restart",
        [
            ("a", "06:00:00", "06:01:00", "planned"),
            ("E:1", "10:00:00", "10:02:00", "planned"),
            ("b", "17:00:00", "17:01:00", "planned"),
        ],
        id="emergency-in-a-gap",
    ),
    pytest.param(
        [item("a", "06:00:00", 120), item("b", "06:02:00", 60)],
        [emergency("E", "06:01:00", 30)],
        "restart",
        [
            ("a", "06:00:00", "06:01:00", "preempted"),
            ("E:1", "06:01:00", "06:01:30", "planned"),
            ("a#r", "06:01:30", "06:03:30", "planned"),
            ("b", "06:03:30", "06:04:30", "planned"),
        ],
        id="mid-item-restart",
    ),
    pytest.param(
        [item("a", "06:00:00", 120), item("b", "06:02:00", 60)],
        [emergency("E", "06:01:00", 30)],
        "skip",
        [
            ("a", "06:00:00", "06:01:00", "preempted"),
            ("E:1", "06:01:00", "06:01:30", "planned"),
            ("b", "06:02:00", "06:03:00", "planned"),
        ],
        id="mid-item-skip",
    ),
    pytest.param(
        [item("a", "06:00:00", 120, session_end="06:03:00")],
        [emergency("E", "06:01:00", 30)],
        "restart",
        [
            ("a", "06:00:00", "06:01:00", "preempted"),
            ("E:1", "06:01:00", "06:01:30", "planned"),
            ("a#r", "06:01:30", "06:03:30", "dropped"),
        ],
        id="restart-does-not-fit-dropped",
    ),
    pytest.param(
        [
            item("a", "06:00:00", 60, session_end="06:05:00"),
            item("b", "06:01:00", 60, session_end="06:05:00"),
            item("c", "06:02:00", 60, session_end="06:05:00"),
            item("d", "06:03:00", 60, session_end="06:05:00"),
            item("e", "06:04:00", 30, session_end="06:05:00"),
        ],
        [emergency("E", "06:00:30", 90)],
        "skip",
        [
            ("a", "06:00:00", "06:00:30", "preempted"),
            ("E:1", "06:00:30", "06:02:00", "planned"),
            ("b", "06:02:00", "06:03:00", "planned"),
            ("c", "06:03:00", "06:04:00", "planned"),
            ("d", "06:04:00", "06:05:00", "planned"),
            # The cascade reaches the session end: the rest is dropped, even a short item.
            ("e", "06:05:00", "06:05:30", "dropped"),
        ],
        id="cascade-shift-then-drop",
    ),
    pytest.param(
        [
            item("normal", "06:00:00", 60, position=2),
            item("prio", "06:00:00", 60, priority="priority", position=1),
            item("emer", "06:00:00", 60, priority="emergency", position=0),
        ],
        [],
        "restart",
        [
            ("emer", "06:00:00", "06:01:00", "planned"),
            ("prio", "06:01:00", "06:02:00", "planned"),
            ("normal", "06:02:00", "06:03:00", "planned"),
        ],
        id="priority-collision-planned-order-no-overlap",
    ),
    pytest.param(
        [
            item("p1", "06:00:00", 60, priority="priority", position=0),
            item("p2", "06:00:30", 60, priority="priority", position=1),
        ],
        [emergency("E", "06:00:10", 20)],
        "restart",
        [
            ("p1", "06:00:00", "06:00:10", "preempted"),
            ("E:1", "06:00:10", "06:00:30", "planned"),
            ("p1#r", "06:00:30", "06:01:30", "planned"),
            ("p2", "06:01:30", "06:02:30", "planned"),
        ],
        id="priority-items-keep-order-after-emergency",
    ),
    pytest.param(
        [item("a", "06:00:00", 600)],
        [emergency("OLD", "06:01:00", 60, repeat=2, interval=30), emergency("NEW", "06:01:20", 20)],
        "restart",
        [
            ("a", "06:00:00", "06:01:00", "preempted"),
            ("OLD:1", "06:01:00", "06:01:20", "preempted"),
            ("NEW:1", "06:01:20", "06:01:40", "planned"),
            ("OLD:1", "06:01:40", "06:02:40", "planned"),
            ("OLD:2", "06:03:10", "06:04:10", "planned"),
            ("a#r", "06:04:10", "06:14:10", "planned"),
        ],
        id="emergency-during-emergency",
    ),
    pytest.param(
        [],
        [
            emergency("E1", "06:00:00", 60),
            emergency("E2", "06:00:10", 60),
            emergency("E3", "06:00:20", 10),
        ],
        "restart",
        [
            ("E1:1", "06:00:00", "06:00:10", "preempted"),
            ("E2:1", "06:00:10", "06:00:20", "preempted"),
            ("E3:1", "06:00:20", "06:00:30", "planned"),
            ("E2:1", "06:00:30", "06:01:30", "planned"),
            ("E1:1", "06:01:30", "06:02:30", "planned"),
        ],
        id="third-emergency-nested",
    ),
    pytest.param(
        [],
        [emergency("OLD", "06:00:00", 60, repeat=3, interval=60), emergency("NEW", "06:01:10", 20)],
        "restart",
        [
            ("OLD:1", "06:00:00", "06:01:00", "planned"),
            # NEW arrives during OLD's pause: nothing is cut, OLD's next repetition waits.
            ("NEW:1", "06:01:10", "06:01:30", "planned"),
            ("OLD:2", "06:02:00", "06:03:00", "planned"),
            ("OLD:3", "06:04:00", "06:05:00", "planned"),
        ],
        id="newer-during-older-pause",
    ),
    pytest.param(
        [],
        [
            emergency("OLD", "06:00:00", 60, repeat=3, interval=0, stopped="06:00:50"),
            emergency("NEW", "06:00:30", 60),
        ],
        "restart",
        [
            ("OLD:1", "06:00:00", "06:00:30", "preempted"),
            # OLD was stopped while NEW played: it does not come back.
            ("NEW:1", "06:00:30", "06:01:30", "planned"),
        ],
        id="older-stopped-while-preempted",
    ),
    pytest.param(
        [item("a", "06:00:00", 60), item("b", "06:01:00", 60), item("c", "06:02:00", 60)],
        [emergency("E", "06:00:30", 60, repeat=5, interval=60, stopped="06:01:00")],
        "restart",
        [
            ("a", "06:00:00", "06:00:30", "preempted"),
            ("E:1", "06:00:30", "06:01:00", "preempted"),
            ("a#r", "06:01:00", "06:02:00", "planned"),
            ("b", "06:02:00", "06:03:00", "planned"),
            ("c", "06:03:00", "06:04:00", "planned"),
        ],
        id="stopped-early-schedule-resumes",
    ),
    pytest.param(
        [item("a", "06:00:00", 60), item("b", "06:10:00", 60)],
        [emergency("E", "06:00:00", 60, repeat=3, interval=120, stopped="06:04:00")],
        "restart",
        [
            ("E:1", "06:00:00", "06:01:00", "planned"),
            # Stopped as repetition 2 ends: it played in full, the third never starts.
            ("E:2", "06:03:00", "06:04:00", "planned"),
            ("a", "06:04:00", "06:05:00", "planned"),
            ("b", "06:10:00", "06:11:00", "planned"),
        ],
        id="stopped-as-a-repetition-ends",
    ),
    pytest.param(
        [item("a", "06:00:00", 30), item("b", "06:20:00", 30)],
        [emergency("E", "06:00:00", 60, repeat=3, interval=90)],
        "restart",
        [
            ("E:1", "06:00:00", "06:01:00", "planned"),
            ("E:2", "06:02:30", "06:03:30", "planned"),
            ("E:3", "06:05:00", "06:06:00", "planned"),
            # Occupied from 06:00:00 to the end of the last repetition, pauses included.
            ("a", "06:06:00", "06:06:30", "planned"),
            ("b", "06:20:00", "06:20:30", "planned"),
        ],
        id="repeat-interval-arithmetic",
    ),
    pytest.param(
        [item("a", "06:00:00", 60), item("b", "06:01:00", 60), filler("f", "06:02:00")],
        [emergency("E", "05:58:00", 60, repeat=2, interval=60)],
        "restart",
        [
            ("E:1", "05:58:00", "05:59:00", "planned"),
            ("E:2", "06:00:00", "06:01:00", "planned"),
            ("a", "06:01:00", "06:02:00", "planned"),
            ("b", "06:02:00", "06:03:00", "planned"),
            ("f", "06:03:00", "06:30:00", "planned"),
        ],
        id="emergency-before-session-ends-inside",
    ),
    pytest.param(
        [item("a", "06:00:00", 60), filler("f", "06:01:00")],
        [emergency("E", "06:10:00", 60)],
        "restart",
        [
            ("a", "06:00:00", "06:01:00", "planned"),
            ("f", "06:01:00", "06:10:00", "preempted"),
            ("E:1", "06:10:00", "06:11:00", "planned"),
        ],
        id="filler-cut-never-restarted",
    ),
    pytest.param(
        [item("a", "06:00:00", 60), item("b", "06:01:00", 60)],
        [emergency("E", "06:00:00", 30)],
        "restart",
        [
            ("E:1", "06:00:00", "06:00:30", "planned"),
            ("a", "06:00:30", "06:01:30", "planned"),
            ("b", "06:01:30", "06:02:30", "planned"),
        ],
        id="emergency-at-item-start-shifts-not-preempts",
    ),
    pytest.param(
        [item("a", "06:00:00", 120)],
        [emergency("E1", "06:00:30", 10), emergency("E2", "06:01:00", 10)],
        "restart",
        [
            ("a", "06:00:00", "06:00:30", "preempted"),
            ("E1:1", "06:00:30", "06:00:40", "planned"),
            ("a#r", "06:00:40", "06:01:00", "preempted"),
            ("E2:1", "06:01:00", "06:01:10", "planned"),
            ("a#r2", "06:01:10", "06:03:10", "planned"),
        ],
        id="restart-preempted-again",
    ),
]


@pytest.mark.parametrize(("items", "emergencies", "resume", "expected"), CASES)
def test_resolve(
    items: list[Item],
    emergencies: list[EmergencyWindow],
    resume: Any,
    expected: list[tuple[str, str, str, str]],
) -> None:
    assert table(resolve(items, emergencies, resume=resume)) == expected


def test_shifted_entries_remember_their_planned_start() -> None:
    entries = resolve([item("a", "06:00:00", 60)], [emergency("E", "06:00:00", 30)])
    shifted = next(e for e in entries if e.key == "a")
    assert shifted.extra["planned_start"] == at("06:00:00")
    assert shifted.start == at("06:00:30")


@pytest.mark.parametrize("seed", range(40))
def test_random_plans_never_overlap_and_stay_in_their_sessions(seed: int) -> None:
    rng = random.Random(seed)
    items: list[Item] = []
    for session in range(3):
        begin = DAY + dt.timedelta(hours=6 + session * 5)
        end = begin + dt.timedelta(minutes=rng.randint(5, 30))
        cursor = begin
        for n in range(rng.randint(0, 6)):
            length = rng.randint(10, 400)
            if cursor + dt.timedelta(seconds=length) > end:
                break
            items.append(Item(f"s{session}-{n}", cursor, length, end, position=n))
            cursor += dt.timedelta(seconds=length)
        if cursor < end and rng.random() < 0.5:
            items.append(Item(f"s{session}-f", cursor, 30, end, kind="filler", end=end))
    emergencies = [
        EmergencyWindow(
            f"E{n}",
            DAY + dt.timedelta(hours=5, seconds=rng.randint(0, 12 * 3600)),
            rng.randint(5, 300),
            rng.randint(1, 4),
            rng.randint(0, 200),
            stopped_at=(
                DAY + dt.timedelta(hours=5, seconds=rng.randint(0, 12 * 3600))
                if rng.random() < 0.3
                else None
            ),
        )
        for n in range(rng.randint(0, 5))
    ]
    entries = resolve(items, emergencies, resume=rng.choice(["restart", "skip"]))
    played = [e for e in entries if e.status != "dropped"]
    for earlier, later in itertools.pairwise(played):
        assert earlier.end <= later.start, (earlier, later)
    for entry in played:
        assert entry.start < entry.end
    by_key = {i.key: i for i in items}
    for entry in played:
        if entry.kind != "emergency":
            source = by_key[entry.key.split("#")[0]]
            assert source.start <= entry.start
            assert entry.end <= source.session_end
    # Every emergency that was not stopped before it began plays all its repetitions in full.
    for window in emergencies:
        if window.stopped_at is None:
            full = [
                e for e in entries if e.key.startswith(f"{window.key}:") and e.status == "planned"
            ]
            assert len(full) == window.repeat
