"""HttpTransport against a real aiohttp server on a socket: headers, Range, failures."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from ttcs_agent.transport import HttpTransport, TransportError

DATA = bytes(range(256)) * 400


async def _manifest(request: web.Request) -> web.Response:
    auth = request.headers.get("Authorization")
    if auth != "Bearer ttcsd_good":
        return web.json_response({"detail": "no"}, status=401)
    return web.json_response({"version": 1}, headers={"ETag": '"e1"'})


async def _audio(request: web.Request) -> web.StreamResponse:
    return web.Response(
        body=DATA[request.http_range.start or 0 :], status=206 if request.http_range.start else 200
    )


async def _serve(scenario):  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_get("/api/device/v1/manifest", _manifest)
    app.router.add_get("/audio.mp3", _audio)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await scenario(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def test_requests_carry_the_bearer_and_return_lower_case_headers() -> None:
    async def scenario(base: str) -> None:
        good = HttpTransport(base, "ttcsd_good")
        bad = HttpTransport(base + "/", "ttcsd_bad")
        try:
            response = await good.request("GET", "/api/device/v1/manifest")
            assert response.status == 200
            assert response.headers["etag"] == '"e1"'
            assert "date" in response.headers
            assert response.json() == {"version": 1}
            assert (await bad.request("GET", "api/device/v1/manifest")).status == 401
        finally:
            await good.close()
            await bad.close()

    asyncio.run(_serve(scenario))


def test_streams_resume_with_range() -> None:
    async def scenario(base: str) -> None:
        transport = HttpTransport(base, None)
        try:
            async with transport.stream("/audio.mp3", headers={"Range": "bytes=1000-"}) as resp:
                assert resp.status == 206
                body = b"".join([chunk async for chunk in resp.chunks()])
            assert body == DATA[1000:]
        finally:
            await transport.close()

    asyncio.run(_serve(scenario))


def test_an_unreachable_server_is_a_transport_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        transport = HttpTransport(f"http://127.0.0.1:{port}", None, timeout=5)
        try:
            with pytest.raises(TransportError):
                await transport.request("GET", "/x")
            with pytest.raises(TransportError):
                async with transport.stream("/x"):
                    pass
        finally:
            await transport.close()

    asyncio.run(scenario())
