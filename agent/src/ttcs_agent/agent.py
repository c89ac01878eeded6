"""The agent: polls, downloads, plays on time, reports (docs/device-protocol.md).

Everything outside the process comes in through injected parts: `Clock` (every wait),
`Transport` (every server call), `Player` (every sound), `Store` (everything kept). That is
what lets one class run on a Raspberry Pi, by the thousand in one simulator process, and under
virtual time in fault drills.

Crash safety: the store is only written synchronously, between awaits, so cancelling `run()`
at any await (a simulated power cut) leaves it consistent. A play event is written to the
queue before anything else is done about it; an open-play checkpoint turns an interrupted play
into exactly one `partial` event at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .clock import Clock, ClockSync, format_iso, parse_iso
from .events import UlidFactory, play_event
from .player import Player
from .schedule import (
    Choice,
    Current,
    PlayItem,
    choose,
    emergency_stops,
    items_from_manifest,
    manifest_stops,
    merge_items,
    needed_audio,
    notice_ok,
    notice_reaches,
)
from .store import Store, is_disk_full
from .transport import Response, Transport, TransportError

log = logging.getLogger(__name__)

API = "/api/device/v1"
MANIFEST_PATH = f"{API}/manifest"
HEARTBEAT_PATH = f"{API}/heartbeat"
PLAYLOG_PATH = f"{API}/playlog"
PROTOCOL_VERSION = 1
DEFAULT_POLL_INTERVAL = 60.0
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0
MAX_BATCH = 500
KEEP_UNUSED_AUDIO_S = 3 * 86400  # "delete files no manifest has mentioned for a few days"
KEEP_PLAYED_S = 4 * 86400  # the manifest window is three days
SPACE_RETRY_S = 60.0
TONE_SECONDS = 2.0
KEEP_NOTICES_S = 2 * 86400  # emergency notices heard by push are forgotten two days on
# A push that reaches a whole commune, zone or province makes every device there poll; those
# polls are spread over this many seconds instead of arriving in the same instant.
PUSH_POLL_SPREAD_S = 5.0
# After an emergency notice by push the device already has what it needs to play; its manifest
# (the re-planned schedule) is fetched a little later, once the emergency audio has been fetched
# by everyone, and on the server's own "manifest changed" push.
NOTICE_POLL_AFTER_S = (5.0, 15.0)
# A real player's audio ends a little after the moment the agent computed (its own start-up
# latency, decoder buffering). An emergency still sounding this long past its `until` is left
# to end by itself rather than losing its last words (unless it was stopped, or a newer
# emergency pre-empts it).
END_SLACK_S = 1.5
# A play that ends by itself this much short of its audio (or with a non-zero exit status)
# did not play properly: the player crashed or could not read the file.
SHORT_PLAY_S = 2.0
# A `Date` header read after a round trip longer than this could be off by as much: ignored.
DATE_MAX_ROUND_TRIP_S = 1.0
SHORT_PLAY_RATIO = 0.05
# An emergency whose play fails is tried again while its window allows, at most this often.
MAX_EMERGENCY_FAILURES = 3


@dataclass
class AgentConfig:
    server_url: str
    state_dir: str = "/var/lib/ttcs-agent"
    player: str | list[str] = "null"  # "null", "mpv", "ffplay", "aplay" or an argv template
    mqtt_url: str | None = None
    heartbeat_interval: float = 60.0
    poll_interval: float | None = None  # None: the manifest's (or the server's) interval
    upload_interval: float = 10.0
    min_free_bytes: int = 0  # downloads that would leave less free space are postponed
    firmware: str = f"ttcs-agent {__version__}"
    alive_interval: float = 5.0  # how often the open-play checkpoint's "last alive" is refreshed


class Backoff:
    """Exponential back-off with jitter: 1 s doubling to 300 s (protocol §8)."""

    def __init__(self, rng: random.Random, start: float = BACKOFF_START_S) -> None:
        self.rng = rng
        self.start = start
        self.delay = start

    def next(self) -> float:
        wait = self.delay * self.rng.uniform(0.5, 1.0)
        self.delay = min(self.delay * 2, BACKOFF_MAX_S)
        return wait

    def reset(self) -> None:
        self.delay = self.start


@dataclass
class Playing:
    item: PlayItem
    started_at: float  # server time of the first sample
    offset: float  # seconds into the audio it started from
    until: float  # server time at which it must stop at the latest
    ended: asyncio.Task[None] = field(repr=False)  # done when the audio ended by itself


class ServerError(Exception):
    """A 5xx (or unexpected) answer: retried with back-off like a network failure."""


def _json_answer(response: Response, what: str) -> Any:
    """A 200's JSON body; one that is not JSON is a server fault (retried with back-off)."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServerError(f"{what}: the answer is not JSON ({exc})") from exc


def province_from_topics(topics: list[str]) -> str | None:
    for topic in topics:
        parts = topic.split("/")
        if len(parts) == 4 and parts[:2] == ["ttcs", "provinces"]:
            return parts[2]
    return None


