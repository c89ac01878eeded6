"""Device polls answered before Django: the manifest file, by `stat()`, with ETag/304.

Every loudspeaker cluster and e-board polls its manifest every few seconds to a minute; with tens
of thousands of devices that is most of the platform's traffic, and nearly every answer is "304,
nothing changed". In production nginx answers `/device-manifests/` from the files itself
(deploy/nginx/ttcs.conf). In the embedded default (`make demo`, granian) this WSGI wrapper does
the same for both poll URLs, so a poll costs a hash, a `stat()` and a few headers instead of the
whole middleware stack and a database query:

- `GET /device-manifests/<capability>.json`, and
- `GET /api/device/v1/manifest` with `Authorization: Bearer <credential>` (the capability is
  computed from the credential, docs/device-protocol.md).

Anything it cannot answer from a file (no file yet, an unknown or revoked credential, a malformed
request) goes to Django unchanged, which renders on demand, or answers 401/404 with a message.
The answers are the same as radio/device_views.py's `_file_response` (tested side by side).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from .manifests import etag_for

API_MANIFEST = "/api/device/v1/manifest"
FILE_PREFIX = "/device-manifests/"
_FILE_RE = re.compile(r"^/device-manifests/([0-9a-f]{64})\.json$")
_MAX_TOKEN = 100
# What Django's SecurityMiddleware and the manifest view would add.
_COMMON_HEADERS = [
    ("Cache-Control", "private, no-cache"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate in (etag, "*"):
            return True
    return False


class ManifestFastPath:
    """WSGI middleware: answer manifest polls from the files, pass everything else on.

    Settings are read once, when the server starts (as every other setting is); the file names
    are the same as credentials.manifest_path gives (a test checks it).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.root = str(settings.TTCS_MANIFEST_ROOT)
        self.key = settings.SECRET_KEY.encode()

    def _file(self, capability: str) -> str:
        return f"{self.root}/{capability[:2]}/{capability}.json"

    def _manifest_file(self, environ: dict[str, Any]) -> str | None:
        """The file a poll asks for, or None when this request is not a poll we can answer."""
        path = environ.get("PATH_INFO", "")
        if path == API_MANIFEST:
            scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN:
                return None
            # credentials.capability_for, inlined with the key read once.
            digest = hashlib.sha256(token.encode()).hexdigest()
            message = f"manifest:{digest}".encode()
            return self._file(hmac.new(self.key, message, hashlib.sha256).hexdigest())
        if path.startswith(FILE_PREFIX):
            match = _FILE_RE.match(path)
            return self._file(match.group(1)) if match else None
        return None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method in ("GET", "HEAD"):
            name = self._manifest_file(environ)
            if name is not None:
                answer = self._from_file(name, environ, start_response, head=method == "HEAD")
                if answer is not None:
                    return answer
        return self.app(environ, start_response)

    @staticmethod
    def _from_file(
        name: str, environ: dict[str, Any], start_response: Callable[..., Any], *, head: bool
    ) -> list[bytes] | None:
        try:
            # The common case, "nothing changed", costs one stat() and no open().
            etag = etag_for(os.stat(name))
            if _etag_matches(environ.get("HTTP_IF_NONE_MATCH", ""), etag):
                start_response("304 Not Modified", [("ETag", etag), *_COMMON_HEADERS])
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
                *_COMMON_HEADERS,
            ],
        )
        return [] if head else [body]
