"""Attachments are recognised by their bytes, limited in size, and leave nothing when refused."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from thongtincoso.audit.models import AuditRecord
from thongtincoso.bulletins import services, uploads
from thongtincoso.bulletins.models import Attachment
from thongtincoso.core.errors import ConflictError, ServiceError

from .factories import draft, published


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_real_image_accepted_and_named_by_hash(tree, staff):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    a = services.attachment_add(
        actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(png_bytes()), name="ảnh.png"
    )
    assert a.kind == "image"
    assert a.content_type == "image/png"
    assert a.file.name.endswith(f"{a.sha256}.png")
    assert a.file.read() == png_bytes()
    assert AuditRecord.objects.filter(action="bulletins.attachment.add").count() == 1


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        (b"<script>alert(1)</script>", "anh.jpg"),  # text named like an image
        (b"MZ\x90\x00" + b"\x00" * 100, "tai-lieu.pdf"),  # a Windows executable named .pdf
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "hong.png"),  # a PNG header with no image
    ],
)
def test_fake_files_refused_and_nothing_kept(tree, staff, payload, name):
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    with pytest.raises(ServiceError) as error:
        services.attachment_add(
            actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(payload), name=name
        )
    assert name in str(error.value.message)
    assert Attachment.objects.count() == 0


def test_oversized_file_refused_with_the_limit(tree, staff, monkeypatch):
    monkeypatch.setitem(uploads.SIZE_LIMITS, "pdf", 1024 * 1024)
    bulletin = draft(staff.hk_editor, tree.hoankiem)
    big = b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 1)
    with pytest.raises(ServiceError, match="1 MB"):
        services.attachment_add(
            actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(big), name="lon.pdf"
        )
    assert Attachment.objects.count() == 0


def test_mp3_without_id3_tag_recognised():
    frame = bytes([0xFF, 0xFB, 0x90, 0x64]) + b"\x00" * 400
    checked = uploads.check_upload(io.BytesIO(frame), name="ban-tin.mp3")
    assert checked.kind == "audio"
    assert checked.extension == "mp3"


def test_published_bulletin_attachments_are_frozen(tree, staff):
    bulletin = published(staff.hk_editor, staff.hk_approver, tree.hoankiem)
    with pytest.raises(ConflictError):
        services.attachment_add(
            actor=staff.hk_editor, bulletin=bulletin, stream=io.BytesIO(png_bytes()), name="a.png"
        )
    assert Attachment.objects.count() == 0
