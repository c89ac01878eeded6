"""How the agent reaches the server: an injected `Transport`.

`HttpTransport` is the real one (aiohttp). Tests and drills pass an in-process transport that
answers from a fake or from the Django test client, with no socket at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

CHUNK_SIZE = 64 * 1024


class TransportError(OSError):
    """The server could not be reached (DNS, refused, reset, timeout): treated like a 5xx."""


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case keys
    body: bytes = b""
    # Seconds between the headers' arrival and the end of the body (the agent dates a `Date`
    # header by the headers' arrival). 0 for in-memory transports.
    body_seconds: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


class StreamResponse(Protocol):
    status: int
    headers: dict[str, str]  # lower-case keys

    def chunks(self) -> AsyncIterator[bytes]: ...


class Transport(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Response: ...

    def stream(
        self, path: str, *, headers: dict[str, str] | None = None
    ) -> AbstractAsyncContextManager[StreamResponse]: ...


@dataclass
class BytesStream:
    """A `StreamResponse` over bytes already in memory (fake servers, in-process transports)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunk_size: int = CHUNK_SIZE

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.chunk_size):
            yield self.body[start : start + self.chunk_size]


class _AiohttpStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK_SIZE):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"download interrupted: {exc}") from exc


class HttpTransport:
    """aiohttp transport adding `Authorization: Bearer <credential>` to every request.

    Pass `session` to share one connection pool between many agents (the simulator); without
    it the transport owns a session and `close()` closes it.
    """

    def __init__(
        self,
        base_url: str,
        credential: str | None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 15,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self._session = session
        self._owns_session = session is None
        # From the moment a connection is ours: waiting for one from a pool shared by thousands
        # of simulated devices (each real device has its own) is not the server's slowness.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        # Downloads can be long: bound the silence between bytes, not the whole transfer.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout, sock_read=timeout
        )

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        return headers

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Response:
        session = self._get_session()
        try:
            async with session.request(
                method,
                self._url(path),
                headers=self._headers(headers),
                json=json_body,
                timeout=self._timeout,
            ) as response:
                headers_at = time.monotonic()
                body = await response.read()
                return Response(
                    response.status,
                    {k.lower(): v for k, v in response.headers.items()},
                    body,
                    body_seconds=time.monotonic() - headers_at,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{method} {path}: {exc}") from exc

    @asynccontextmanager
    async def _stream(
        self, path: str, headers: dict[str, str] | None
    ) -> AsyncIterator[_AiohttpStream]:
        session = self._get_session()
        try:
            response = await session.get(
                self._url(path), headers=self._headers(headers), timeout=self._stream_timeout
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"GET {path}: {exc}") from exc
        try:
            yield _AiohttpStream(response)
        finally:
            response.release()

    def stream(
        self, path: str, *, headers: dict[str, str] | None = None
    ) -> AbstractAsyncContextManager[StreamResponse]:
        return self._stream(path, headers)

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
