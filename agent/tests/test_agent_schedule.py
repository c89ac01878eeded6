"""The scheduling rules (ttcs_agent.schedule), table-driven: pure functions, no I/O."""

from __future__ import annotations

import pytest
from agent_fakes import T0, audio_bytes, item, notice
from ttcs_agent.schedule import (
    Current,
    choose,
    item_from_dict,
    items_from_manifest,
    manifest_stops,
    merge_items,
    needed_audio,
    notice_items,
    notice_reaches,
)

A = audio_bytes("a")
B = audio_bytes("b")
E = audio_bytes("e")


def _items(*raws: dict) -> list:
    return [item_from_dict(raw) for raw in raws]


BULLETIN = item("s:d:1", T0, 40, A)
LOOPED = item("s:d:filler", T0, 60, B, end=T0 + 600, kind="filler", loop=True)


@pytest.mark.parametrize(
    ("raw", "now", "key", "offset"),
    [
        (BULLETIN, T0 - 1, None, None),  # not yet
        (BULLETIN, T0, "s:d:1", 0.0),  # on time
        (BULLETIN, T0 + 12.5, "s:d:1", 12.5),  # reboot catch-up: from now - start
        (BULLETIN, T0 + 40, None, None),  # its end has passed
        ({**BULLETIN, "status": "preempted"}, T0 + 5, "s:d:1", 5.0),  # plays until its end
        ({**BULLETIN, "status": "dropped"}, T0 + 5, None, None),  # never played
        ({**BULLETIN, "offset": 3.0}, T0 + 2, "s:d:1", 5.0),  # the manifest's offset adds
        (LOOPED, T0 + 130, "s:d:filler", 10.0),  # a loop wraps around its duration
        # the window is longer than the audio: past the audio's end there is nothing to hear
        (item("s:d:2", T0, 30, A, end=T0 + 100), T0 + 50, None, None),
    ],
)
def test_what_plays_now(raw: dict, now: float, key: str | None, offset: float | None) -> None:
    choice = choose(_items(raw), now, done=set())
    assert (choice.item.key if choice.item else None) == key
    if offset is not None:
        assert choice.offset == pytest.approx(offset)


def test_completed_items_are_not_played_again() -> None:
    assert choose(_items(BULLETIN), T0 + 5, done={"s:d:1"}).item is None


def test_items_without_their_audio_wait_for_it() -> None:
    items = _items(BULLETIN)
    assert choose(items, T0 + 5, set(), ready=set()).item is None
    assert choose(items, T0 + 5, set(), ready={items[0].sha256}).item is not None


def test_wake_at_is_the_next_start_or_the_current_end() -> None:
    items = _items(BULLETIN, item("s:d:2", T0 + 100, 20, B))
    assert choose(items, T0 - 10, set()).wake_at == T0
    assert choose(items, T0 + 1, set()).wake_at == T0 + 40
    assert choose(items, T0 + 50, set()).wake_at == T0 + 100
    assert choose(items, T0 + 150, set()).wake_at is None


EMERGENCY = item("emergency:1:1", T0 + 10, 30, E, kind="emergency", emergency=(1, 1, 1))


@pytest.mark.parametrize(
    ("now", "offset", "until"),
    [
        (T0 + 10, 0.0, T0 + 40),  # on time
        (T0 + 10.4, 0.4, T0 + 40),  # within half a second: joined like any item
        (T0 + 12, 0.0, T0 + 42),  # learned late: from the beginning, heard whole
        (T0 + 39, 0.0, T0 + 69),  # even one second before its listed end
    ],
)
def test_a_late_emergency_plays_from_the_beginning(now: float, offset: float, until: float) -> None:
    choice = choose(_items(EMERGENCY), now, set())
    assert choice.item is not None
    assert choice.item.key == "emergency:1:1"
    assert choice.offset == pytest.approx(offset)
    assert choice.until == pytest.approx(until)


def test_an_emergency_preempts_what_plays() -> None:
    items = _items(BULLETIN, EMERGENCY)
    choice = choose(items, T0 + 10, set(), Current("s:d:1", T0 + 40))
    assert choice.item is not None
    assert choice.item.key == "emergency:1:1"
    assert not choice.keep


