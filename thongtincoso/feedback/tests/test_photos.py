"""Feedback photos: checked by content, metadata stripped, location kept only when asked."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from thongtincoso.core.errors import ServiceError
from thongtincoso.feedback.photos import (
    GPS_IFD,
    MAX_SIDE,
    PreparedPhoto,
    prepare_photo,
    redacted_placeholder,
)

MAKE, MODEL, ORIENTATION, EXIF_IFD, USER_COMMENT = 0x010F, 0x0110, 0x0112, 0x8769, 0x9286
GPS = {1: "N", 2: (21.0, 1.0, 42.5), 3: "E", 4: (105.0, 51.0, 7.0)}


def camera_jpeg(*, size: tuple[int, int] = (400, 200), gps: bool = True) -> bytes:
    """A phone-like JPEG: camera make/model, orientation 6 (rotate 90°), a comment, GPS."""
    exif = Image.Exif()
    exif[MAKE] = "SecretPhoneMaker"
    exif[MODEL] = "Model-X-Serial-123"
    exif[ORIENTATION] = 6
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = b"ASCII\x00\x00\x00my home address"
    if gps:
        exif.get_ifd(GPS_IFD).update(GPS)
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"jpeg comment text", quality=90)
    return out.getvalue()


def prepare(data: bytes, *, keep_location: bool = False, name: str = "a.jpg") -> PreparedPhoto:
    return prepare_photo(io.BytesIO(data), name=name, keep_location=keep_location)


def reopen(photo: PreparedPhoto) -> Image.Image:
    image = Image.open(io.BytesIO(photo.content))
    image.load()
    return image


def test_source_really_carries_the_metadata() -> None:
    data = camera_jpeg()
    assert b"SecretPhoneMaker" in data
    assert b"my home address" in data
    assert b"jpeg comment text" in data
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)


def test_metadata_stripped_by_default() -> None:
    photo = prepare(camera_jpeg())
    assert photo.content_type == "image/jpeg"
    assert photo.extension == "jpg"
    assert photo.size == len(photo.content)
    assert not photo.kept_location
    for secret in (b"SecretPhoneMaker", b"Model-X", b"my home address", b"jpeg comment text"):
        assert secret not in photo.content
    image = reopen(photo)
    assert not dict(image.getexif())
    assert "comment" not in image.info
    assert "icc_profile" not in image.info
    assert b"Exif" not in photo.content


def test_orientation_applied() -> None:
    photo = prepare(camera_jpeg(size=(400, 200)))
    # Orientation 6 means "rotate 90°": a 400×200 sensor image is shown 200 wide, 400 high.
    assert (photo.width, photo.height) == (200, 400)
    assert reopen(photo).size == (200, 400)


def test_location_kept_when_asked_and_nothing_else() -> None:
    photo = prepare(camera_jpeg(), keep_location=True)
    assert photo.kept_location
    exif = reopen(photo).getexif()
    assert set(exif) == {GPS_IFD}
    gps = exif.get_ifd(GPS_IFD)
    assert gps[1] == "N"
    assert gps[3] == "E"
    assert tuple(float(v) for v in gps[2]) == GPS[2]
    assert b"SecretPhoneMaker" not in photo.content
    assert b"my home address" not in photo.content
    assert ORIENTATION not in exif


def test_location_not_claimed_when_there_was_none() -> None:
    photo = prepare(camera_jpeg(gps=False), keep_location=True)
    assert not photo.kept_location
    assert not dict(reopen(photo).getexif())


def test_large_image_scaled_down() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (10, 120, 10)).save(out, format="JPEG")
    photo = prepare(out.getvalue())
    assert (photo.width, photo.height) == (MAX_SIDE, 1920)


def test_png_with_alpha_stays_png() -> None:
    image = Image.new("RGBA", (60, 40), (0, 0, 255, 0))
    image.putpixel((5, 5), (255, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=_png_text("Author", "secret person"))
    photo = prepare(out.getvalue(), name="a.png")
    assert photo.content_type == "image/png"
    assert photo.extension == "png"
    result = reopen(photo)
    assert result.mode == "RGBA"
    assert result.getpixel((0, 0))[3] == 0
    assert b"secret person" not in photo.content


def test_opaque_png_and_webp_become_jpeg() -> None:
    for fmt in ("PNG", "WEBP"):
        out = io.BytesIO()
        Image.new("RGBA", (30, 30), (1, 2, 3, 255)).save(out, format=fmt)
        photo = prepare(out.getvalue(), name=f"a.{fmt.lower()}")
        assert photo.content_type == "image/jpeg"


def test_uploaded_file_accepted() -> None:
    upload = SimpleUploadedFile("IMG_0001.JPG", camera_jpeg(), content_type="image/jpeg")
    photo = prepare_photo(upload, name="IMG_0001.JPG", keep_location=False)
    assert photo.width == 200


def _png_text(key: str, value: str) -> object:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(key, value)
    return info


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"#!/bin/sh\nrm -rf /\n", "photo.jpg"),
        (b"<html><body><script>alert(1)</script></body></html>", "photo.jpg"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n", "photo.jpg"),
        (b"", "empty.jpg"),
    ],
)
def test_non_photos_refused(data: bytes, name: str) -> None:
    with pytest.raises(ServiceError) as exc:
        prepare(data, name=name)
    assert exc.value.field == "photos"


def test_pdf_refused_as_not_a_photo() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        prepare(pdf, name="scan.pdf")
    assert "is not a photo" in str(exc.value.message)


def test_gif_refused() -> None:
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, format="GIF")
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        prepare(out.getvalue(), name="a.gif")
    assert exc.value.field == "photos"
    assert "is not a photo" in str(exc.value.message)


def test_truncated_jpeg_refused() -> None:
    data = camera_jpeg(size=(800, 600))
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        prepare(data[: len(data) // 2])
    assert exc.value.field == "photos"
    assert "not a readable image" in str(exc.value.message)


def test_decompression_bomb_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (7000, 7000)).save(out, format="PNG")  # 49 megapixels, a few KB
    assert len(out.getvalue()) < 100_000
    with translation.override("en"), pytest.raises(ServiceError) as exc:
        prepare(out.getvalue(), name="bomb.png")
    assert "too many pixels" in str(exc.value.message)


def test_too_large_file_refused() -> None:
    # Random pixels do not compress: a real 11 MB PNG.
    import os

    image = Image.frombytes("RGB", (2200, 1800), os.urandom(2200 * 1800 * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    assert len(out.getvalue()) > 10 * 1024 * 1024
    with pytest.raises(ServiceError) as exc:
        prepare(out.getvalue(), name="big.png")
    assert exc.value.field == "photos"


def test_redacted_placeholder() -> None:
    data = redacted_placeholder(320, 240)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert image.size == (320, 240)
    assert not dict(image.getexif())
    low, high = image.convert("L").getextrema()
    assert isinstance(low, int)
    assert isinstance(high, int)
    assert high - low <= 2  # one flat grey


def test_colour_profile_dropped_after_conversion() -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (50, 50), (200, 100, 50)).save(out, format="JPEG", icc_profile=profile)
    photo = prepare(out.getvalue())
    result = reopen(photo)
    assert "icc_profile" not in result.info
    # sRGB to sRGB: the colours stay (within JPEG rounding).
    pixel = result.getpixel((25, 25))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 6 for a, b in zip(pixel, (200, 100, 50), strict=True))
