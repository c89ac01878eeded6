"""A real local HTTP TTS service for the HTTP engine's tests.

`FakeTTSServer` listens on 127.0.0.1 (free port) in a background thread. POST / with JSON
{"text", "voice", "speed", "format"} answers a WAV (a 330 Hz sine whose length is
0.06 s × characters ÷ speed), checks the API key, and can be switched into other behaviours
through `server.mode`:

- "direct":  the WAV in the body (audio/wav);
- "octet":   the WAV as application/octet-stream;
- "async":   JSON {"async": <url>}; that URL answers 404 twice, then the WAV (like FPT.AI);
- "async_never": JSON URL that answers 404 forever;
- "json_no_url": JSON without any URL;
- "status:<code>": that HTTP status (e.g. "status:500");
- "slow":    sleeps `slow_seconds` before answering;
- "garbage": random bytes as audio/wav.
"""

from __future__ import annotations

import io
import json
import math
import struct
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SAMPLE_RATE = 16_000
SECONDS_PER_CHAR = 0.06


def make_wav(text: str, speed: float) -> bytes:
    n = max(1, int(SAMPLE_RATE * SECONDS_PER_CHAR * len(text) / max(speed, 0.1)))
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 330 * i / SAMPLE_RATE)))
        for i in range(n)
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(frames)
    return buf.getvalue()


@dataclass
class FakeTTSServer:
    api_key: str = "sk-test-SECRET-123"
    key_header: str = "Authorization"
    mode: str = "direct"
    slow_seconds: float = 2.0
    not_ready_times: int = 2
    requests: list[dict[str, Any]] = field(default_factory=list)  # what the engine sent
    _jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1/tts"

    def key_ok(self, headers: Any) -> bool:
        value = headers.get(self.key_header, "")
        if self.key_header.lower() == "authorization":
            return bool(value == f"Bearer {self.api_key}")
        return bool(value == self.api_key)

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw.decode("utf-8"))
                except ValueError:
                    self._send(400, b'{"error": "bad json"}', "application/json")
                    return
                with server._lock:
                    server.requests.append({"headers": dict(self.headers), "json": payload})
                if not server.key_ok(self.headers):
                    self._send(401, b'{"error": "invalid api key"}', "application/json")
                    return
                mode = server.mode
                if mode.startswith("status:"):
                    self._send(int(mode.split(":", 1)[1]), b'{"error": "boom"}', "application/json")
                    return
                if mode == "slow":
                    time.sleep(server.slow_seconds)
                if mode == "garbage":
                    self._send(200, bytes(range(256)) * 20, "audio/wav")
                    return
                if mode == "json_no_url":
                    self._send(200, b'{"error": 0, "message": "ok"}', "application/json")
                    return
                wav = make_wav(str(payload.get("text", "")), float(payload.get("speed", 1.0)))
                if mode in ("async", "async_never"):
                    with server._lock:
                        job = f"job{len(server._jobs)}"
                        server._jobs[job] = {"wav": wav, "misses": 0, "never": mode != "async"}
                    body = json.dumps({"error": 0, "async": f"/audio/{job}.wav"}).encode()
                    self._send(200, body, "application/json")
                    return
                ctype = "application/octet-stream" if mode == "octet" else "audio/wav"
                self._send(200, wav, ctype)

            def do_GET(self) -> None:
                job_id = self.path.rsplit("/", 1)[-1].removesuffix(".wav")
                with server._lock:
                    server.requests.append({"headers": dict(self.headers), "get": self.path})
                    job = server._jobs.get(job_id)
                    ready = job is not None and not job["never"]
                    if ready and job["misses"] < server.not_ready_times:
                        job["misses"] += 1
                        ready = False
                if not ready:
                    self._send(404, b"not ready", "text/plain")
                    return
                self._send(200, job["wav"], "audio/wav")

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # don't wait for a "slow" handler on shutdown
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@contextmanager
def fake_tts_server(**options: Any) -> Iterator[FakeTTSServer]:
    server = FakeTTSServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