def test_the_current_item_is_kept_until_its_end() -> None:
    items = _items(BULLETIN)
    assert choose(items, T0 + 20, set(), Current("s:d:1", T0 + 40)).keep
    assert not choose(items, T0 + 40, set(), Current("s:d:1", T0 + 40)).keep


def test_a_late_emergency_keeps_playing_past_its_listed_end() -> None:
    # Started late at T0+12 from the beginning: it must run to T0+42, not stop at T0+40.
    choice = choose(_items(EMERGENCY), T0 + 41, set(), Current("emergency:1:1", T0 + 42))
    assert choice.keep
    assert choice.until == T0 + 42


def test_repetitions_of_one_emergency_do_not_cut_each_other() -> None:
    rep1 = item("emergency:1:1", T0, 30, E, kind="emergency", emergency=(1, 1, 2))
    rep2 = item("emergency:1:2", T0 + 31, 30, E, kind="emergency", emergency=(1, 2, 2))
    # rep 1 started 5 s late and still plays when rep 2 is due: rep 2 waits, then plays whole.
    items = _items(rep1, rep2)
    assert choose(items, T0 + 32, set(), Current("emergency:1:1", T0 + 35)).keep
    after = choose(items, T0 + 35, {"emergency:1:1"})
    assert after.item is not None
    assert after.item.key == "emergency:1:2"
    assert after.offset == 0.0


def test_a_newer_emergency_preempts_an_older_one() -> None:
    older = item("emergency:1:1", T0, 60, E, kind="emergency", emergency=(1, 1, 1))
    newer = item("emergency:2:1", T0 + 20, 30, B, kind="emergency", emergency=(2, 1, 1))
    choice = choose(_items(older, newer), T0 + 20, set(), Current("emergency:1:1", T0 + 60))
    assert choice.item is not None
    assert choice.item.key == "emergency:2:1"
    assert not choice.keep


def test_notice_overlays_repetitions_with_the_manifests_keys() -> None:
    raw = notice(7, T0, E, duration=30, repeat=3, interval=10)
    reps = notice_items(raw)
    assert [r.key for r in reps] == ["emergency:7:1", "emergency:7:2", "emergency:7:3"]
    assert [r.start - T0 for r in reps] == [0, 40, 80]
    assert all(r.is_emergency and r.end - r.start == 30 for r in reps)
    assert notice_items({**raw, "state": "finished"}) == []


def test_manifest_items_replace_the_overlay_without_replay() -> None:
    raw = notice(7, T0, E, duration=30, repeat=2, interval=10)
    manifest_reps = [
        item("emergency:7:1", T0, 30, E, kind="emergency", emergency=(7, 1, 2)),
        item("emergency:7:2", T0 + 40, 30, E, kind="emergency", emergency=(7, 2, 2)),
    ]
    merged = merge_items(items_from_manifest({"items": manifest_reps}), [raw], {}, T0)
    assert [i.key for i in merged] == ["emergency:7:1", "emergency:7:2"]  # no duplicates
    # Rep 1 is playing (started from the overlay): the manifest's rep 1 is the same item.
    choice = choose(merged, T0 + 5, set(), Current("emergency:7:1", T0 + 30))
    assert choice.keep
    # Rep 1 completed: it is not played again even though its window is still open.
    assert choose(merged, T0 + 29, {"emergency:7:1"}).item is None


@pytest.mark.parametrize("state", ["stopped", "cancelled"])
def test_a_stopped_notice_removes_what_had_not_ended(state: str) -> None:
    raw = notice(7, T0, E, duration=30, repeat=3, interval=10, state=state, stopped_at=T0 + 50)
    merged = merge_items(_items(BULLETIN), [raw], {}, T0 + 60)
    assert [i.key for i in merged] == ["s:d:1"]
    # Its repetitions coming from the manifest are cut the same way.
    reps = [
        item(f"emergency:7:{n}", T0 + (n - 1) * 40, 30, E, kind="emergency", emergency=(7, n, 3))
        for n in (1, 2, 3)
    ]
    merged = merge_items(_items(*reps), [raw], {}, T0 + 60)
    assert [i.key for i in merged] == ["emergency:7:1"]  # ended before the stop: history
    # The current repetition vanished from the plan: it is no longer kept.
    assert not choose(merged, T0 + 51, set(), Current("emergency:7:2", T0 + 70)).keep


