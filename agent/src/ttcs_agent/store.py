"""Everything the agent keeps across reboots: an injected `Store`.

`DiskStore` is the device's: JSON state files written atomically, audio by content hash with
resumable `.part` files, and the play-event queue in SQLite so a power cut loses nothing that
was written and sends nothing twice. `MemoryStore` has the same behaviour without the bytes,
for the simulator's thousands of agents.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

AUDIO_SUFFIX = ".mp3"
PART_SUFFIX = ".part"
TMP_SUFFIX = ".tmp"


class Store(Protocol):
    # JSON state (credential, device, manifest, alerts, offset, commands, ...)
    def load_json(self, name: str) -> Any: ...
    def save_json(self, name: str, data: Any) -> None: ...

    # Audio by SHA-256
    def has_audio(self, sha: str) -> bool: ...
    def audio_path(self, sha: str) -> Path | None: ...
    def partial_size(self, sha: str) -> int: ...
    def reset_partial(self, sha: str) -> None: ...
    def append_partial(self, sha: str, chunk: bytes) -> None: ...
    def finish_partial(self, sha: str) -> bool: ...
    def evict(self, keep: set[str]) -> int: ...
    def free_bytes(self) -> int: ...

    # Play-event queue
    def queue_put(self, event: dict[str, Any]) -> None: ...
    def queue_peek(self, limit: int) -> list[dict[str, Any]]: ...
    def queue_remove(self, ids: list[str]) -> None: ...
    def queue_len(self) -> int: ...

    # Open-play checkpoint (crash recovery)
    def play_open(self, record: dict[str, Any]) -> None: ...
    def play_alive(self, at: float) -> None: ...
    def open_play(self) -> dict[str, Any] | None: ...
    def play_close(self, event: dict[str, Any] | None) -> None: ...

    # Health
    @property
    def disk_full(self) -> bool: ...
    def flush(self) -> bool: ...
    def close(self) -> None: ...


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, or SQLite's SQLITE_FULL."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


Op = tuple[str, dict[str, Any] | None, Any]


def checkpoint_id(record: dict[str, Any] | None) -> tuple[str, Any] | None:
    """What identifies one open-play checkpoint: its item key and start."""
    return None if record is None else (str(record.get("key")), record.get("started_at"))


class _PendingQueue:
    """Queue operations that could not be written (full disk), kept in memory and retried.

    Entries are ("put", event, None) or ("close", event-or-None, checkpoint id): a close also
    clears the open-play checkpoint, in the same transaction as its event, when it is finally
    written, but only the checkpoint it closed (the id of the one open when it was asked for):
    a later play's checkpoint must survive a late write of an earlier close.
    """

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def events(self) -> list[dict[str, Any]]:
        return [event for _, event, _ in self.ops if event is not None]

    def remove(self, ids: set[str]) -> None:
        kept: list[Op] = []
        for kind, event, match in self.ops:
            if event is not None and event["event_id"] in ids:
                if kind == "close":
                    kept.append((kind, None, match))  # the checkpoint must still be cleared
                continue
            kept.append((kind, event, match))
        self.ops = kept


class _HoldsBackWhenFull:
    """The event-queue rules both stores share: an operation the disk cannot take (full) is
    kept in memory, in order, and written before the next one; nothing else is swallowed."""

    _pending: _PendingQueue

    def _checkpoint(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def _apply_op(self, kind: str, event: dict[str, Any] | None, match: Any) -> None:
        raise NotImplementedError

    def _do(self, kind: str, event: dict[str, Any] | None) -> None:
        match = checkpoint_id(self._checkpoint()) if kind == "close" else None
        self.flush()
        if self._pending.ops:  # still full: keep order, queue behind the earlier ones
            self._pending.ops.append((kind, event, match))
            return
        try:
            self._apply_op(kind, event, match)
        except (sqlite3.OperationalError, OSError) as exc:
            if not is_disk_full(exc):
                raise
            log.warning("disk full: play event kept in memory until it can be written")
            self._pending.ops.append((kind, event, match))

    def flush(self) -> bool:
        """Write what a full disk held back; True when nothing is left pending."""
        while self._pending.ops:
            kind, event, match = self._pending.ops[0]
            try:
                self._apply_op(kind, event, match)
            except (sqlite3.OperationalError, OSError) as exc:
                if not is_disk_full(exc):
                    raise
                return False
            self._pending.ops.pop(0)
        return True

    @property
    def disk_full(self) -> bool:
        return bool(self._pending.ops)

    def queue_put(self, event: dict[str, Any]) -> None:
        self._do("put", event)

    def play_close(self, event: dict[str, Any] | None) -> None:
        self._do("close", event)


class DiskStore(_HoldsBackWhenFull):
    """The device's storage under one directory (0700).

    Layout: `<name>.json` state files (0600), `audio/<sha>.mp3` verified audio,
    `audio/<sha>.part` downloads in progress, `queue.sqlite3` play events and the open-play
    checkpoint. File I/O is synchronous on purpose: writes are small, and a synchronous write
    cannot be interrupted half-way by a task cancellation (a power-cut drill).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_db_pages: int | None = None) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.audio_dir = self.path / "audio"
        self.audio_dir.mkdir(exist_ok=True)
        self._cleanup_tmp()
        self._pending = _PendingQueue()
        self._close_match: Any = None  # the checkpoint the close being written may clear
        self._db = sqlite3.connect(self.path / "queue.sqlite3", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " event_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (name TEXT PRIMARY KEY, value TEXT)")
        if max_db_pages is not None:
            # Caps the database: lets tests and drills hit SQLITE_FULL without filling a disk.
            self._db.execute(f"PRAGMA max_page_count={int(max_db_pages)}")
        self._hashes: dict[str, hashlib._Hash] = {}

    def _cleanup_tmp(self) -> None:
        """A crash between writing a temp file and renaming it leaves the temp: drop it."""
        for leftover in self.path.glob(f"*{TMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)

    # ---- JSON state -------------------------------------------------------------------------

    def _json_path(self, name: str) -> Path:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"bad state name {name!r}")
        return self.path / f"{name}.json"

    def load_json(self, name: str) -> Any:
        try:
            return json.loads(self._json_path(name).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, OSError) as exc:
            log.warning("state file %s unreadable (%s): ignored", name, exc)
            return None

    def write_tmp(self, name: str, data: Any) -> Path:
        """First half of an atomic write: the new content, flushed, in a temp file."""
        target = self._json_path(name)
        tmp = target.with_name(target.name + TMP_SUFFIX)
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                self._write(handle, payload)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def save_json(self, name: str, data: Any) -> None:
        """Atomic: readers (and a reboot) see the old file or the new one, never a mix."""
        tmp = self.write_tmp(name, data)
        os.replace(tmp, self._json_path(name))
        _fsync_dir(self.path)

    def _write(self, handle: Any, data: bytes) -> None:
        """Every file write goes through here (one place where a full disk shows up)."""
        handle.write(data)

    # ---- audio ------------------------------------------------------------------------------

    def _audio(self, sha: str, suffix: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"bad sha256 {sha!r}")
        return self.audio_dir / f"{sha}{suffix}"

    def has_audio(self, sha: str) -> bool:
        return self._audio(sha, AUDIO_SUFFIX).exists()

    def audio_path(self, sha: str) -> Path | None:
        path = self._audio(sha, AUDIO_SUFFIX)
        return path if path.exists() else None

    def partial_size(self, sha: str) -> int:
        try:
            return self._audio(sha, PART_SUFFIX).stat().st_size
        except FileNotFoundError:
            return 0

    def reset_partial(self, sha: str) -> None:
        self._audio(sha, PART_SUFFIX).unlink(missing_ok=True)

    def append_partial(self, sha: str, chunk: bytes) -> None:
        with self._audio(sha, PART_SUFFIX).open("ab") as handle:
            self._write(handle, chunk)

    def finish_partial(self, sha: str) -> bool:
        """Verify the download; a good one becomes `<sha>.mp3`, a bad one is deleted."""
        part = self._audio(sha, PART_SUFFIX)
        if not part.exists():
            return False
        if sha256_file(part) != sha:
            part.unlink(missing_ok=True)
            return False
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(part, self._audio(sha, AUDIO_SUFFIX))
        _fsync_dir(self.audio_dir)
        return True

    def evict(self, keep: set[str]) -> int:
        """Delete audio (and partial downloads) whose hash is not in `keep`; bytes freed."""
        freed = 0
        for path in self.audio_dir.iterdir():
            sha = path.name.split(".", 1)[0]
            if sha in keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
        return freed

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    # ---- event queue ------------------------------------------------------------------------

    def _insert(self, event: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO events (event_id, body) VALUES (?, ?)",
            (event["event_id"], json.dumps(event, ensure_ascii=False)),
        )

    def _apply_op(self, kind: str, event: dict[str, Any] | None, match: Any) -> None:
        # `_apply` keeps its two-argument signature (drills override it to fill the disk):
        # the checkpoint a close may clear travels beside it.
        self._close_match = match
        self._apply(kind, event)

    def _apply(self, kind: str, event: dict[str, Any] | None) -> None:
        """One queue operation in one transaction (an event and its checkpoint clear together)."""
        match = self._close_match
        with self._transaction():
            if event is not None:
                self._insert(event)
            if kind == "close" and match is not None and checkpoint_id(self._checkpoint()) == match:
                self._db.execute("DELETE FROM kv WHERE name IN ('open_play', 'last_alive')")

    def _checkpoint(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM kv WHERE name = 'open_play'").fetchone()
        return None if row is None else json.loads(row[0])

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLITE_FULL may already have rolled it back
                self._db.execute("ROLLBACK")
            raise

    def queue_peek(self, limit: int) -> list[dict[str, Any]]:
        self.flush()
        rows = self._db.execute(
            "SELECT body FROM events ORDER BY seq LIMIT ?", (int(limit),)
        ).fetchall()
        events = [json.loads(body) for (body,) in rows]
        return (events + self._pending.events())[:limit]

    def queue_remove(self, ids: list[str]) -> None:
        if not ids:
            return
        self._pending.remove(set(ids))
        with self._transaction():
            self._db.executemany("DELETE FROM events WHERE event_id = ?", [(i,) for i in ids])

    def queue_len(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(count) + len(self._pending.events())

    # ---- open-play checkpoint ---------------------------------------------------------------

    def _kv_set(self, name: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO kv (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value)),
        )

    def play_open(self, record: dict[str, Any]) -> None:
        # Earlier closes first: written after this checkpoint they would have to be matched
        # against it, and a power cut before they are written would lose their events.
        self.flush()
        try:
            with self._transaction():
                self._kv_set("open_play", record)
                self._kv_set("last_alive", record.get("started_at"))
        except (sqlite3.OperationalError, OSError) as exc:
            if not is_disk_full(exc):
                raise
            log.warning("disk full: open-play checkpoint not written")

    def play_alive(self, at: float) -> None:
        try:
            self._kv_set("last_alive", at)
        except (sqlite3.OperationalError, OSError) as exc:
            if not is_disk_full(exc):
                raise

    def open_play(self) -> dict[str, Any] | None:
        rows = dict(self._db.execute("SELECT name, value FROM kv").fetchall())
        if "open_play" not in rows:
            return None
        record: dict[str, Any] = json.loads(rows["open_play"])
        if rows.get("last_alive") is not None:
            record["last_alive"] = json.loads(rows["last_alive"])
        return record

    def close(self) -> None:
        self._db.close()


class MemoryStore(_HoldsBackWhenFull):
    """`Store` in memory for simulated fleets: same behaviour, no bytes kept.

    Audio is hashed as it arrives and checked like on disk, but only `sha -> size` is kept.
    `capacity` bounds the audio bytes (`free_bytes` and ENOSPC follow it); `full = True`
    makes every write fail as on a full disk, until it is set back to False.
    """

    def __init__(self, capacity: int = 32 * 1024**3) -> None:
        self.capacity = capacity
        self.full = False
        self._json: dict[str, str] = {}
        self._audio: dict[str, int] = {}
        self._partial: dict[str, tuple[Any, int]] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self._pending = _PendingQueue()
        self._open: dict[str, Any] | None = None

    def _check_space(self, size: int = 0) -> None:
        if self.full or self._used() + size > self.capacity:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    def _used(self) -> int:
        return sum(self._audio.values()) + sum(size for _, size in self._partial.values())

    def load_json(self, name: str) -> Any:
        raw = self._json.get(name)
        return None if raw is None else json.loads(raw)

    def save_json(self, name: str, data: Any) -> None:
        self._check_space()
        self._json[name] = json.dumps(data)  # a copy, like a file: later mutations do not leak

    def has_audio(self, sha: str) -> bool:
        return sha in self._audio

    def audio_path(self, sha: str) -> Path | None:
        return Path(f"/memory/{sha}{AUDIO_SUFFIX}") if sha in self._audio else None

    def partial_size(self, sha: str) -> int:
        return self._partial[sha][1] if sha in self._partial else 0

    def reset_partial(self, sha: str) -> None:
        self._partial.pop(sha, None)

    def append_partial(self, sha: str, chunk: bytes) -> None:
        self._check_space(len(chunk))
        digest, size = self._partial.get(sha) or (hashlib.sha256(), 0)
        digest.update(chunk)
        self._partial[sha] = (digest, size + len(chunk))

    def finish_partial(self, sha: str) -> bool:
        entry = self._partial.pop(sha, None)
        if entry is None or entry[0].hexdigest() != sha:
            return False
        self._audio[sha] = entry[1]
        return True

    def evict(self, keep: set[str]) -> int:
        freed = 0
        for table in (self._audio, self._partial):
            for sha in [s for s in table if s not in keep]:
                value = table.pop(sha)
                freed += value if isinstance(value, int) else value[1]
        return freed

    def free_bytes(self) -> int:
        return 0 if self.full else max(0, self.capacity - self._used())

    def _checkpoint(self) -> dict[str, Any] | None:
        return self._open

    def _apply_op(self, kind: str, event: dict[str, Any] | None, match: Any) -> None:
        self._check_space()
        if event is not None:
            self._events.setdefault(event["event_id"], copy.deepcopy(event))
        if kind == "close" and match is not None and checkpoint_id(self._open) == match:
            self._open = None

    def queue_peek(self, limit: int) -> list[dict[str, Any]]:
        self.flush()
        events = [copy.deepcopy(e) for e in self._events.values()]
        return (events + self._pending.events())[:limit]

    def queue_remove(self, ids: list[str]) -> None:
        self._pending.remove(set(ids))
        for event_id in ids:
            self._events.pop(event_id, None)

    def queue_len(self) -> int:
        return len(self._events) + len(self._pending.events())

    def play_open(self, record: dict[str, Any]) -> None:
        self.flush()  # earlier closes first (see DiskStore.play_open)
        if not self.full:
            self._open = {**record, "last_alive": record.get("started_at")}

    def play_alive(self, at: float) -> None:
        if self._open is not None and not self.full:
            self._open["last_alive"] = at

    def open_play(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._open)

    def close(self) -> None:
        return None
