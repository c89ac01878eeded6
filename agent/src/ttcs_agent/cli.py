"""`ttcs-agent enrol | run | status`: the agent on one real device."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .agent import API, Agent, AgentConfig, province_from_topics
from .clock import SystemClock
from .player import PRESETS, NullPlayer, Player, SubprocessPlayer
from .schedule import choose, items_from_manifest
from .store import DiskStore
from .transport import HttpTransport, TransportError

log = logging.getLogger("ttcs_agent")

DEFAULT_STATE_DIR = "/var/lib/ttcs-agent"


def default_state_dir() -> str:
    return os.environ.get("TTCS_AGENT_STATE", DEFAULT_STATE_DIR)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttcs-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ttcs-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    enrol = commands.add_parser("enrol", help="exchange an enrolment code for a credential")
    enrol.add_argument("--server", required=True, help="https://… base URL of the server")
    enrol.add_argument("--code", required=True, help="enrolment code, e.g. 4M7Q-BE8Q-B5FT")
    enrol.add_argument("--state-dir", default=None)

    run = commands.add_parser("run", help="play the schedule until stopped")
    run.add_argument("--state-dir", default=None)
    run.add_argument("--config", default=None, help="TOML file with AgentConfig keys")
    run.add_argument("--player", default=None, help="null, mpv, ffplay or aplay")
    run.add_argument("--mqtt", default=None, help="mqtt://user:password@host:1883")
    run.add_argument("--log-level", default="INFO")

    status = commands.add_parser("status", help="what this device knows")
    status.add_argument("--state-dir", default=None)
    return parser


# ---- enrol ------------------------------------------------------------------------------------


async def enrol(server: str, code: str, state_dir: str) -> dict[str, Any]:
    """POST the code; store the credential (0600) and the device's identity. Returns the answer."""
    transport = HttpTransport(server, None)
    try:
        response = await transport.request(
            "POST", f"{API}/enrol", json_body={"enrolment_code": code}
        )
    finally:
        await transport.close()
    if response.status != 201:
        detail = (response.json() or {}).get("detail") if response.body else None
        raise EnrolmentError(f"HTTP {response.status}: {detail or 'enrolment refused'}")
    answer: dict[str, Any] = response.json()
    store = DiskStore(state_dir)
    try:
        # The credential goes first: without it nothing else is of any use.
        store.save_json("credential", {"credential": answer["credential"]})
        topics = list(answer.get("mqtt_topics") or [])
        store.save_json(
            "device",
            {
                "server_url": server.rstrip("/"),
                "device": answer.get("device"),
                "kind": answer.get("kind"),
                "commune": answer.get("commune"),
                "zone": answer.get("zone"),
                "province": province_from_topics(topics),
                "manifest_url": answer.get("manifest_url"),
                "poll_interval": answer.get("poll_interval"),
                "topics": topics,
            },
        )
        store.save_json("enrolment", {"needs": False})
        store.save_json("manifest", {})  # a new identity: the old manifest is not ours
        store.save_json("commands", {"acks": {}, "sent": []})
    finally:
        store.close()
    return answer


class EnrolmentError(Exception):
    pass


# ---- run --------------------------------------------------------------------------------------


def load_config(args: argparse.Namespace) -> AgentConfig:
    """Defaults < TOML file < command-line flags."""
    values: dict[str, Any] = {}
    if args.config:
        with open(args.config, "rb") as handle:
            values.update(tomllib.load(handle))
    known = {f.name for f in dataclasses.fields(AgentConfig)}
    unknown = set(values) - known
    if unknown:
        raise SystemExit(f"unknown config keys: {', '.join(sorted(unknown))}")
    values["state_dir"] = args.state_dir or values.get("state_dir") or default_state_dir()
    if args.player:
        values["player"] = args.player
    if args.mqtt:
        values["mqtt_url"] = args.mqtt
    if not values.get("server_url"):
        device = DiskStore(values["state_dir"]).load_json("device") or {}
        values["server_url"] = device.get("server_url") or ""
    if not values["server_url"]:
        raise SystemExit("no server_url: enrol first, or set it in the config file")
    return AgentConfig(**values)


def make_player(spec: str | list[str], clock: SystemClock) -> Player:
    if isinstance(spec, list):
        return SubprocessPlayer(spec)
    if spec == "null":
        return NullPlayer(clock)
    if spec in PRESETS:
        return SubprocessPlayer.preset(spec)
    raise SystemExit(f"unknown player {spec!r} (null, {', '.join(PRESETS)} or an argv list)")


async def run_agent(config: AgentConfig) -> None:
    store = DiskStore(config.state_dir)
    credential = (store.load_json("credential") or {}).get("credential")
    if not credential:
        raise SystemExit(f"not enrolled: run `ttcs-agent enrol` (state dir {config.state_dir})")
    clock = SystemClock()
    transport = HttpTransport(config.server_url, credential)
    agent = Agent(
        config,
        store=store,
        transport=transport,
        clock=clock,
        player=make_player(config.player, clock),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = asyncio.create_task(agent.run())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping")
        await agent.shutdown()
    finally:
        for task in (runner, stopper):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await transport.close()
        store.close()


# ---- status -----------------------------------------------------------------------------------


def status_lines(state_dir: str) -> list[str]:
    store = DiskStore(state_dir)
    try:
        device = store.load_json("device") or {}
        saved = store.load_json("manifest") or {}
        offset = (store.load_json("offset") or {}).get("offset", 0.0)
        status = store.load_json("status") or {}
        needs = (store.load_json("enrolment") or {}).get("needs")
        enrolled = bool((store.load_json("credential") or {}).get("credential"))
        played = set(store.load_json("played") or {})

        now = time.time() + offset
        items = items_from_manifest(saved.get("manifest"))
        upcoming = [i for i in items if i.start > now and i.status != "dropped"]
        current = choose(items, now, played).item
        lines = [
            f"device:        {device.get('device') or '-'} ({device.get('kind') or '?'})",
            f"commune/zone:  {device.get('commune') or '-'} / {device.get('zone') or '-'}",
            f"server:        {device.get('server_url') or '-'}",
            f"enrolled:      {'needs enrolment' if needs or not enrolled else 'yes'}",
            f"last status:   {status.get('status', '-')}",
            f"manifest etag: {saved.get('etag') or '-'}",
            f"clock offset:  {offset * 1000:.0f} ms",
            f"now:           {current.key + ' ' + current.title if current else '-'}",
            f"next item:     {upcoming[0].key + ' ' + upcoming[0].title if upcoming else '-'}",
            f"queued events: {store.queue_len()}",
        ]
    finally:
        store.close()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "enrol":
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        state_dir = args.state_dir or default_state_dir()
        try:
            answer = asyncio.run(enrol(args.server, args.code, state_dir))
        except (EnrolmentError, TransportError) as exc:
            print(f"enrolment failed: {exc}", file=sys.stderr)
            return 1
        # Never print the credential: logs and terminals are not protected storage.
        print(
            f"enrolled {answer.get('device')} ({answer.get('kind')}), commune "
            f"{answer.get('commune')}, zone {answer.get('zone') or '-'}; state in {state_dir}"
        )
        return 0
    if args.command == "run":
        logging.basicConfig(
            level=getattr(logging, str(args.log_level).upper(), logging.INFO),
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )
        config = load_config(args)
        Path(config.state_dir).mkdir(parents=True, exist_ok=True)
        asyncio.run(run_agent(config))
        return 0
    if args.command == "status":
        for line in status_lines(args.state_dir or default_state_dir()):
            print(line)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