def test_manifest_emergencies_stopped_stop_their_items() -> None:
    manifest = {
        "items": [item("emergency:3:1", T0, 60, E, kind="emergency", emergency=(3, 1, 1))],
        "emergencies": [{"id": 3, "state": "stopped", "stopped_at": "2027-01-15T08:00:10Z"}],
    }
    stops = manifest_stops(manifest)
    assert list(stops) == [3]
    assert merge_items(items_from_manifest(manifest), [], stops, T0 + 20) == []


def test_notice_reaches_by_zone_commune_or_province() -> None:
    raw = notice(1, T0, E, duration=1, targets={"provinces": ["01"], "communes": [], "zones": []})
    assert notice_reaches(raw, ["00070.001", "00070", "01"])
    assert not notice_reaches(raw, ["00080.001", "00080", "02"])
    zone = notice(1, T0, E, duration=1, targets={"zones": ["00070.001"]})
    assert notice_reaches(zone, ["00070.001", None, None])


def test_needed_audio_puts_emergencies_first_then_soonest() -> None:
    items = _items(
        item("s:d:3", T0 + 300, 10, A),
        item("s:d:2", T0 + 100, 10, B),
        item("emergency:1:1", T0 + 500, 10, E, kind="emergency", emergency=(1, 1, 1)),
        item("s:d:0", T0 - 100, 10, audio_bytes("old")),  # over: not needed
        item("s:d:4", T0 + 400, 10, B),  # same audio as s:d:2: fetched once
    )
    assert [i.key for i in needed_audio(items, T0)] == ["emergency:1:1", "s:d:2", "s:d:3"]


# A 20 s warning repeated 3 times, 60 s apart: repetitions at T0, T0 + 80 and T0 + 160.
WARNING = notice(9, T0, E, duration=20, repeat=3, interval=60)


@pytest.mark.parametrize(
    ("now", "key"),
    [
        (T0 + 30, "emergency:9:1"),  # heard of after rep 1 ended: rep 1 now, not silence until 80
        (T0 + 79, "emergency:9:1"),  # still before rep 2
        (T0 + 85, "emergency:9:2"),  # rep 2 has begun: rep 2 (from the beginning), not rep 1
        (T0 + 180 + 119, "emergency:9:3"),  # the last one: up to the grace after its end
        (T0 + 180 + 121, None),  # over: an old warning is not played an hour later
    ],
)
def test_a_repetition_never_heard_starts_late_until_the_next_one(now: float, key: str) -> None:
    merged = merge_items([], [WARNING], {}, now)
    choice = choose(merged, now, set())
    assert (choice.item.key if choice.item else None) == key
    if key is not None:
        assert choice.offset == 0.0  # heard whole
        assert choice.until == pytest.approx(now + 20)


def test_a_late_repetition_needs_its_audio_and_is_fetched() -> None:
    merged = merge_items([], [WARNING], {}, T0 + 30)
    assert [i.key for i in needed_audio(merged, T0 + 30)] == ["emergency:9:1"]
    assert choose(merged, T0 + 30, set(), ready=set()).item is None


def test_a_repetition_heard_is_not_repeated_late() -> None:
    merged = merge_items([], [WARNING], {}, T0 + 30)
    assert choose(merged, T0 + 30, {"emergency:9:1"}).item is None


def test_nothing_of_a_stopped_emergency_starts_late() -> None:
    stopped = {**WARNING, "state": "stopped", "stopped_at": WARNING["started_at"]}
    merged = merge_items([], [stopped], {}, T0 + 30)
    assert choose(merged, T0 + 30, set()).item is None
    # Stopped by the manifest at T0 + 25 (rep 1 had ended): rep 1 is history, not a late play.
    reps = notice_items(WARNING)
    merged = merge_items(reps, [], {9: T0 + 25}, T0 + 30)
    assert choose(merged, T0 + 30, set()).item is None
