"""A generic HTTP engine for a commercial Vietnamese TTS service (standard library HTTP only).

Request: POST `url` with JSON `{"text", "voice", "speed": rate/180, "format": "wav"}` and the key
in `key_header` ("Authorization: Bearer <key>" by default, the raw key for any other header).

Answer, recognised automatically:
(a) audio in the body (Content-Type audio/* or application/octet-stream, or anything that is not
    JSON): decoded with PyAV;
(b) JSON naming the audio's URL under `audio_url`, `url` or `async` (FPT.AI's style): that URL is
    fetched with GET, retried with a short backoff while it answers 404 (the service is still
    rendering), all within `timeout` seconds counted from the POST.

The API key never appears in errors or logs: every string that leaves this module goes through
`_redact`.
"""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from http.client import HTTPException
from typing import Any

import numpy as np

from ..clip import Clip
from ..errors import EngineError
from .base import DEFAULT_RATE, MAX_RATE, MIN_RATE, Voice
from .espeak import trim_silence

_LOGGER = logging.getLogger(__name__)

URL_KEYS = ("audio_url", "url", "async")
_FIRST_BACKOFF = 0.2
_MAX_BACKOFF = 2.0
_MAX_BODY = 64 * 1024 * 1024  # refuse to buffer more than this


def decode_audio(data: bytes) -> Clip:
    """Any container/codec FFmpeg knows → mono float32 Clip at the stream's own rate."""
    import av

    if not data:
        raise EngineError("service_bad_audio")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise EngineError("service_bad_audio")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            if rate <= 0:
                raise EngineError("service_bad_audio")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            parts: list[np.ndarray] = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except EngineError:
        raise
    except Exception:  # av.error.FFmpegError and friends: not audio
        raise EngineError("service_bad_audio") from None
    samples = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        raise EngineError("service_bad_audio")
    return Clip(np.clip(samples, -1.0, 1.0), rate)


class HttpEngine:
    name = "http"

    def __init__(
        self,
        url: str = "",
        api_key: str = "",
        timeout: float = 30.0,
        key_header: str = "Authorization",
        voices: Sequence[str] | str = (),
    ):
        self.url = url
        self._api_key = api_key
        self.timeout = float(timeout)
        self.key_header = key_header or "Authorization"
        if isinstance(voices, str):  # "a, b" from an environment variable
            voices = voices.split(",")
        self.voice_ids = tuple(v.strip() for v in voices if v and v.strip())

    def __repr__(self) -> str:  # never show the key
        return f"HttpEngine(url={self._redact(self.url)!r}, voices={self.voice_ids!r})"

    # --- helpers -----------------------------------------------------------------------------

    def _redact(self, value: str) -> str:
        if self._api_key:
            value = value.replace(self._api_key, "***")
            quoted = urllib.parse.quote(self._api_key, safe="")
            if quoted != self._api_key:
                value = value.replace(quoted, "***")
        parts = urllib.parse.urlsplit(value)
        if parts.password or parts.username:  # user:password@host
            host = parts.hostname or ""
            if parts.port:
                host = f"{host}:{parts.port}"
            value = urllib.parse.urlunsplit(parts._replace(netloc=host))
        return value

    def _headers(self, target: str = "") -> dict[str, str]:
        """Request headers; the key goes only to the configured service's own origin (the audio
        URL of an asynchronous answer may be on a CDN that must not see it)."""
        headers = {"Accept": "audio/*, application/json;q=0.9, */*;q=0.5"}
        if self._api_key and (not target or _origin(target) == _origin(self.url)):
            if self.key_header.lower() == "authorization":
                headers["Authorization"] = f"Bearer {self._api_key}"
            else:
                headers[self.key_header] = self._api_key
        return headers

    def _open(self, request: urllib.request.Request, deadline: float) -> tuple[int, str, bytes]:
        """(status, content type, body); raises EngineError for transport failures and for
        error statuses other than 404 (which the caller may retry)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EngineError("service_unreachable", url=self._redact(self.url))
        try:
            with urllib.request.urlopen(request, timeout=remaining) as response:  # noqa: S310
                body = response.read(_MAX_BODY + 1)
                if len(body) > _MAX_BODY:
                    raise EngineError("service_bad_audio")
                return response.status, response.headers.get_content_type(), body
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if status in (401, 403):
                raise EngineError("service_auth") from None
            if status == 404:
                return status, "", b""
            raise EngineError("service_error", status=status) from None
        except (OSError, HTTPException):  # URLError, refused, reset, TimeoutError, bad status line
            raise EngineError("service_unreachable", url=self._redact(self.url)) from None

    # --- Engine ------------------------------------------------------------------------------

    def voices(self) -> list[Voice]:
        return [Voice(id=v, name=v) for v in self.voice_ids]

    def synthesize(self, text: str, *, voice: str, rate: int = DEFAULT_RATE) -> Clip:
        if self.voice_ids and voice not in self.voice_ids:
            raise EngineError("voice_not_found", voice=voice)
        if not voice:
            raise EngineError("voice_not_found", voice=voice)
        if not text.strip():
            raise EngineError("text_empty")
        if not self.url.startswith(("http://", "https://")):
            raise EngineError("engine_misconfigured", engine="http", setting="url")
        rate = max(MIN_RATE, min(MAX_RATE, int(rate)))
        deadline = time.monotonic() + self.timeout
        speed = round(rate / DEFAULT_RATE, 2)
        payload = {"text": text, "voice": voice, "speed": speed, "format": "wav"}
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            self.url,
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={**self._headers(), "Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        status, content_type, body = self._open(request, deadline)
        if status == 404:
            raise EngineError("service_error", status=404)
        audio_url = _audio_url(content_type, body)
        if audio_url is not None:
            body = self._fetch_rendered(urllib.parse.urljoin(self.url, audio_url), deadline)
        clip = decode_audio(body)
        samples = trim_silence(clip.samples, clip.sample_rate)
        if samples.size == 0:
            raise EngineError("service_bad_audio")
        return Clip(np.ascontiguousarray(samples, dtype=np.float32), clip.sample_rate)

    def _fetch_rendered(self, audio_url: str, deadline: float) -> bytes:
        if not audio_url.startswith(("http://", "https://")):
            raise EngineError("service_bad_audio")
        delay = _FIRST_BACKOFF
        while True:
            request = urllib.request.Request(  # noqa: S310 (scheme checked above)
                audio_url, headers=self._headers(audio_url), method="GET"
            )
            status, _content_type, body = self._open(request, deadline)
            if status != 404:
                return body
            remaining = deadline - time.monotonic()
            if remaining <= _FIRST_BACKOFF:  # no time left for another try
                _LOGGER.info("TTS audio still not ready at %s", self._redact(audio_url))
                raise EngineError("service_unreachable", url=self._redact(self.url))
            pause = min(delay, remaining - _FIRST_BACKOFF / 2)
            _LOGGER.debug("TTS audio not ready yet, retrying in %.1fs", pause)
            time.sleep(pause)
            delay = min(delay * 2, _MAX_BACKOFF)

    def fingerprint(self, voice: str) -> str:
        return f"http url={self._redact(self.url)} voice={voice}"


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _audio_url(content_type: str, body: bytes) -> str | None:
    """The audio URL if the answer is JSON naming one; None if the body is (supposedly) audio."""
    if content_type.startswith("audio/") or content_type == "application/octet-stream":
        return None
    if content_type != "application/json" and body.lstrip()[:1] != b"{":
        return None
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EngineError("service_bad_audio") from None
    if isinstance(data, dict):
        for key in URL_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    raise EngineError("service_bad_audio")
