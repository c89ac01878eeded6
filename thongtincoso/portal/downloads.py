"""Answering a download of a bulletin attachment: headers, byte ranges, nginx hand-off.

Audio players seek with `Range` requests, and Django's FileResponse always sends the whole file,
so single byte ranges are answered here (RFC 9110 §14). Several ranges in one request are rare
(no audio or PDF reader we know of sends them) and are answered with the whole file, which the
RFC allows. In production nginx sends the file itself (`X-Accel-Redirect`, deploy/nginx) and
handles ranges on its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header
from django.utils.text import slugify

from thongtincoso.bulletins.models import Attachment
from thongtincoso.bulletins.uploads import ACCEPTED

# nginx's internal location for MEDIA_ROOT (deploy/nginx/ttcs.conf).
PROTECTED_MEDIA_PREFIX = "/protected-media/"
CHUNK = 64 * 1024
# Published files may be cached briefly: a withdrawn bulletin's files must stop being served soon.
PUBLIC_MAX_AGE = 300

_UNSAFE_IN_NAMES = frozenset('<>:"/\\|?*')
_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> ByteRange | None:
    """The one byte range a `Range` header asks for, or None to send the whole file.

    None for an absent, malformed or multi-range header (all ignorable, RFC 9110 §14.2); raises
    RangeNotSatisfiable when the range lies wholly beyond the end of the file (416).
    """
    match = _SINGLE_RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None  # "bytes=-"
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range-spec: ignore the header
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end)


def download_name(attachment: Attachment) -> str:
    """The file name offered to the browser: the uploader's name, made safe for a header and a
    file system, always ending with the extension the content was recognised as."""
    name = unicodedata.normalize("NFC", attachment.original_name or "")
    # No control characters, and none that a file system (Windows' is the strictest) refuses.
    name = "".join(ch if ch.isprintable() and ch not in _UNSAFE_IN_NAMES else "_" for ch in name)
    name = name.strip(" ._")[:150] or "file"
    extension = f".{attachment.extension}"
    if not name.lower().endswith(extension.lower()):
        name += extension
    return name


def url_name(attachment: Attachment) -> str:
    """The last segment of the download URL: ASCII, readable, no user-chosen punctuation."""
    stem = (attachment.original_name or "").rsplit(".", 1)[0]
    stem = slugify(stem)[:80].strip("-") or "file"
    return f"{stem}.{attachment.extension}"


def _x_accel_redirect() -> bool:
    return bool(settings.TTCS_X_ACCEL_REDIRECT) and not settings.DEBUG


def _chunks(stream: IO[bytes], byte_range: ByteRange) -> Iterator[bytes]:
    try:
        stream.seek(byte_range.start)
        remaining = byte_range.length
        while remaining > 0:
            data = stream.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        stream.close()


def attachment_response(
    request: HttpRequest, attachment: Attachment, *, public: bool
) -> HttpResponseBase:
    """The attachment as an HTTP response (200, 206 or 416), with safe headers.

    Raises Http404 when the file is missing from storage.
    """
    content_type = attachment.content_type
    known = content_type in ACCEPTED
    # Only content-checked types are shown inline (images, audio, PDF); anything else, which the
    # upload checks should never let in, is a download of opaque bytes.
    if not known:
        content_type = "application/octet-stream"
    return stored_file_response(
        request,
        name=attachment.file.name,
        content_type=content_type,
        filename=download_name(attachment),
        inline=known,
        etag=attachment.sha256,
        public=public,
    )


def stored_file_response(
    request: HttpRequest,
    *,
    name: str,
    content_type: str,
    filename: str,
    inline: bool,
    etag: str,
    public: bool,
    max_age: int = PUBLIC_MAX_AGE,
) -> HttpResponseBase:
    """A file from media storage (200, 206 or 416; Range and If-Range), or X-Accel-Redirect.

    `etag` is the content's hash, so a changed file never matches an old validator. Raises Http404
    when the file is missing from storage.
    """
    # Never None: the name is never empty.
    disposition = content_disposition_header(not inline, filename) or "inline"
    etag = f'"{etag}"'

    if _x_accel_redirect():
        response: HttpResponseBase = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = PROTECTED_MEDIA_PREFIX + quote(name)
    else:
        try:
            stream = default_storage.open(name, "rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        size = stream.size
        if_range = request.headers.get("If-Range", "")
        header = request.headers.get("Range", "") if not if_range or if_range == etag else ""
        try:
            byte_range = parse_range(header, size) if request.method in ("GET", "HEAD") else None
        except RangeNotSatisfiable:
            stream.close()
            response = HttpResponse(status=416, content_type=content_type)
            response["Content-Range"] = f"bytes */{size}"
            byte_range = None
        else:
            if byte_range is None:
                response = FileResponse(stream, content_type=content_type)
            else:
                response = StreamingHttpResponse(
                    _chunks(stream, byte_range), status=206, content_type=content_type
                )
                response["Content-Length"] = str(byte_range.length)
                response["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
        response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={max_age}" if public else "private, no-store"
    return response
