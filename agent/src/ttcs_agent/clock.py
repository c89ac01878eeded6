"""Time as the agent sees it: an injected clock, and the server-time offset kept against it.

Every wait in the agent goes through a `Clock`, so the same code runs in real time on a device
and in virtual time in tests and fault drills (thousands of agents, hours of schedule, seconds
of CPU).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time as _time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .store import Store

# Drift below this is noise (one heartbeat round trip); above, the stored offset is rewritten.
_PERSIST_THRESHOLD_S = 0.05
# A `Date` header has one-second resolution: it may only overrule a heartbeat estimate when it
# disagrees by more than this (the local clock was stepped, e.g. by NTP or a dead RTC battery).
DATE_DISAGREEMENT_S = 2.0


class Clock(Protocol):
    def time(self) -> float:
        """The device's LOCAL wall clock, epoch seconds (may be wrong)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock of a real device."""

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        """Never stepped (NTP, a dead RTC): what the server-time offset is kept against."""
        return _time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A discrete-event clock: sleeping costs no real time, `advance` moves time forward.

    `skew` is how wrong the device's local clock is (local = true + skew); drills may change it
    at any moment to simulate a clock step. Waits are measured in true time: a clock step does
    not shorten a sleep that is already running (like `asyncio.sleep` on a monotonic clock).
    """

    # Guards against code that spins with `sleep(0)` forever: settle() would never return.
    MAX_SETTLE_ROUNDS = 1_000_000

    def __init__(self, start: float, skew: float = 0.0) -> None:
        self._now = float(start)
        self.skew = float(skew)
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def true_time(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self.skew

    def monotonic(self) -> float:
        """Like `time.monotonic()`: unaffected by `skew` changes (clock steps)."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self._now + seconds, next(self._seq), future))
        await future  # a cancelled sleeper leaves a cancelled future: run_until skips it

    def pending(self) -> int:
        """How many sleepers are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, f in self._waiters if not f.done())

    def next_deadline(self) -> float | None:
        live = [d for d, _, f in self._waiters if not f.done()]
        return min(live) if live else None

    async def settle(self) -> None:
        """Let every ready task run until the event loop has nothing left to do right now.

        There is no public asyncio API for "the loop is idle"; `loop._ready` (the deque of
        callbacks due on the next iteration) is the only reliable signal. After our own
        `sleep(0)` resumes, anything still in it was scheduled by other tasks meanwhile.
        Code under virtual time must not do real I/O (drills use an in-process transport),
        otherwise its completions would arrive after we declared the loop idle.
        """
        loop = asyncio.get_running_loop()
        for _ in range(self.MAX_SETTLE_ROUNDS):
            await asyncio.sleep(0)
            if not loop._ready:  # type: ignore[attr-defined]
                return
        raise RuntimeError("VirtualClock.settle: tasks keep scheduling work (a busy loop?)")

    async def advance(self, seconds: float) -> None:
        await self.run_until(self._now + seconds)

    async def run_until(self, true_t: float) -> None:
        """Run every sleeper due up to `true_t` in deadline order, then set time to `true_t`."""
        await self.settle()
        while self._waiters and self._waiters[0][0] <= true_t:
            deadline = self._waiters[0][0]
            self._now = max(self._now, deadline)
            while self._waiters and self._waiters[0][0] <= deadline:
                _, _, future = heapq.heappop(self._waiters)
                if not future.done():
                    future.set_result(None)
            await self.settle()
        self._now = max(self._now, true_t)
        await self.settle()


def parse_iso(value: str) -> float:
    """An ISO 8601 UTC time ("...Z") as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def format_iso(epoch: float) -> str:
    """Epoch seconds as the protocol's ISO 8601 with milliseconds and `Z`."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ClockSync:
    """Keeps `offset = server time - local clock` (protocol §4) and persists it.

    Two sources: the heartbeat's `server_time` (milliseconds; the round trip's midpoint is the
    moment it was read) and any response's `Date` header (whole seconds). The coarse one is
    used only before the first heartbeat estimate, or when it disagrees by more than 2 s.

    Once an estimate exists, server time is kept against the clock's `monotonic()` (when it
    has one), not its wall clock: NTP stepping the wall clock after boot (a Pi without RTC
    starts hours off) must not move server time, or every start/end would jump with it.
    `offset` (server - wall clock now) is derived, and is what is persisted: the monotonic
    clock restarts at boot, so a cold start rebuilds the reference from the saved offset.
    """

    STORE_NAME = "offset"

    def __init__(self, clock: Clock, store: Store | None = None) -> None:
        self.clock = clock
        self.store = store
        self._base = 0.0  # server time - reference clock (valid when `known`)
        self.precise = False  # True once a heartbeat estimate is in use
        self.known = False  # True once any estimate exists (now or before a reboot)
        self._saved: float | None = None
        if store is not None:
            saved = store.load_json(self.STORE_NAME)
            if isinstance(saved, dict) and isinstance(saved.get("offset"), int | float):
                self._saved = float(saved["offset"])
                self._base = self._saved + self.clock.time() - self.local_now()
                self.known = True

    def local_now(self) -> float:
        """The reference clock: `monotonic()` when the clock has one, else its wall clock."""
        monotonic = getattr(self.clock, "monotonic", None)
        return float(monotonic()) if callable(monotonic) else self.clock.time()

    def server_now(self) -> float:
        if not self.known:  # nothing learnt yet: the wall clock is all there is
            return self.clock.time()
        return self.local_now() + self._base

    @property
    def offset(self) -> float:
        """Server time - the local wall clock, now (protocol §4)."""
        return self.server_now() - self.clock.time()

    def from_heartbeat(self, server_time: str, sent_local: float, received_local: float) -> None:
        """Offset from a heartbeat answer, read at the midpoint of the request's round trip."""
        midpoint = (sent_local + received_local) / 2
        self._set(parse_iso(server_time) - midpoint, precise=True)

    def from_date_header(self, value: str | None, received_local: float) -> None:
        """Offset from an HTTP `Date` header (second resolution: assume mid-second)."""
        if not value:
            return
        try:
            server = parsedate_to_datetime(value).timestamp() + 0.5
        except (TypeError, ValueError, IndexError):
            return
        estimate = server - received_local
        if not self.precise or abs(estimate - self.offset) > DATE_DISAGREEMENT_S:
            self._set(estimate, precise=False)

    def _set(self, offset: float, *, precise: bool) -> None:
        """`offset`: server time - wall clock, as measured just now."""
        self._base = offset + self.clock.time() - self.local_now()
        self.precise = precise
        self.known = True
        if self.store is None:
            return
        if self._saved is None or abs(self._saved - offset) > _PERSIST_THRESHOLD_S:
            try:
                self.store.save_json(self.STORE_NAME, {"offset": offset})
            except OSError:
                return  # a full disk: keep it in memory, try again on the next estimate
            self._saved = offset

    def snapshot(self) -> dict[str, Any]:
        return {"offset": self.offset, "precise": self.precise}
