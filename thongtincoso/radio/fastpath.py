"""Device polls and downloads answered before Django: files, by `stat()`, with ETag/304.

Every loudspeaker cluster and e-board polls its manifest every few seconds to a minute; with tens
of thousands of devices that is most of the platform's traffic, and nearly every answer is "304,
nothing changed". In production nginx answers `/device-manifests/` from the files itself
(deploy/nginx/ttcs.conf). In the embedded default (`make demo`, granian) this WSGI wrapper does
the same for both poll URLs, so a poll costs a hash, a `stat()` and a few headers instead of the
whole middleware stack and a database query:

- `GET /device-manifests/<capability>.json`, and
- `GET /api/device/v1/manifest` with `Authorization: Bearer <credential>` (the capability is
  computed from the credential, docs/device-protocol.md);
- `GET /device-alerts/<province code>.json`, the public alerts file (alerts.py): polled by every
  device with its manifest, and the first thing fetched when an emergency starts;
- `GET /api/device/v1/audio/<sha256>.mp3` with the bearer header: at an emergency's start every
  reached device downloads the same file at once. The credential is checked by its manifest
  file's existence (revocation deletes it), the file is sent from MEDIA_ROOT when the default
  storage is Django's FileSystemStorage (or handed to nginx with X-Accel-Redirect, as the view
  does), with ETag/304 and a single byte range.

Anything it cannot answer from a file (no file yet, an unknown or revoked credential, a malformed
or unusual request: several ranges, If-Range, a range past the end) goes to Django unchanged,
which renders on demand, or answers 401/404/416 with a message. The answers are the same as
radio/device_views.py's (tested side by side).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.utils.http import content_disposition_header

from .manifests import etag_for

API_MANIFEST = "/api/device/v1/manifest"
FILE_PREFIX = "/device-manifests/"
ALERTS_PREFIX = "/device-alerts/"
AUDIO_PREFIX = "/api/device/v1/audio/"
_FILE_RE = re.compile(r"^/device-manifests/([0-9a-f]{64})\.json$")
_ALERTS_RE = re.compile(r"^/device-alerts/([0-9][0-9.]{0,19})\.json$")  # as alerts.CODE_RE
_AUDIO_RE = re.compile(r"^/api/device/v1/audio/([0-9a-f]{64})\.mp3$")
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_MAX_TOKEN = 100
_CHUNK = 64 * 1024
# What Django's SecurityMiddleware adds to every answer.
_SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")]
# What the manifest view (device_views._file_response) adds.
_COMMON_HEADERS = [("Cache-Control", "private, no-cache"), *_SECURITY_HEADERS]
_ALERTS_HEADERS = [("Cache-Control", "no-cache"), *_SECURITY_HEADERS]  # ALERTS_CACHE_CONTROL
# device_views.AUDIO_CACHE_CONTROL; portal.downloads.PROTECTED_MEDIA_PREFIX.
_AUDIO_CACHE_CONTROL = "private, max-age=31536000, immutable"
_PROTECTED_MEDIA_PREFIX = "/protected-media/"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate in (etag, "*"):
            return True
    return False


def _audio_root() -> str | None:
    """MEDIA storage's directory when it is Django's FileSystemStorage, else None (S3 and the
    like: the fast path cannot see those files and leaves audio to Django)."""
    from django.core.files.storage import FileSystemStorage, storages

    backend = storages["default"]
    if not isinstance(backend, FileSystemStorage):
        return None
    return str(backend.location)


class _FileRange:
    """`length` bytes of an open file from `start`, as a WSGI iterable that closes the file."""

    def __init__(self, stream: Any, start: int, length: int) -> None:
        self.stream, self.start, self.remaining = stream, start, length

    def __iter__(self) -> Iterator[bytes]:
        self.stream.seek(self.start)
        while self.remaining > 0:
            data = self.stream.read(min(_CHUNK, self.remaining))
            if not data:
                return
            self.remaining -= len(data)
            yield data

    def close(self) -> None:
        self.stream.close()


class ManifestFastPath:
    """WSGI middleware: answer device polls and audio downloads from files, pass the rest on.

    Settings are read once, when the server starts (as every other setting is); the file names
    are the same as credentials.manifest_path, alerts.alerts_path and the speech app's
    asset_name give (a test checks them).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.root = str(settings.TTCS_MANIFEST_ROOT)
        self.key = settings.SECRET_KEY.encode()
        self.audio_root = _audio_root()
        # As portal.downloads._x_accel_redirect: nginx sends media files itself.
        self.x_accel = bool(settings.TTCS_X_ACCEL_REDIRECT) and not settings.DEBUG

    def _file(self, capability: str) -> str:
        return f"{self.root}/{capability[:2]}/{capability}.json"

    def _capability_file(self, environ: dict[str, Any]) -> str | None:
        """The manifest file named by the request's bearer credential (None without one)."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN:
            return None
        # credentials.capability_for, inlined with the key read once.
        digest = hashlib.sha256(token.encode()).hexdigest()
        message = f"manifest:{digest}".encode()
        return self._file(hmac.new(self.key, message, hashlib.sha256).hexdigest())

    def _manifest_file(self, environ: dict[str, Any]) -> str | None:
        """The file a poll asks for, or None when this request is not a poll we can answer."""
        path = environ.get("PATH_INFO", "")
        if path == API_MANIFEST:
            return self._capability_file(environ)
        if path.startswith(FILE_PREFIX):
            match = _FILE_RE.match(path)
            return self._file(match.group(1)) if match else None
        return None

    def _alerts_file(self, path: str) -> str | None:
        match = _ALERTS_RE.match(path)
        return f"{self.root}/alerts/{match.group(1)}.json" if match else None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method in ("GET", "HEAD"):
            answer = self._answer(environ, start_response, head=method == "HEAD")
            if answer is not None:
                return answer
        return self.app(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any], *, head: bool
    ) -> Iterable[bytes] | None:
        path = environ.get("PATH_INFO", "")
        if path.startswith(ALERTS_PREFIX):
            name = self._alerts_file(path)
            if name is None:
                return None
            return self._from_file(name, environ, start_response, head=head, extra=_ALERTS_HEADERS)
        if path.startswith(AUDIO_PREFIX):
            return self._audio(path, environ, start_response, head=head)
        name = self._manifest_file(environ)
        if name is None:
            return None
        return self._from_file(name, environ, start_response, head=head, extra=_COMMON_HEADERS)

    @staticmethod
    def _from_file(
        name: str,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        *,
        head: bool,
        extra: list[tuple[str, str]],
    ) -> list[bytes] | None:
        try:
            # The common case, "nothing changed", costs one stat() and no open().
            etag = etag_for(os.stat(name))
            if _etag_matches(environ.get("HTTP_IF_NONE_MATCH", ""), etag):
                start_response("304 Not Modified", [("ETag", etag), *extra])
                return []
            with open(name, "rb") as stream:
                # The ETag of the bytes actually sent (the file may have been replaced since).
                etag = etag_for(os.fstat(stream.fileno()))
                body = stream.read()
        except OSError:
            # No file (Django renders now, or answers 401/404), or an unreadable one (Django
            # reports the server error properly).
            return None
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("ETag", etag),
                *extra,
            ],
        )
        return [] if head else [body]

    # --- Audio ----------------------------------------------------------------------------------

    def _audio(
        self, path: str, environ: dict[str, Any], start_response: Callable[..., Any], *, head: bool
    ) -> Iterable[bytes] | None:
        match = _AUDIO_RE.match(path)
        if match is None or self.audio_root is None:
            return None
        capability_file = self._capability_file(environ)
        try:
            if capability_file is None or not os.path.exists(capability_file):
                return None  # Django: 401 for an unknown or revoked credential
        except OSError:
            return None
        sha = match.group(1)
        etag = f'"{sha}"'
        cache = [("ETag", etag), ("Cache-Control", _AUDIO_CACHE_CONTROL)]
        if _etag_matches(environ.get("HTTP_IF_NONE_MATCH", ""), etag):
            start_response("304 Not Modified", [*cache, *_SECURITY_HEADERS])
            return []
        name = f"audio/{sha[:2]}/{sha}.mp3"  # speech.models.asset_name
        full = f"{self.audio_root}/{name}"
        headers = [
            ("Content-Type", "audio/mpeg"),
            ("Content-Disposition", content_disposition_header(False, f"{sha}.mp3") or "inline"),
            *cache,
            *_SECURITY_HEADERS,
        ]
        if self.x_accel:
            if not os.path.isfile(full):
                return None  # Django: 404
            accel = [("X-Accel-Redirect", _PROTECTED_MEDIA_PREFIX + name), ("Content-Length", "0")]
            start_response("200 OK", [*accel, *headers])
            return []
        return self._send_audio(full, environ, start_response, headers, head=head)

    @staticmethod
    def _send_audio(
        full: str,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        headers: list[tuple[str, str]],
        *,
        head: bool,
    ) -> Iterable[bytes] | None:
        header = environ.get("HTTP_RANGE", "")
        if header and environ.get("HTTP_IF_RANGE"):
            return None  # rare: Django compares it
        wanted = _RANGE_RE.match(header.strip()) if header else None
        if header and wanted is None:
            return None  # several ranges, a suffix range, nonsense: Django decides
        try:
            stream = open(full, "rb")  # noqa: SIM115  (closed by the WSGI server via close())
        except OSError:
            return None  # Django: 404
        size = os.fstat(stream.fileno()).st_size
        headers = [*headers, ("Accept-Ranges", "bytes")]
        if wanted is None:
            start_response("200 OK", [*headers, ("Content-Length", str(size))])
            return ManifestFastPath._body(stream, environ, 0, size, head=head)
        start = int(wanted.group(1))
        end = int(wanted.group(2)) if wanted.group(2) else size - 1
        if start >= size or end < start:
            stream.close()
            return None  # Django: 416, or the whole file
        end = min(end, size - 1)
        length = end - start + 1
        start_response(
            "206 Partial Content",
            [
                *headers,
                ("Content-Length", str(length)),
                ("Content-Range", f"bytes {start}-{end}/{size}"),
            ],
        )
        return ManifestFastPath._body(stream, environ, start, length, head=head)

    @staticmethod
    def _body(
        stream: Any, environ: dict[str, Any], start: int, length: int, *, head: bool
    ) -> Iterable[bytes]:
        if head:
            stream.close()
            return []
        wrapper = environ.get("wsgi.file_wrapper")
        if start == 0 and wrapper is not None and length == os.fstat(stream.fileno()).st_size:
            # The server may send it with sendfile().
            return wrapper(stream, _CHUNK)  # type: ignore[no-any-return]
        return _FileRange(stream, start, length)
