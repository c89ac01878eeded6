"""Test helpers: files that pass the upload checks by content, attached through the service."""

from __future__ import annotations

import io
from typing import Any

from thongtincoso.bulletins import services
from thongtincoso.bulletins.models import Attachment, Bulletin


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def mp3_bytes(size: int = 20_000) -> bytes:
    # An ID3v2 header is enough for the content check; the rest is a recognisable byte pattern,
    # so a range can be compared with the bytes it must contain.
    header = b"ID3\x03\x00\x00\x00\x00\x00\x00"
    body = bytes(i % 251 for i in range(size - len(header)))
    return header + body


def pdf_bytes() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def attach(actor: Any, bulletin: Bulletin, data: bytes, name: str) -> Attachment:
    return services.attachment_add(
        actor=actor, bulletin=bulletin, stream=io.BytesIO(data), name=name
    )