MqttFactory = Callable[[], Any]  # returns an async context manager like aiomqtt.Client


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        store: Store,
        transport: Transport,
        clock: Clock,
        player: Player,
        topics: list[str] | None = None,
        mqtt_client_factory: MqttFactory | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.transport = transport
        self.clock = clock
        self.player = player
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.sync = ClockSync(clock, store)
        self.ids = UlidFactory()
        self.device: dict[str, Any] = store.load_json("device") or {}
        self.topics = topics if topics is not None else list(self.device.get("topics") or [])
        self.province = self.device.get("province") or province_from_topics(self.topics)
        self._mqtt_factory = mqtt_client_factory
        saved_manifest = store.load_json("manifest") or {}
        self.manifest: dict[str, Any] | None = saved_manifest.get("manifest")
        self.etag: str | None = saved_manifest.get("etag")
        saved_alerts = store.load_json("alerts") or {}
        self.alerts_etag: str | None = saved_alerts.get("etag")
        self.alert_notices: list[dict[str, Any]] = saved_alerts.get("emergencies") or []
        self.push_notices: dict[str, dict[str, Any]] = store.load_json("push_notices") or {}
        if not isinstance(self.manifest, dict):
            self.manifest = None
        if not isinstance(self.alert_notices, list):
            self.alert_notices = []
        if not isinstance(self.push_notices, dict):
            self.push_notices = {}
        # Stored by an older version, or damaged: checked once here, not at every re-plan.
        self.push_notices = {k: n for k, n in self.push_notices.items() if notice_ok(n)}
        self.played: dict[str, float] = store.load_json("played") or {}
        self.commands: dict[str, Any] = store.load_json("commands") or {"acks": {}, "sent": []}
        self.volume: int | None = (store.load_json("volume") or {}).get("volume")
        self.needs_enrolment = bool((store.load_json("enrolment") or {}).get("needs"))
        self.server_poll_interval: float | None = None
        self.fault: str | None = None  # e.g. an unsupported manifest version
        self.offline = False
        self.space_short = False
        self.items: list[PlayItem] = []
        self.stops: dict[int, float] = {}  # emergency id -> the moment it was stopped
        self.playing: Playing | None = None
        self._stopping = False  # set by shutdown(): nothing new starts
        self._failures: dict[str, int] = {}
        self.downloading: str | None = None
        self._retry: dict[str, tuple[float, Backoff]] = {}
        self._poll_now = asyncio.Event()
        self._reschedule = asyncio.Event()
        self._download_wake = asyncio.Event()
        self._upload_wake = asyncio.Event()
        self._heartbeat_now = asyncio.Event()
        self._enrolled = asyncio.Event()  # set never: a revoked agent waits for re-enrolment
        self._batch_size = MAX_BATCH
        self._background: set[asyncio.Future[Any]] = set()
        self._apply_volume()
        self._refresh_items()

    # ---- public accessors -------------------------------------------------------------------

    def server_now(self) -> float:
        return self.sync.server_now()

    @property
    def current_item(self) -> str | None:
        return self.playing.item.key if self.playing else None

    @property
    def queue_length(self) -> int:
        return self.store.queue_len()

    @property
    def clock_offset(self) -> float:
        return self.sync.offset

    @property
    def manifest_etag(self) -> str | None:
        return self.etag

    def status(self) -> str:
        if self.needs_enrolment:
            return "needs enrolment"
        if self.fault:
            return self.fault[:40]
        if self.store.disk_full or self.space_short:
            return "disk full"
        if self.offline:
            return "offline-cache"
        return "playing" if self.playing else "idle"

    def stats(self) -> dict[str, Any]:
        return {
            "status": self.status(),
            "current_item": self.current_item,
            "queue_length": self.queue_length,
            "clock_offset": self.clock_offset,
            "manifest_etag": self.etag,
            "items": len(self.items),
            "downloading": self.downloading,
            "played": len(self.played),
        }

    def request_poll(self) -> None:
        self._poll_now.set()

    # ---- run --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled. Cancelling at any await is safe (a power cut, in drills)."""
        self._bind_to_running_loop()
        self._stopping = False
        if self.playing is None:
            self.recover()
        loops: list[Callable[[], Awaitable[None]]] = [
            self._poller,
            self._downloader,
            self._scheduler,
            self._heartbeat,
            self._uploader,
        ]
        if self.config.mqtt_url or self._mqtt_factory is not None:
            loops.append(self._mqtt)
        try:
            async with asyncio.TaskGroup() as group:
                for loop in loops:
                    group.create_task(self._supervise(loop))
        finally:
            if self.playing is not None:
                self.playing.ended.cancel()

    def _bind_to_running_loop(self) -> None:
        """Fresh events and watcher tasks for the loop `run()` runs in.

        asyncio events and tasks belong to one event loop, and the same Agent may be run again
        in a later `asyncio.run` (drills pause and resume a device). A "set" state carries over;
        a play still going on (same process: the sound never stopped) gets a new end watcher.
        """
        for name in (
            "_poll_now",
            "_reschedule",
            "_download_wake",
            "_upload_wake",
            "_heartbeat_now",
            "_enrolled",
        ):
            fresh = asyncio.Event()
            if getattr(self, name).is_set():
                fresh.set()
            setattr(self, name, fresh)
        self._background = set()
        if self.playing is not None:
            self.playing.ended = asyncio.ensure_future(self.player.wait())

    async def shutdown(self) -> None:
        """A clean stop (SIGTERM): the current play is logged as `partial`, sound stops.

        The scheduler is told first, so that ending the current play does not make it start
        the same item again while the process goes down.
        """
        self._stopping = True
        if self.playing is not None:
            await self._finish(self.server_now(), "partial", done=False)
        await self.player.stop()

    async def _supervise(self, loop: Callable[[], Awaitable[None]]) -> None:
        """A bug in one loop must not silence the loudspeaker: log it and start it again."""
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; restarting it", getattr(loop, "__name__", loop))
                await self.clock.sleep(5.0)

    def recover(self) -> None:
        """An open-play checkpoint left by a crash becomes one `partial` event (exactly once)."""
        record = self.store.open_play()
        if record is None:
            return
        started = float(record.get("started_at") or 0.0)
        ended = float(record.get("last_alive") or started)
        item = PlayItem(
            key=str(record["key"]),
            kind=str(record.get("kind", "bulletin")),
            title=str(record.get("title", "")),
            priority=str(record.get("priority", "normal")),
            start=started,
            end=ended,
            sha256=record.get("sha256"),
        )
        event = play_event(self.ids.new(ended), item, started, ended, "partial")
        self.store.play_close(event)
        log.info("recovered an interrupted play of %s as partial", item.key)

    async def _wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Sleep `seconds` on the clock, or until `event` is set (then clear it: True)."""
        if not event.is_set():
            sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, seconds)))
            waiter = asyncio.ensure_future(event.wait())
            try:
                await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()
        woken = event.is_set()
        event.clear()
        return woken

    # ---- HTTP -------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        public: bool = False,
    ) -> Response:
        """One request; feeds the clock sync and notices revocation (a 401 on a device path:
        `public` paths need no credential, so their 401 says nothing about ours)."""
        sent = self.sync.local_now()
        try:
            response = await self.transport.request(
                method, path, headers=headers, json_body=json_body
            )
        except TransportError:
            self.offline = True
            raise
        self.offline = False
        # The Date header was written when the headers left the server: compare it with the
        # moment they arrived, not with the end of the body's transfer.
        body_seconds = max(0.0, response.body_seconds)
        round_trip = self.sync.local_now() - body_seconds - sent
        if round_trip <= DATE_MAX_ROUND_TRIP_S:  # a slow exchange tells nothing useful
            before = self.server_now()
            received = self.clock.time() - body_seconds
            self.sync.from_date_header(response.headers.get("date"), received)
            if abs(self.server_now() - before) > 0.5:
                self._reschedule.set()  # the clock was corrected: start/end times moved
        if response.status == 401 and not public:
            self._revoked()
        return response

    def _revoked(self) -> None:
        if self.needs_enrolment:
            return
        log.error("the server refused the credential (401): needs enrolment")
        self.needs_enrolment = True
        with contextlib.suppress(OSError):
            self.store.save_json("enrolment", {"needs": True})
        self._reschedule.set()

    async def _idle_while_revoked(self) -> None:
        if self.needs_enrolment:
            await self._enrolled.wait()

    # ---- polling ----------------------------------------------------------------------------

    def poll_interval(self) -> float:
        if self.config.poll_interval:
            return float(self.config.poll_interval)
        candidates = (
            self.server_poll_interval,
            (self.manifest or {}).get("poll_interval"),
            self.device.get("poll_interval"),
        )
        for value in candidates:
            if isinstance(value, int | float) and value > 0:
                return float(value)
        return DEFAULT_POLL_INTERVAL

    async def _poller(self) -> None:
        backoff = Backoff(self.rng)
        while True:
            await self._idle_while_revoked()
            try:
                await self.poll_once()
                backoff.reset()
                # Jitter only shortens the wait: the protocol's interval is a maximum for how
                # stale a device may be, so never wait longer than it (not ±10 %).
                delay = self.poll_interval() * self.rng.uniform(0.9, 1.0)
            except (TransportError, ServerError) as exc:
                log.warning("poll failed: %s", exc)
                delay = backoff.next()
            await self._wait(self._poll_now, delay)

    async def poll_once(self) -> None:
        """The alerts file first, then the manifest; each is tried even when the other fails
        (a manifest endpoint in trouble must not hide an emergency from a device without push)."""
        failure: Exception | None = None
        if self.province and not self.needs_enrolment:
            try:
                await self._poll_alerts()
            except (TransportError, ServerError) as exc:
                failure = exc
        await self._poll_manifest()
        if failure is not None:
            raise failure

    async def _poll_manifest(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag and self.manifest else {}
        response = await self._call("GET", MANIFEST_PATH, headers=headers)
        if response.status == 304 or response.status == 401:
            return
        if response.status >= 500:
            raise ServerError(f"manifest: HTTP {response.status}")
        if response.status != 200:
            log.warning("manifest: HTTP %s", response.status)
            return
        manifest = _json_answer(response, "manifest")
        version = manifest.get("version", PROTOCOL_VERSION) if isinstance(manifest, dict) else None
        if not isinstance(version, int) or version > PROTOCOL_VERSION:
            self.fault = f"manifest version {version} unsupported"
            log.error("%s: keeping the last manifest", self.fault)
            return
        self.fault = None
        self.set_manifest(manifest, response.headers.get("etag"))

    def set_manifest(self, manifest: dict[str, Any], etag: str | None) -> None:
        """Adopt a new manifest: persist it, re-plan, fetch its audio, run its commands."""
        self.manifest, self.etag = manifest, etag
        try:
            self.store.save_json("manifest", {"etag": etag, "manifest": manifest})
        except OSError as exc:
            self._disk_problem(exc)
        self._refresh_items()
        self._note_audio_seen()
        self._run_commands()

    async def _poll_alerts(self) -> None:
        headers = {"If-None-Match": self.alerts_etag} if self.alerts_etag else {}
        # A public file: a 401 there (a proxy, a misconfigured server) says nothing about
        # this device's credential.
        path = f"/device-alerts/{self.province}.json"
        response = await self._call("GET", path, headers=headers, public=True)
        if response.status in (304, 401):
            return
        if response.status == 404:  # no alerts file: no emergency in the province
            self._set_alerts([], None)
        elif response.status == 200:
            body = _json_answer(response, "alerts")
            entries = body.get("emergencies") if isinstance(body, dict) else None
            notices = [n for n in entries or [] if notice_ok(n)]
            self._set_alerts(notices, response.headers.get("etag"))
        elif response.status >= 500:
            raise ServerError(f"alerts: HTTP {response.status}")

    def _set_alerts(self, notices: list[dict[str, Any]], etag: str | None) -> None:
        if notices == self.alert_notices and etag == self.alerts_etag:
            return
        self.alert_notices, self.alerts_etag = notices, etag
        try:
            self.store.save_json("alerts", {"etag": etag, "emergencies": notices})
        except OSError as exc:
            self._disk_problem(exc)
        self._refresh_items()

    # ---- push ---------------------------------------------------------------------------------

    def notify(self, message: Mapping[str, Any]) -> None:
        """Handle one push payload (MQTT): act on an emergency notice at once, then poll.

        A device's own message polls at once. A message many devices hear at the same moment
        (a commune's manifests, an emergency) polls after a random delay, so that ten thousand
        devices do not all ask in the same instant, while they fetch the emergency's audio.
        """
        kind = message.get("type")
        if kind == "emergency":
            notice = message.get("notice")
            if isinstance(notice, dict) and "id" in notice:
                self.apply_notice(notice)
                self._poll_later(self.rng.uniform(*NOTICE_POLL_AFTER_S))
                return
            if message.get("event") == "stop" and message.get("emergency") is not None:
                self._stop_notice(int(message["emergency"]))
        elif kind == "manifest":
            etag = message.get("etag")
            if etag is not None and etag == self.etag and self.manifest is not None:
                return  # already have it
            if etag is None:  # a broadcast to the commune
                self._poll_later(self.rng.uniform(0.0, PUSH_POLL_SPREAD_S))
                return
        self._poll_now.set()

    def _poll_later(self, delay: float) -> None:
        async def later() -> None:
            await self.clock.sleep(delay)
            self._poll_now.set()

        self._spawn(later())

    def apply_notice(self, notice: dict[str, Any]) -> None:
        """An emergency notice, effective at once: overlay items, audio fetched first."""
        if not notice_ok(notice):
            return  # never persisted: a malformed notice must not survive a restart
        if notice.get("targets") and not notice_reaches(notice, self._codes()):
            return
        known = self.push_notices.get(str(notice["id"]))
        revived = notice.get("state") == "active"
        if known and known.get("state") in ("stopped", "cancelled") and revived:
            return  # a late "active" copy must not revive a stopped emergency
        self.push_notices[str(notice["id"])] = dict(notice)
        self._save_push_notices()
        self._refresh_items()

    def _stop_notice(self, emergency_id: int) -> None:
        known = next((n for n in self._notices() if int(n["id"]) == emergency_id), None)
        stopped = dict(known or {"id": emergency_id})
        stopped.update(state="stopped", stopped_at=format_iso(self.server_now()))
        self.push_notices[str(emergency_id)] = stopped
        self._save_push_notices()
        self._refresh_items()

    def _save_push_notices(self) -> None:
        # Keep what could still matter (the manifest lists emergencies for a day after they end):
        # a device hears notices for years, the file must not grow with them.
        horizon = self.server_now() - KEEP_NOTICES_S
        for key, known in list(self.push_notices.items()):
            moment = known.get("stopped_at") or known.get("started_at")
            try:
                old = moment is None or parse_iso(str(moment)) < horizon
            except ValueError:
                old = True
            if old:
                del self.push_notices[key]
        try:
            self.store.save_json("push_notices", self.push_notices)
        except OSError as exc:
            self._disk_problem(exc)

    def _codes(self) -> list[str | None]:
        return [self.device.get("zone"), self.device.get("commune"), self.province]

    def _notices(self) -> list[dict[str, Any]]:
        """Alert-file and pushed notices by id; a stopped/cancelled state wins over active."""
        merged: dict[int, dict[str, Any]] = {}
        for notice in [*self.push_notices.values(), *self.alert_notices]:
            if not notice_ok(notice):
                continue
            if notice.get("targets") and not notice_reaches(notice, self._codes()):
                continue
            known = merged.get(int(notice["id"]))
            if known is not None and known.get("state") in ("stopped", "cancelled"):
                continue
            merged[int(notice["id"])] = notice
        return list(merged.values())

    # ---- planning -----------------------------------------------------------------------------

    def _refresh_items(self) -> None:
        now = self.server_now()
        notices, stops = self._notices(), manifest_stops(self.manifest)
        self.items = merge_items(items_from_manifest(self.manifest), notices, stops, now)
        self.stops = emergency_stops(notices, stops, now)
        self._reschedule.set()
        self._download_wake.set()

    def _note_audio_seen(self) -> None:
        """Remember when each hash was last mentioned; drop audio unmentioned for days."""
        now = self.server_now()
        seen: dict[str, float] = self.store.load_json("audio_seen") or {}
        for item in self.items:
            if item.sha256:
                seen[item.sha256] = now
        seen = {sha: t for sha, t in seen.items() if now - t < KEEP_UNUSED_AUDIO_S}
        try:
            self.store.save_json("audio_seen", seen)
            self.store.evict(set(seen) | self._referenced())
        except OSError as exc:
            self._disk_problem(exc)

    def _referenced(self) -> set[str]:
        shas = {item.sha256 for item in self.items if item.sha256}
        if self.playing and self.playing.item.sha256:
            shas.add(self.playing.item.sha256)
        return shas

    def _disk_problem(self, exc: OSError) -> None:
        if not is_disk_full(exc):
            raise exc
        log.warning("disk full: evicting audio the schedule no longer needs")
        self.space_short = True
        with contextlib.suppress(OSError):
            self.store.evict(self._referenced())

    # ---- downloads ----------------------------------------------------------------------------

    async def _downloader(self) -> None:
        while True:
            await self._idle_while_revoked()
            item, wait = self._next_download()
            if item is None:
                await self._wait(self._download_wake, wait)
                continue
            await self._download(item)

    def _next_download(self) -> tuple[PlayItem | None, float]:
        """The most urgent missing audio that is not waiting for a retry (or how long to wait)."""
        now = self.sync.local_now()
        wait = 300.0
        missing = False
        for item in needed_audio(self.items, self.server_now()):
            sha = item.sha256 or ""
            if self.store.has_audio(sha) or not item.url:
                continue
            missing = True
            retry_at = self._retry.get(sha, (0.0, None))[0]
            if retry_at <= now:
                return item, 0.0
            wait = min(wait, retry_at - now)
        if not missing:
            self.space_short = False  # everything needed is here
        return None, wait

    def _postpone(self, sha: str, *, fixed: float | None = None) -> None:
        _, backoff = self._retry.get(sha, (0.0, None))
        backoff = backoff or Backoff(self.rng)
        delay = fixed if fixed is not None else backoff.next()
        self._retry[sha] = (self.sync.local_now() + delay, backoff)

    def _has_room(self, item: PlayItem) -> bool:
        sha = item.sha256 or ""
        needed = max(0, item.size - self.store.partial_size(sha))
        # The reserve is for ordinary downloads: an emergency only needs room for its file.
        reserve = 0 if item.is_emergency else self.config.min_free_bytes
        if self.store.free_bytes() - needed >= reserve:
            return True
        self.store.evict(self._referenced())
        return self.store.free_bytes() - needed >= reserve

    async def _download(self, item: PlayItem) -> None:
        sha = item.sha256 or ""
        if not self._has_room(item):
            log.warning("not enough free space for %s: postponed", sha[:12])
            self.space_short = True
            self._postpone(sha, fixed=SPACE_RETRY_S)
            return
        self.downloading = sha
        try:
            verified = await self._fetch(item)
        except TransportError as exc:
            log.warning("download of %s interrupted: %s", sha[:12], exc)
            self._postpone(sha)
            return
        except ServerError as exc:
            log.warning("download of %s: %s", sha[:12], exc)
            self._postpone(sha)
            return
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self._disk_problem(exc)
            self._postpone(sha, fixed=SPACE_RETRY_S)
            return
        finally:
            self.downloading = None
        if verified is None:
            return  # interrupted for something more urgent: resumes later
        if verified:
            self._retry.pop(sha, None)
            self.space_short = self.store.disk_full
            self._reschedule.set()
        else:
            log.warning("audio %s failed its SHA-256 check: discarded", sha[:12])
            self._postpone(sha)

    async def _fetch(self, item: PlayItem) -> bool | None:
        """Stream one file with Range resume. True verified, False bad, None interrupted."""
        sha, url = item.sha256 or "", item.url or ""
        have = self.store.partial_size(sha)
        headers = {"Range": f"bytes={have}-"} if have else {}
        async with self.transport.stream(url, headers=headers) as response:
            if response.status == 401:
                self._revoked()
                return None
            if response.status == 416:  # the partial file is not a prefix of this one
                self.store.reset_partial(sha)
                raise ServerError("range not satisfiable: restarting")
            if response.status >= 500 or response.status not in (200, 206):
                raise ServerError(f"HTTP {response.status}")
            if response.status == 200:
                self.store.reset_partial(sha)  # the server sent the whole file
            async for chunk in response.chunks():
                self.store.append_partial(sha, chunk)
                if not item.is_emergency and self._urgent_waiting(sha):
                    return None
        return self.store.finish_partial(sha)

    def _urgent_waiting(self, current_sha: str) -> bool:
        """Emergency audio jumps the queue, even ahead of a download in progress.

        Uses the downloader's own choice, so an emergency it would not fetch now (no URL,
        waiting for a retry) never aborts the current download in a loop.
        """
        first, _ = self._next_download()
        return first is not None and first.is_emergency and first.sha256 != current_sha

    # ---- playing ------------------------------------------------------------------------------

    def _ready(self) -> set[str]:
        return {i.sha256 for i in self.items if i.sha256 and self.store.has_audio(i.sha256)}

    async def _scheduler(self) -> None:
        while True:
            wake_at = await self.schedule_once()
            delay = 3600.0 if wake_at is None else max(0.0, wake_at - self.server_now())
            if self.playing is not None:  # wake up often enough to refresh "last alive"
                delay = min(delay, self.config.alive_interval)
            sleeper = asyncio.ensure_future(self.clock.sleep(delay))
            nudged = asyncio.ensure_future(self._reschedule.wait())
            waits: set[asyncio.Future[Any]] = {sleeper, nudged}
            if self.playing is not None:
                waits.add(self.playing.ended)
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                nudged.cancel()
            self._reschedule.clear()
            if self.playing is not None:
                self.store.play_alive(self.server_now())

    async def schedule_once(self) -> float | None:
        """Make the loudspeaker match the schedule now; returns when to look again."""
        if self._stopping:
            return None
        now = self.server_now()
        if self.playing is not None and self.playing.ended.done():
            await self._finish_ended(now)
        if self.needs_enrolment and self.playing is None:
            return None  # keep nothing new playing
        choice = self._choose(now)
        if self.playing is not None and not choice.keep:
            await self._end_current(now, choice)
            # Choose again without it: the item just ended (and perhaps marked played) must
            # not be started again by the choice made while it was still playing.
            now = self.server_now()
            choice = self._choose(now)
        if self._stopping:
            return None
        if choice.item is not None and not choice.keep and not self.needs_enrolment:
            await self._start(choice, now)
        return choice.wake_at

    def _choose(self, now: float) -> Choice:
        playing = self.playing
        current = Current(playing.item.key, self._until(playing)) if playing else None
        return choose(self.items, now, set(self.played), current, self._ready())

    def _stop_of(self, item: PlayItem) -> float | None:
        """When the emergency `item` belongs to was stopped (None: not stopped)."""
        return self.stops.get(item.emergency_id) if item.emergency_id is not None else None

    def _until(self, playing: Playing) -> float:
        """When the current play must end: a stop cuts an emergency at once, even one that
        started late and runs past its listed end; otherwise an emergency gets END_SLACK_S
        for the player's own end."""
        stop = self._stop_of(playing.item)
        if stop is not None:
            return min(playing.until, stop)
        if playing.item.is_emergency and not playing.ended.done():
            return playing.until + END_SLACK_S
        return playing.until

    async def _finish_ended(self, now: float) -> None:
        """The audio ended by itself: completed, unless the player failed or ended early."""
        playing = self.playing
        assert playing is not None
        item = playing.item
        played = playing.offset + (now - playing.started_at)
        code = getattr(self.player, "exit_code", None)
        tolerance = max(SHORT_PLAY_S, item.duration * SHORT_PLAY_RATIO)
        short = item.loop or (item.duration > 0 and played < item.duration - tolerance)
        if not short and not (isinstance(code, int) and code != 0):
            self._failures.pop(item.key, None)
            await self._finish(now, "completed", done=True)
            return
        outcome = "failed" if played < SHORT_PLAY_S else "partial"
        log.warning("%s ended early (%.1f s, exit %s): %s", item.key, played, code, outcome)
        failures = self._failures[item.key] = self._failures.get(item.key, 0) + 1
        # An emergency may start again while its window allows (a warning must be heard),
        # but a player that fails every time must not be restarted for ever.
        retry = item.is_emergency and failures < MAX_EMERGENCY_FAILURES
        await self._finish(now, outcome, done=not retry)

    async def _end_current(self, now: float, choice: Choice) -> None:
        playing = self.playing
        assert playing is not None
        stop = self._stop_of(playing.item)
        if stop is not None and now >= stop - 1e-6:  # its emergency was stopped
            played = playing.offset + (now - playing.started_at)
            outcome = "completed" if played >= playing.item.duration - 0.5 else "partial"
            await self._finish(now, outcome, done=True)
            return
        # The plan may have changed under the item (a new manifest cut it at an emergency's
        # start): judge it by its current entry, not by the one it started with.
        item = next((i for i in self.items if i.key == playing.item.key), None)
        until = playing.until
        if item is not None and not item.is_emergency:
            until = min(until, item.end)
        if item is not None and now >= until - 1e-6:  # its time is up
            if item.loop or item.is_emergency:
                outcome = "completed"
            elif item.status == "preempted":
                outcome = "preempted"
            else:
                played = playing.offset + (now - playing.started_at)
                outcome = "completed" if played >= item.duration - 0.5 else "partial"
            await self._finish(now, outcome, done=True)
        elif choice.item is not None and choice.item.is_emergency:
            await self._finish(now, "preempted", done=False)
        else:  # it left the schedule (a stopped emergency, a dropped item)
            await self._finish(now, "partial", done=False)

    async def _finish(self, now: float, outcome: str, *, done: bool) -> None:
        """Log the current play (first, durably), then silence it."""
        playing = self.playing
        assert playing is not None
        self.playing = None
        ended_by_itself = playing.ended.done()
        playing.ended.cancel()
        event = play_event(self.ids.new(now), playing.item, playing.started_at, now, outcome)
        self.store.play_close(event)
        if done:
            self._mark_played(playing.item.key, now)
        self._upload_wake.set()
        if not ended_by_itself:
            await self.player.stop()

    def _mark_played(self, key: str, now: float) -> None:
        self.played[key] = now
        self.played = {k: t for k, t in self.played.items() if now - t < KEEP_PLAYED_S}
        try:
            self.store.save_json("played", self.played)
        except OSError as exc:
            self._disk_problem(exc)

    async def _start(self, choice: Choice, now: float) -> None:
        item = choice.item
        assert item is not None
        self.store.play_open(
            {
                "key": item.key,
                "kind": item.kind,
                "title": item.title,
                "priority": item.priority,
                "sha256": item.sha256,
                "started_at": now,
            }
        )
        path = self.store.audio_path(item.sha256) if item.sha256 else None
        try:
            await self.player.start(item, path, choice.offset)
        except OSError as exc:  # the player program is missing or cannot open the device
            log.error("cannot play %s: %s", item.key, exc)
            event = play_event(self.ids.new(now), item, now, now, "failed")
            self.store.play_close(event)
            self._mark_played(item.key, now)  # not retried in a tight loop
            return
        started = self.server_now()
        until = choice.until
        if item.is_emergency:  # heard whole, however long the player took to start
            until = max(until, started + item.duration - choice.offset)
        ended = asyncio.ensure_future(self.player.wait())
        self.playing = Playing(item, started, choice.offset, until, ended)
        log.info("playing %s (%s) from %.1f s", item.key, item.title, choice.offset)
        if self._stopping:  # shutdown() came while the player was starting
            await self._finish(self.server_now(), "partial", done=False)

    # ---- commands -----------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        """Run a command's effect in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _run_commands(self) -> None:
        acks: dict[str, Any] = self.commands.setdefault("acks", {})
        listed = {str(c.get("id")) for c in (self.manifest or {}).get("commands", [])}
        for command in (self.manifest or {}).get("commands", []):
            key = str(command.get("id"))
            if key in acks:
                continue
            ok, message = self._execute(command)
            acks[key] = {"id": command.get("id"), "ok": ok, "message": message[:300]}
            self._heartbeat_now.set()
        # Forget acknowledgements the server has settled and no longer lists.
        sent = set(self.commands.get("sent", []))
        self.commands["acks"] = {k: v for k, v in acks.items() if k in listed or k not in sent}
        self.commands["sent"] = [k for k in sent if k in self.commands["acks"]]
        self._save_commands()

    def _save_commands(self) -> None:
        try:
            self.store.save_json("commands", self.commands)
        except OSError as exc:
            self._disk_problem(exc)

    def _execute(self, command: Mapping[str, Any]) -> tuple[bool, str]:
        kind = command.get("kind")
        params = command.get("params") or {}
        if kind == "sync":
            self._retry.clear()
            self._poll_now.set()
            self._download_wake.set()
            return True, "sync"
        if kind == "volume":
            volume = params.get("volume")
            if not isinstance(volume, int) or not 0 <= volume <= 100:
                return False, f"bad volume {volume!r}"
            self.volume = volume
            with contextlib.suppress(OSError):
                self.store.save_json("volume", {"volume": volume})
            self._apply_volume()
            return True, f"volume {volume}"
        if kind == "stop":
            if self.playing is None:
                return True, "nothing playing"
            key = self.playing.item.key
            self.played[key] = self.server_now()  # not played again; logged as partial
            self._spawn(self._stop_current())
            return True, f"stopped {key}"
        if kind == "test_tone":
            tone = getattr(self.player, "tone", None)
            if tone is None:
                return False, "this player cannot play a test tone"
            if self.playing is not None:
                return False, "busy playing"
            self._spawn(tone(TONE_SECONDS))
            return True, "test tone"
        return False, f"unknown command {kind!r}"

    async def _stop_current(self) -> None:
        if self.playing is not None:
            key = self.playing.item.key
            await self._finish(self.server_now(), "partial", done=False)
            self._mark_played(key, self.server_now())
            self._reschedule.set()

    def _apply_volume(self) -> None:
        volume = self.current_volume()
        if volume is not None and hasattr(self.player, "volume"):
            self.player.volume = volume

    def current_volume(self) -> int | None:
        if self.volume is not None:
            return self.volume
        value = (self.manifest or {}).get("volume")
        return value if isinstance(value, int) else None

    # ---- heartbeat ----------------------------------------------------------------------------

    def heartbeat_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status(),
            "firmware": self.config.firmware[:100],
            "free_storage_mb": max(0, self.store.free_bytes() // (1024 * 1024)),
            "clock_offset_ms": round(self.sync.offset * 1000),
        }
        volume = self.current_volume()
        if volume is not None:
            body["volume"] = volume
        if self.current_item:
            body["current_item"] = self.current_item[:120]
        acks = list(self.commands.get("acks", {}).values())[:100]
        if acks:
            body["commands"] = acks
        return body

    async def _heartbeat(self) -> None:
        backoff = Backoff(self.rng)
        while True:
            await self._idle_while_revoked()
            try:
                await self.heartbeat_once()
                backoff.reset()
                delay = self.config.heartbeat_interval
            except (TransportError, ServerError) as exc:
                log.warning("heartbeat failed: %s", exc)
                delay = min(backoff.next(), self.config.heartbeat_interval)
            await self._wait(self._heartbeat_now, delay)

    async def heartbeat_once(self) -> None:
        body = self.heartbeat_body()
        sent = self.clock.time()
        response = await self._call("POST", HEARTBEAT_PATH, json_body=body)
        received = self.clock.time()
        if response.status >= 500:
            raise ServerError(f"heartbeat: HTTP {response.status}")
        if response.status != 200:
            log.warning("heartbeat: HTTP %s %s", response.status, response.body[:200])
            return
        answer = _json_answer(response, "heartbeat")
        if not isinstance(answer, dict):
            raise ServerError("heartbeat: the answer is not a JSON object")
        if isinstance(answer.get("server_time"), str):
            self.sync.from_heartbeat(answer["server_time"], sent, received)
            self._reschedule.set()
        acked = [str(a["id"]) for a in body.get("commands", [])]
        if acked:
            self.commands["sent"] = sorted(set(self.commands.get("sent", [])) | set(acked))
            self._save_commands()
        if isinstance(answer.get("poll_interval"), int | float):
            self.server_poll_interval = float(answer["poll_interval"])
        etag = answer.get("manifest_etag")
        if etag and etag != self.etag:
            self._poll_now.set()
        with contextlib.suppress(OSError):
            self.store.save_json("status", {"status": self.status(), "at": self.server_now()})

    # ---- play log upload ----------------------------------------------------------------------

    async def _uploader(self) -> None:
        backoff = Backoff(self.rng)
        while True:
            await self._idle_while_revoked()
            self.store.flush()
            batch = self.store.queue_peek(self._batch_size)
            if not batch:
                await self._wait(self._upload_wake, self.config.upload_interval)
                continue
            try:
                more = await self.upload_once(batch)
            except (TransportError, ServerError) as exc:
                log.warning("play log upload failed: %s", exc)
                await self._wait(asyncio.Event(), backoff.next())
                continue
            backoff.reset()
            if not more:
                await self._wait(self._upload_wake, self.config.upload_interval)

    async def upload_once(self, batch: list[dict[str, Any]]) -> bool:
        """POST one batch. True when the next batch can follow at once."""
        response = await self._call("POST", PLAYLOG_PATH, json_body={"events": batch})
        if response.status == 200:
            answer = _json_answer(response, "playlog")
            answer = answer if isinstance(answer, dict) else {}
            for rejected in answer.get("rejected") or []:
                log.warning("play event rejected: %s", rejected)
            # Accepted, duplicates and rejected alike: the server has settled every one.
            self.store.queue_remove([event["event_id"] for event in batch])
            self._batch_size = min(MAX_BATCH, self._batch_size * 2)
            return True
        if response.status == 413:
            if self._batch_size == 1:
                raise ServerError("playlog: one event is over the size limit")
            self._batch_size = max(1, self._batch_size // 2)
            return True
        if response.status == 401:
            return False
        if response.status >= 500:
            raise ServerError(f"playlog: HTTP {response.status}")
        # Another 4xx: retrying unchanged would fail again; keep the events, wait long.
        log.error("play log refused: HTTP %s %s", response.status, response.body[:300])
        raise ServerError(f"playlog: HTTP {response.status}")

    # ---- MQTT ---------------------------------------------------------------------------------

    def _default_mqtt_factory(self) -> Any:
        import aiomqtt

        url = urlsplit(self.config.mqtt_url or "")
        tls = url.scheme in ("mqtts", "ssl")
        kwargs: dict[str, Any] = {
            "port": url.port or (8883 if tls else 1883),
            "username": url.username,
            "password": url.password,
            "identifier": f"ttcs-agent-{self.device.get('device', 'unknown')}",
            "clean_session": False,  # QoS 1 messages sent while we were away are delivered
        }
        if tls:
            kwargs["tls_params"] = aiomqtt.TLSParameters()
        return aiomqtt.Client(url.hostname or "localhost", **kwargs)

    async def _mqtt(self) -> None:
        backoff = Backoff(self.rng)
        factory = self._mqtt_factory or self._default_mqtt_factory
        while True:
            await self._idle_while_revoked()
            try:
                async with factory() as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    backoff.reset()
                    log.info("MQTT: subscribed to %d topics", len(self.topics))
                    async for message in client.messages:
                        self._on_mqtt(message.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # aiomqtt.MqttError, OSError: reconnect later
                log.warning("MQTT: %s", exc)
            await self.clock.sleep(backoff.next())

    def _on_mqtt(self, payload: Any) -> None:
        try:
            message = json.loads(payload)
        except (TypeError, ValueError):
            message = {}
        self.notify(message if isinstance(message, dict) else {})


__all__ = ["Agent", "AgentConfig", "Backoff", "parse_iso", "province_from_topics"]
