"""`ttcs-agent enrol` and `status` against a tiny aiohttp server on a real socket."""

from __future__ import annotations

import asyncio
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from ttcs_agent.cli import load_config, main
from ttcs_agent.store import DiskStore

CREDENTIAL = "ttcsd_Rs93lYjLNvGKcfrPssmuzWQae_JXUm13V2DnPs3L3t0"
ANSWER = {
    "device": "HK-LOA-01",
    "kind": "cluster",
    "commune": "00070",
    "zone": "00070.001",
    "credential": CREDENTIAL,
    "manifest_url": "/device-manifests/ad32.json",
    "poll_interval": 60,
    "mqtt_topics": [
        "ttcs/devices/HK-LOA-01/events",
        "ttcs/zones/00070.001/events",
        "ttcs/communes/00070/events",
        "ttcs/provinces/01/events",
    ],
}


async def _enrol(request: web.Request) -> web.Response:
    body = await request.json()
    if body.get("enrolment_code") != "4M7Q-BE8Q-B5FT":
        return web.json_response({"detail": "wrong code", "field": "enrolment_code"}, status=400)
    return web.json_response(ANSWER, status=201)


@pytest.fixture
def server_url() -> Iterator[str]:
    """The server runs on its own loop in a thread: the CLI calls asyncio.run itself."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/api/device/v1/enrol", _enrol)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def test_enrol_stores_a_private_credential_and_never_prints_it(
    server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    code = main(
        ["enrol", "--server", server_url, "--code", "4M7Q-BE8Q-B5FT", "--state-dir", str(state)]
    )
    out = capsys.readouterr()
    assert code == 0
    assert "HK-LOA-01" in out.out
    assert CREDENTIAL not in out.out + out.err
    credential_file = state / "credential.json"
    assert stat.S_IMODE(credential_file.stat().st_mode) == 0o600
    store = DiskStore(state)
    assert store.load_json("credential") == {"credential": CREDENTIAL}
    device: dict[str, Any] = store.load_json("device")
    assert device["province"] == "01"
    assert device["zone"] == "00070.001"
    assert device["server_url"] == server_url
    assert len(device["topics"]) == 4


def test_a_wrong_code_fails_and_stores_nothing(
    server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    code = main(
        ["enrol", "--server", server_url, "--code", "AAAA-AAAA-AAAA", "--state-dir", str(state)]
    )
    assert code == 1
    assert "wrong code" in capsys.readouterr().err
    assert not (state / "credential.json").exists()


def test_status_prints_what_the_device_knows(
    server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    main(["enrol", "--server", server_url, "--code", "4M7Q-BE8Q-B5FT", "--state-dir", str(state)])
    DiskStore(state).queue_put({"event_id": "E1", "item_key": "k"})
    capsys.readouterr()
    assert main(["status", "--state-dir", str(state)]) == 0
    out = capsys.readouterr().out
    assert "HK-LOA-01" in out
    assert "queued events: 1" in out
    assert CREDENTIAL not in out


def test_config_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'server_url = "https://ttcs.example"\nplayer = "mpv"\nheartbeat_interval = 30\n', "utf-8"
    )
    parsed = load_config(
        _args(config=str(config), state_dir=str(tmp_path), player="ffplay", mqtt="mqtt://b:1883")
    )
    assert parsed.server_url == "https://ttcs.example"
    assert parsed.player == "ffplay"
    assert parsed.heartbeat_interval == 30
    assert parsed.mqtt_url == "mqtt://b:1883"
    assert parsed.state_dir == str(tmp_path)
    config.write_text('server_url = "x"\nvolume_boost = 3\n', "utf-8")
    with pytest.raises(SystemExit):
        load_config(_args(config=str(config), state_dir=str(tmp_path)))


def _args(**values: Any) -> Any:
    import argparse

    defaults = {"config": None, "state_dir": None, "player": None, "mqtt": None}
    return argparse.Namespace(**{**defaults, **values})
