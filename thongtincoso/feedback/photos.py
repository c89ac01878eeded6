"""Photos sent with feedback: checked by content, re-encoded so no metadata survives.

A phone photo carries the sender's camera, serial numbers, the time and often the exact place
(EXIF GPS), plus XMP, comments and colour-profile text. Copying the pixels into a new file drops
all of it. The location is kept only when the sender asks for it (it helps the handler find the
pothole), and then nothing but the GPS block goes back in.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any

from django.utils.translation import gettext as _

from thongtincoso.bulletins.models import AttachmentKind
from thongtincoso.bulletins.uploads import MB, SIZE_LIMITS, check_upload
from thongtincoso.core.errors import ServiceError

MAX_PHOTO_BYTES = SIZE_LIMITS[AttachmentKind.IMAGE]
# Above this a small file can expand to gigabytes of pixels (a decompression bomb).
MAX_PIXELS = 40_000_000
# Plenty to read a street sign; keeps storage and the handler's page light.
MAX_SIDE = 2560
JPEG_QUALITY = 85
GPS_IFD = 0x8825
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}
PILLOW_FORMATS = {"JPEG", "PNG", "WEBP"}
FIELD = "photos"


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo ready to store: new bytes, nothing of the original file but its pixels."""

    content: bytes
    content_type: str
    extension: str
    width: int
    height: int
    size: int
    kept_location: bool


def _not_a_photo(name: str) -> ServiceError:
    return ServiceError(
        _("“%(name)s” is not a photo. Send JPEG, PNG or WebP images.") % {"name": name},
        field=FIELD,
    )


def _unreadable(name: str) -> ServiceError:
    return ServiceError(_("“%(name)s” is not a readable image.") % {"name": name}, field=FIELD)


def prepare_photo(upload: IO[bytes], *, name: str, keep_location: bool) -> PreparedPhoto:
    """Check an uploaded photo by its bytes and re-encode it without metadata.

    Accepts JPEG, PNG and WebP up to 10 MB and 40 megapixels. The orientation tag is applied to
    the pixels first, the image is scaled down to at most 2560 px on its longer side and saved as
    JPEG (quality 85), or as PNG when it has real transparency. With `keep_location`, the GPS
    block of the original EXIF, if it had one, is the only metadata written back; `kept_location`
    says whether that happened. Raises ServiceError (field "photos") naming what is wrong.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        checked = check_upload(upload, name=name)
    except ServiceError as exc:
        raise ServiceError(exc.message, field=FIELD) from exc
    if checked.content_type not in PHOTO_TYPES:
        raise _not_a_photo(name)
    upload.seek(0)
    data = upload.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:  # check_upload counts too; this guards a growing stream
        raise ServiceError(
            _("“%(name)s” is larger than the %(limit)d MB allowed for a photo.")
            % {"name": name, "limit": MAX_PHOTO_BYTES // MB},
            field=FIELD,
        )

    try:
        source = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(name) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise _unreadable(name) from exc
    with source:
        if source.format not in PILLOW_FORMATS:
            raise _not_a_photo(name)
        # The header gives the size before any pixel is decoded.
        if source.width * source.height > MAX_PIXELS:
            raise _too_many_pixels(name)
        gps = _gps_ifd(source) if keep_location else {}
        try:
            image = ImageOps.exif_transpose(source)  # decodes; a truncated file fails here
            image = _to_srgb(image, source.info.get("icc_profile"))
        except (OSError, ValueError, SyntaxError) as exc:
            raise _unreadable(name) from exc

    transparent = _has_transparency(image)
    image = image.convert("RGBA" if transparent else "RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # A fresh image from the pixels alone: no info dict, no cached EXIF, nothing to carry over.
    clean = Image.frombytes(image.mode, image.size, image.tobytes())

    params: dict[str, Any] = {}
    if gps:
        exif = Image.Exif()
        exif[GPS_IFD] = gps
        params["exif"] = exif.tobytes()
    out = io.BytesIO()
    if transparent:
        clean.save(out, format="PNG", optimize=True, **params)
        content_type, extension = "image/png", "png"
    else:
        clean.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, **params)
        content_type, extension = "image/jpeg", "jpg"
    content = out.getvalue()
    kept = bool(gps) and _reads_back_gps(content)
    return PreparedPhoto(
        content=content,
        content_type=content_type,
        extension=extension,
        width=clean.width,
        height=clean.height,
        size=len(content),
        kept_location=kept,
    )


def _too_many_pixels(name: str) -> ServiceError:
    return ServiceError(
        _("“%(name)s” has too many pixels (at most %(limit)d megapixels). Send a smaller photo.")
        % {"name": name, "limit": MAX_PIXELS // 1_000_000},
        field=FIELD,
    )


def _gps_ifd(image: Any) -> dict[int, Any]:
    try:
        return dict(image.getexif().get_ifd(GPS_IFD))
    except Exception:  # a damaged EXIF block: there is no location to keep
        return {}


def _reads_back_gps(content: bytes) -> bool:
    from PIL import Image

    with Image.open(io.BytesIO(content)) as image:
        return bool(image.getexif().get_ifd(GPS_IFD))


def _to_srgb(image: Any, icc_profile: bytes | None) -> Any:
    """Convert pixels from an embedded colour profile (a phone's Display P3) to sRGB.

    The profile itself is dropped with the rest of the metadata, so the colours would shift
    unless the pixels are converted first. A profile Pillow cannot use leaves them as they are.
    """
    if not icc_profile or image.mode not in ("RGB", "RGBA"):
        return image
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        target = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, source, target, outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image


def _has_transparency(image: Any) -> bool:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        low, _high = image.getchannel("A").getextrema()
        return bool(low < 255)  # an alpha channel that is fully opaque is just RGB
    return False


def redacted_placeholder(width: int, height: int) -> bytes:
    """A plain grey JPEG of the given size, to store in place of a redacted photo."""
    from PIL import Image

    size = (min(max(int(width), 1), MAX_SIDE), min(max(int(height), 1), MAX_SIDE))
    out = io.BytesIO()
    Image.new("RGB", size, (160, 160, 160)).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
