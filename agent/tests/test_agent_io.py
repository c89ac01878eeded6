"""The agent's real I/O parts: MQTT push through the local Mosquitto, a subprocess player."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import uuid
from pathlib import Path

import aiomqtt
import pytest
from agent_fakes import T0, FakeServer, audio_bytes, make_agent, notice
from ttcs_agent.clock import VirtualClock
from ttcs_agent.player import SubprocessPlayer, player_command
from ttcs_agent.schedule import PlayItem


def _broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883")
def test_an_mqtt_push_reaches_notify() -> None:
    async def scenario() -> None:
        topic = f"ttcs/test-{uuid.uuid4().hex}/events"
        clock = VirtualClock(T0)
        agent, _, _ = make_agent(clock, FakeServer(clock), mqtt_url="mqtt://127.0.0.1:1883")
        agent.topics = [topic]
        listener = asyncio.create_task(agent._mqtt())
        payload = {
            "type": "emergency",
            "event": "start",
            "emergency": 4,
            "notice": notice(4, T0, audio_bytes("e"), duration=20),
        }
        try:
            async with aiomqtt.Client("127.0.0.1", 1883) as publisher:
                for _ in range(100):  # until the agent has subscribed (QoS 1, not retained)
                    await publisher.publish(topic, json.dumps(payload), qos=1)
                    await asyncio.sleep(0.05)
                    if any(i.key == "emergency:4:1" for i in agent.items):
                        break
            assert [i.key for i in agent.items] == ["emergency:4:1"]
            # The notice is enough to play; the manifest poll follows 5-15 s later (spread).
            assert not agent._poll_now.is_set()
            await clock.advance(16)
            assert agent._poll_now.is_set()
        finally:
            listener.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_player_command_templates() -> None:
    argv = player_command(
        ["mpv", "--start={offset}", "--volume={volume}", "{path}"], Path("/a.mp3"), 12.5, 60
    )
    assert argv == ["mpv", "--start=12.500", "--volume=60", "/a.mp3"]


def _item(loop: bool = False) -> PlayItem:
    return PlayItem(
        "k", "bulletin", "t", "normal", T0, T0 + 10, loop=loop, sha256="0" * 64, duration=1
    )


def test_subprocess_player_waits_for_the_end_and_stops_on_demand(tmp_path: Path) -> None:
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"")
    # A stand-in for mpv: a Python child that "plays" for as long as it is told.
    script = "import sys, time; time.sleep(float(sys.argv[1]))"

    async def scenario() -> None:
        short = SubprocessPlayer([sys.executable, "-c", script, "0.1", "{path}"])
        await short.start(_item(), audio, 0.0)
        await asyncio.wait_for(short.wait(), 10)  # ended by itself

        long = SubprocessPlayer([sys.executable, "-c", script, "60", "{path}"])
        await long.start(_item(), audio, 0.0)
        process = long._process
        assert process is not None
        assert process.returncode is None
        waiter = asyncio.create_task(long.wait())
        await long.stop()
        assert process.returncode is not None  # terminated
        await asyncio.sleep(0.05)
        assert not waiter.done()  # a stop is not "ended by itself"
        waiter.cancel()

    asyncio.run(scenario())


def test_subprocess_player_adds_loop_arguments_before_the_path() -> None:
    player = SubprocessPlayer.preset("ffplay")
    argv = player._argv(_item(loop=True), Path("/a.mp3"), 3.0)
    assert argv[-3:] == ["-loop", "0", "/a.mp3"]
    assert "3.000" in argv
    assert "-loop" not in player._argv(_item(), Path("/a.mp3"), 0.0)
