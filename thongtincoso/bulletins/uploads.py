"""Attachment checks by content: the bytes decide the type, never the file name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

import filetype
from django.utils.translation import gettext as _

from thongtincoso.core.errors import ServiceError

from .models import AttachmentKind

MB = 1024 * 1024
SIZE_LIMITS = {
    AttachmentKind.IMAGE: 10 * MB,
    AttachmentKind.PDF: 20 * MB,
    AttachmentKind.AUDIO: 50 * MB,
}
MAX_ATTACHMENTS = 20

# Recognised types: MIME type → (kind, extension).
ACCEPTED = {
    "image/jpeg": (AttachmentKind.IMAGE, "jpg"),
    "image/png": (AttachmentKind.IMAGE, "png"),
    "image/webp": (AttachmentKind.IMAGE, "webp"),
    "image/gif": (AttachmentKind.IMAGE, "gif"),
    "application/pdf": (AttachmentKind.PDF, "pdf"),
    "audio/mpeg": (AttachmentKind.AUDIO, "mp3"),
    "audio/ogg": (AttachmentKind.AUDIO, "ogg"),
    "audio/x-wav": (AttachmentKind.AUDIO, "wav"),
    "audio/x-flac": (AttachmentKind.AUDIO, "flac"),
    "audio/mp4": (AttachmentKind.AUDIO, "m4a"),
    "video/mp4": (AttachmentKind.AUDIO, "m4a"),  # .m4a files often carry the MP4 video brand
}
ACCEPTED_DESCRIPTION = "JPEG, PNG, WebP, GIF, PDF, MP3, OGG/Opus, WAV, FLAC, M4A"


@dataclass(frozen=True)
class CheckedUpload:
    kind: str
    content_type: str
    extension: str
    size: int
    sha256: str


def check_upload(stream: IO[bytes], *, name: str) -> CheckedUpload:
    """Identify an upload by its bytes and check its size; ServiceError names what is wrong."""
    head = stream.read(8192)
    stream.seek(0)
    guess = filetype.guess(head) if head else None
    mime = guess.mime if guess else ""
    if not head:
        raise ServiceError(_("“%(name)s” is empty.") % {"name": name}, field="file")
    if mime not in ACCEPTED and _looks_like_mp3(head):
        mime = "audio/mpeg"  # MPEG audio frames without an ID3 tag
    if mime not in ACCEPTED:
        raise ServiceError(
            _("“%(name)s” is not a file type we accept. Accepted: %(types)s.")
            % {"name": name, "types": ACCEPTED_DESCRIPTION},
            field="file",
        )
    kind, extension = ACCEPTED[mime]
    digest = hashlib.sha256()
    size = 0
    limit = SIZE_LIMITS[kind]
    for chunk in iter(lambda: stream.read(1024 * 1024), b""):
        size += len(chunk)
        if size > limit:
            raise ServiceError(
                _("“%(name)s” is larger than the %(limit)d MB allowed for this kind of file.")
                % {"name": name, "limit": limit // MB},
                field="file",
            )
        digest.update(chunk)
    stream.seek(0)
    if kind == AttachmentKind.IMAGE:
        _verify_image(stream, name)
    return CheckedUpload(kind, mime, extension, size, digest.hexdigest())


def _looks_like_mp3(head: bytes) -> bool:
    # An MPEG-1/2 Layer III frame header: 11 sync bits, then a valid layer and bitrate.
    return (
        len(head) > 4 and head[0] == 0xFF and (head[1] & 0xE6) == 0xE2 and (head[2] & 0xF0) != 0xF0
    )


def _verify_image(stream: IO[bytes], name: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(stream) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ServiceError(
            _("“%(name)s” is not a readable image.") % {"name": name}, field="file"
        ) from exc
    finally:
        stream.seek(0)
