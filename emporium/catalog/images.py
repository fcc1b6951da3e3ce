"""Product images: untrusted uploads checked from their content, plus a public display rendition.

The uploaded bytes are kept unchanged as the private "original" (so the checksum the client
sent stays true); what the public sees is a re-encoded WebP rendition without metadata (no EXIF
GPS position or camera serial leaves the shop). The format is decided by Pillow from the bytes,
never from the file name or the declared content type, and dimensions are checked from the
header before any pixel is decoded, so a decompression bomb is refused without allocating it.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageDraw, ImageFont, ImageOps

from emporium.core.errors import ApplicationError

PRODUCT_IMAGE_MAX_BYTES = 20 * 1024 * 1024
PRODUCT_IMAGE_MAX_SIDE = 10_000
PRODUCT_IMAGE_MAX_PIXELS = 40_000_000
DISPLAY_MAX_SIDE = 1600
DISPLAY_QUALITY = 85
DISPLAY_CONTENT_TYPE = "image/webp"

# Pillow format -> (content type, file extension). MPO is the multi-picture JPEG some cameras
# write; its bytes are a valid JPEG.
ACCEPTED_FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "MPO": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP")
# Only identified (header read, never decoded) to tell "unsupported" from "not an image".
_KNOWN_OTHER_FORMATS = ("GIF", "BMP", "TIFF", "ICO", "AVIF", "JPEG2000", "PSD", "QOI")
EXIF_ORIENTATION = 0x0112
# EXIF orientations that turn the picture by 90 degrees: width and height swap on display.
ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})


class InvalidImage(ApplicationError):
    status = 400
    code = "invalid_image"
    title = _("The file is not a readable image.")


class UnsupportedImageFormat(ApplicationError):
    status = 400
    code = "unsupported_format"
    title = _("Only JPEG, PNG and WebP images are accepted.")


class ImageTooLarge(ApplicationError):
    status = 400
    code = "image_too_large"
    title = _("The image is larger than 20 MB, 10000 pixels on a side or 40 megapixels.")


class ChecksumMismatch(ApplicationError):
    status = 400
    code = "checksum_mismatch"
    title = _("The file's SHA-256 checksum differs from the one sent: it was damaged in transit.")


@dataclass(frozen=True)
class ProcessedImage:
    """A checked upload: the original bytes unchanged, and the WebP display rendition."""

    original: bytes
    content_type: str
    extension: str
    width: int
    height: int
    checksum_sha256: str
    display: bytes
    display_width: int
    display_height: int


class ProductImageUploadLimit(FileUploadHandler):
    """Stops reading an uploaded file as soon as it exceeds the image limit, so a huge upload
    is neither kept in memory nor spooled to disk. Install it first:
    `request.upload_handlers.insert(0, ProductImageUploadLimit())`."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > PRODUCT_IMAGE_MAX_BYTES:
            raise ImageTooLarge()
        return raw_data  # handed on to the next handler, which stores it

    def file_complete(self, file_size: int) -> None:
        return None


def read_upload(file: IO[bytes], *, size: int | None = None) -> bytes:
    """The upload's bytes; raises `ImageTooLarge` above the limit (checked before reading)."""
    if size is not None and size > PRODUCT_IMAGE_MAX_BYTES:
        raise ImageTooLarge()
    data = file.read(PRODUCT_IMAGE_MAX_BYTES + 1)
    if len(data) > PRODUCT_IMAGE_MAX_BYTES:
        raise ImageTooLarge()
    return data


def sha256_hex(data: bytes) -> str:
    """The lower-case hex SHA-256 digest of `data`."""
    return hashlib.sha256(data).hexdigest()


def checksum_verify(data: bytes, *expected: str | None) -> str:
    """The hex digest of `data`; raises `ChecksumMismatch` unless every given checksum (hex,
    any case) equals it."""
    digest = sha256_hex(data)
    for value in expected:
        if value is not None and not hmac.compare_digest(value.strip().lower(), digest):
            raise ChecksumMismatch()
    return digest


def product_image_process(data: bytes) -> ProcessedImage:
    """Check an uploaded product image and build its display rendition.

    Raises `ImageTooLarge`, `UnsupportedImageFormat` or `InvalidImage`.
    """
    if len(data) > PRODUCT_IMAGE_MAX_BYTES:
        raise ImageTooLarge()
    image, width, height = _decode(data)
    content_type, extension = ACCEPTED_FORMATS[str(image.format)]
    try:
        if image.getexif().get(EXIF_ORIENTATION, 1) in ROTATED_ORIENTATIONS:
            width, height = height, width
        # Applies the EXIF orientation to the pixels; the metadata itself is not written out.
        oriented = ImageOps.exif_transpose(image)
        display = oriented.convert("RGBA" if _has_alpha(oriented) else "RGB")
        display.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE), Image.Resampling.LANCZOS)
        encoded = _encode(display)
    except Exception as exc:  # malformed metadata of an untrusted file
        raise InvalidImage() from exc
    return ProcessedImage(
        original=data,
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        checksum_sha256=sha256_hex(data),
        display=encoded,
        display_width=display.width,
        display_height=display.height,
    )


def _decode(data: bytes) -> tuple[Image.Image, int, int]:
    """Identify the format from the content, check dimensions from the header, then decode.

    Returns the image (possibly decoded at a reduced scale) and the original's dimensions."""
    # Pillow warns above its own pixel limit and raises above twice that; a warning must stop
    # us too. The header check below is our own, lower, limit.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge() from exc
        except Exception as exc:  # not JPEG, PNG or WebP, or a broken header
            raise _unreadable(data) from exc
        if image.format not in ACCEPTED_FORMATS:
            raise UnsupportedImageFormat()
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImage()
        if max(width, height) > PRODUCT_IMAGE_MAX_SIDE or width * height > PRODUCT_IMAGE_MAX_PIXELS:
            raise ImageTooLarge()
        try:
            # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale: far less memory for big photos.
            image.draft("RGB", (DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge() from exc
        except Exception as exc:  # truncated or corrupt pixel data
            raise InvalidImage() from exc
    return image, width, height


def _unreadable(data: bytes) -> ApplicationError:
    """`UnsupportedImageFormat` for an image of another known format, else `InvalidImage`."""
    Image.init()
    # Plugins missing from this Pillow build (AVIF needs libavif) are skipped, not an error.
    formats = [name for name in _KNOWN_OTHER_FORMATS if name in Image.OPEN]
    try:
        with Image.open(io.BytesIO(data), formats=formats):
            return UnsupportedImageFormat()
    except Exception:  # not an image at all (only the header was read)
        return InvalidImage()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode == "P" and "transparency" in image.info
    )


def _encode(image: Image.Image) -> bytes:
    """WebP without EXIF, XMP or ICC data (Pillow writes metadata only when asked to)."""
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=DISPLAY_QUALITY, method=4)
    return buffer.getvalue()


def demo_image_bytes(seed: int, text: str) -> bytes:
    """A small deterministic PNG (400x300) with `text` on a colour picked from `seed`, for demo
    data. The same arguments always give the same bytes."""
    digest = hashlib.sha256(str(seed).encode()).digest()
    background = (digest[0], digest[1], digest[2])
    accent = (255 - digest[0], 255 - digest[1], 255 - digest[2])
    image = Image.new("RGB", (400, 300), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((275 - digest[3] % 50, 25, 375, 125 + digest[4] % 50), fill=accent)
    draw.rectangle((25, 200, 375, 275), fill=(255, 255, 255))
    font = ImageFont.load_default(size=22)
    draw.text((38, 222), text[:28], fill=(20, 20, 20), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
