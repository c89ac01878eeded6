"""DiskStore and MemoryStore: atomic state, verified audio, a queue that survives power cuts."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from agent_fakes import audio_bytes, sha_of
from ttcs_agent.store import DiskStore, MemoryStore, Store


def _event(n: int) -> dict[str, Any]:
    return {"event_id": f"E{n:04d}", "item_key": f"k{n}", "outcome": "completed"}


@pytest.fixture(params=["disk", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return DiskStore(tmp_path / "state") if request.param == "disk" else MemoryStore()


def test_json_round_trip(store: Store) -> None:
    assert store.load_json("manifest") is None
    store.save_json("manifest", {"etag": '"x"', "items": [1, 2]})
    assert store.load_json("manifest") == {"etag": '"x"', "items": [1, 2]}


def test_queue_is_ordered_deduplicated_and_removable(store: Store) -> None:
    for n in range(5):
        store.queue_put(_event(n))
    store.queue_put(_event(2))  # the same event twice (a retried write) is stored once
    assert store.queue_len() == 5
    assert [e["event_id"] for e in store.queue_peek(3)] == ["E0000", "E0001", "E0002"]
    store.queue_remove(["E0000", "E0002"])
    assert [e["event_id"] for e in store.queue_peek(10)] == ["E0001", "E0003", "E0004"]


def test_audio_is_verified_and_a_mismatch_deleted(store: Store) -> None:
    data = audio_bytes("x", 5000)
    sha = sha_of(data)
    store.append_partial(sha, data[:2000])
    assert store.partial_size(sha) == 2000
    assert not store.has_audio(sha)
    store.append_partial(sha, data[2000:])
    assert store.finish_partial(sha)
    assert store.has_audio(sha)
    assert store.audio_path(sha) is not None
    wrong = hashlib.sha256(b"other").hexdigest()
    store.append_partial(wrong, data)
    assert not store.finish_partial(wrong)
    assert store.partial_size(wrong) == 0
    assert not store.has_audio(wrong)


def test_evict_keeps_only_what_is_asked(store: Store) -> None:
    keep, drop = audio_bytes("keep", 100), audio_bytes("drop", 100)
    for data in (keep, drop):
        store.append_partial(sha_of(data), data)
        assert store.finish_partial(sha_of(data))
    assert store.evict({sha_of(keep)}) >= 100
    assert store.has_audio(sha_of(keep))
    assert not store.has_audio(sha_of(drop))


def test_open_play_checkpoint_closes_exactly_once(store: Store) -> None:
    store.play_open({"key": "k", "started_at": 100.0})
    store.play_alive(105.0)
    assert store.open_play() == {"key": "k", "started_at": 100.0, "last_alive": 105.0}
    store.play_close(_event(1))
    assert store.open_play() is None
    assert store.queue_len() == 1


def test_disk_files_layout_and_modes(tmp_path: Path) -> None:
    disk = DiskStore(tmp_path / "state")
    disk.save_json("credential", {"credential": "ttcsd_secret"})
    mode = stat.S_IMODE((tmp_path / "state" / "credential.json").stat().st_mode)
    assert mode == 0o600
    data = audio_bytes("y", 100)
    disk.append_partial(sha_of(data), data)
    assert (tmp_path / "state" / "audio" / f"{sha_of(data)}.part").exists()
    disk.finish_partial(sha_of(data))
    assert (tmp_path / "state" / "audio" / f"{sha_of(data)}.mp3").read_bytes() == data


def test_queue_and_checkpoint_survive_a_new_store_on_the_same_dir(tmp_path: Path) -> None:
    first = DiskStore(tmp_path)
    for n in range(3):
        first.queue_put(_event(n))
    first.play_open({"key": "k", "started_at": 10.0})
    first.play_alive(12.5)
    # No close(): the process dies here. A new process opens the same directory.
    second = DiskStore(tmp_path)
    assert [e["event_id"] for e in second.queue_peek(10)] == ["E0000", "E0001", "E0002"]
    assert second.open_play() == {"key": "k", "started_at": 10.0, "last_alive": 12.5}
    second.play_close(_event(3))
    third = DiskStore(tmp_path)
    assert third.open_play() is None
    assert third.queue_len() == 4


def test_a_crash_between_temp_write_and_rename_leaves_the_old_file(tmp_path: Path) -> None:
    disk = DiskStore(tmp_path)
    disk.save_json("manifest", {"version": "old"})
    tmp = disk.write_tmp("manifest", {"version": "new"})  # the crash comes before os.replace
    assert tmp.exists()
    rebooted = DiskStore(tmp_path)
    assert rebooted.load_json("manifest") == {"version": "old"}
    assert not tmp.exists()  # the leftover is cleaned at start


def test_a_full_database_keeps_events_in_memory_then_writes_them(tmp_path: Path) -> None:
    disk = DiskStore(tmp_path, max_db_pages=8)
    big = "x" * 3000
    written = 0
    while not disk.disk_full:
        disk.queue_put({**_event(written), "title": big})
        written += 1
        assert written < 200, "the page cap never filled the database"
    assert disk.queue_len() == written  # nothing lost: the overflow waits in memory
    assert [e["event_id"] for e in disk.queue_peek(written)][-1] == f"E{written - 1:04d}"
    disk.play_close(_event(999))  # a checkpoint close is held back too, not crashed on
    sent = [e["event_id"] for e in disk.queue_peek(written)[:-1]]
    disk.queue_remove(sent)  # the uploader frees room...
    assert disk.flush()
    assert not disk.disk_full
    assert DiskStore(tmp_path).queue_len() == 2


class _FullDisk(DiskStore):
    """A disk that fills up: the OS's ENOSPC, raised where a real write would raise it."""

    full = False

    def _write(self, handle: Any, data: bytes) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super()._write(handle, data)


def test_enospc_on_state_and_audio_raises_and_keeps_the_old_state(tmp_path: Path) -> None:
    disk = _FullDisk(tmp_path)
    disk.save_json("manifest", {"v": 1})
    disk.full = True
    with pytest.raises(OSError, match="No space left") as raised:
        disk.save_json("manifest", {"v": 2})
    assert raised.value.errno == errno.ENOSPC
    assert disk.load_json("manifest") == {"v": 1}
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(OSError, match="No space left"):
        disk.append_partial(sha_of(b"z"), b"z")


def test_memory_store_simulates_a_full_disk() -> None:
    memory = MemoryStore(capacity=1000)
    data = audio_bytes("m", 800)
    memory.append_partial(sha_of(data), data)
    with pytest.raises(OSError, match="No space left"):
        memory.append_partial(sha_of(b"more"), b"m" * 300)
    assert memory.free_bytes() == 200
    memory.full = True
    memory.queue_put(_event(1))
    assert memory.disk_full
    assert memory.queue_len() == 1
    memory.full = False
    assert memory.flush()
    assert not memory.disk_full
    assert memory.queue_len() == 1
