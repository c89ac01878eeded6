"""Making sound: an injected `Player`.

`NullPlayer` plays silence on the agent's clock (tests, drills, the simulator, a headless
test bench); `SubprocessPlayer` runs a command-line player (mpv, ffplay, aplay) per item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .clock import Clock
from .schedule import PlayItem

__all__ = ["PRESETS", "NullPlayer", "PlayItem", "Player", "SubprocessPlayer", "player_command"]

log = logging.getLogger(__name__)


class Player(Protocol):
    async def start(self, item: PlayItem, path: Path | None, offset: float) -> None:
        """Start `item` `offset` seconds into its audio; returns once the sound has started."""
        ...

    async def stop(self) -> None: ...

    async def wait(self) -> None:
        """Return when the current audio ends by itself (never, for a looped item)."""
        ...


@dataclass
class PlayerRecord:
    action: str  # "start", "stop", "end", "tone"
    key: str
    at: float  # the clock's time()
    offset: float = 0.0


class NullPlayer:
    """Plays nothing, for the item's remaining duration on `clock`, and remembers it.

    `records` lists every start/stop/end (tests read it); `on_start(item, clock.time())` is
    called at the first "sample", which is how drills measure latency.
    """

    def __init__(
        self, clock: Clock, on_start: Callable[[PlayItem, float], None] | None = None
    ) -> None:
        self.clock = clock
        self.on_start = on_start
        self.records: list[PlayerRecord] = []
        self.volume = 100
        self.current: PlayItem | None = None
        self._ends_at: float | None = None
        self._stopped = asyncio.Event()

    async def start(self, item: PlayItem, path: Path | None, offset: float) -> None:
        if self.current is not None:
            await self.stop()
        now = self.clock.time()
        self.current = item
        self._stopped = asyncio.Event()
        self._ends_at = None if item.loop else now + max(0.0, item.duration - offset)
        self.records.append(PlayerRecord("start", item.key, now, offset))
        if self.on_start is not None:
            self.on_start(item, now)

    async def stop(self) -> None:
        if self.current is None:
            return
        self.records.append(PlayerRecord("stop", self.current.key, self.clock.time()))
        self.current = None
        self._ends_at = None
        self._stopped.set()

    async def wait(self) -> None:
        item, ends_at, stopped = self.current, self._ends_at, self._stopped
        if item is None or ends_at is None:
            # Nothing plays, or a loop: nothing will end by itself. (A fresh event each time:
            # an event belongs to the loop it was first awaited in.)
            await asyncio.Event().wait()
            return
        await self.clock.sleep(ends_at - self.clock.time())
        if self.current is item and not stopped.is_set():
            self.records.append(PlayerRecord("end", item.key, self.clock.time()))
            self.current = None
            return
        await asyncio.Event().wait()  # stopped meanwhile: it did not end by itself

    async def tone(self, seconds: float) -> None:
        self.records.append(PlayerRecord("tone", "test_tone", self.clock.time(), seconds))

    def starts(self) -> list[str]:
        return [r.key for r in self.records if r.action == "start"]


# Command templates: {path}, {offset} (seconds), {volume} (0-100). `loop` args go before {path}.
_QUIET_FFPLAY = ["ffplay", "-nodisp", "-autoexit", "-loglevel", "error"]
_QUIET_MPV = ["mpv", "--no-video", "--really-quiet"]
_TONE = "sine=frequency=1000:duration={seconds}"
PRESETS: dict[str, dict[str, list[str]]] = {
    "mpv": {
        "play": [*_QUIET_MPV, "--volume={volume}", "--start={offset}", "{path}"],
        "loop": ["--loop-file=inf"],
        "tone": [*_QUIET_MPV, f"av://lavfi:{_TONE}"],
    },
    "ffplay": {
        "play": [*_QUIET_FFPLAY, "-volume", "{volume}", "-ss", "{offset}", "{path}"],
        "loop": ["-loop", "0"],
        "tone": [*_QUIET_FFPLAY, "-f", "lavfi", _TONE],
    },
    # aplay plays WAV/raw only and cannot seek: for boards whose audio is pre-converted.
    "aplay": {"play": ["aplay", "-q", "{path}"], "loop": [], "tone": []},
}


def player_command(template: list[str], path: Path, offset: float, volume: int) -> list[str]:
    values = {"path": str(path), "offset": f"{offset:.3f}", "volume": str(volume)}
    return [part.format(**values) for part in template]


class SubprocessPlayer:
    """One child process per item; `stop` terminates it, then kills it after a grace period."""

    GRACE_S = 2.0

    def __init__(
        self,
        command: list[str],
        loop_args: list[str] | None = None,
        tone_command: list[str] | None = None,
    ) -> None:
        self.command = command
        self.loop_args = loop_args or []
        self.tone_command = tone_command or []
        self.volume = 100
        self._process: asyncio.subprocess.Process | None = None
        self._item: PlayItem | None = None
        # The exit status of the last play that ended by itself (non-zero: the player failed).
        self.exit_code: int | None = None

    @classmethod
    def preset(cls, name: str) -> SubprocessPlayer:
        preset = PRESETS[name]
        return cls(preset["play"], preset["loop"], preset["tone"])

    def _argv(self, item: PlayItem, path: Path, offset: float) -> list[str]:
        template = list(self.command)
        if item.loop and self.loop_args:
            where = next((i for i, p in enumerate(template) if "{path}" in p), len(template))
            template[where:where] = self.loop_args
        return player_command(template, path, offset, self.volume)

    async def start(self, item: PlayItem, path: Path | None, offset: float) -> None:
        await self.stop()
        self._item = item
        self.exit_code = None
        if path is None:
            return  # silence: nothing to run, wait() never returns until stop()
        argv = self._argv(item, path, offset)
        log.info("playing %s: %s", item.key, " ".join(argv))
        self._process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL
        )

    async def stop(self) -> None:
        process, self._process, self._item = self._process, None, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), self.GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def wait(self) -> None:
        process = self._process
        if process is None:
            await asyncio.Event().wait()
            return
        code = await process.wait()
        if self._process is not process:
            await asyncio.Event().wait()  # stopped, not ended by itself
        if code != 0:
            log.warning("player exited with status %s", code)
        self.exit_code = code
        self._process = None

    async def tone(self, seconds: float) -> None:
        if not self.tone_command:
            raise RuntimeError("this player has no tone command")
        argv = [p.format(seconds=seconds) for p in self.tone_command]
        process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
        await process.wait()
