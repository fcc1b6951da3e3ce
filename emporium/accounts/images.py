"""Avatar images: untrusted uploads checked from their content and re-encoded to WebP.

The format is decided by Pillow from the bytes, never from the file name or the declared
content type. Dimensions are checked from the header before any pixel is decoded, so an image
that claims to be huge (a decompression bomb) is refused without allocating it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO, cast

from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

from emporium.core.errors import ApplicationError

AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_MAX_SIDE = 4096
AVATAR_MIN_SIDE = 64
AVATAR_FORMATS = ("JPEG", "PNG", "WEBP")
AVATAR_SIZE = 512
AVATAR_THUMBNAIL_SIZE = 128
AVATAR_QUALITY = 85


class AvatarTooLarge(ApplicationError):
    status = 413
    code = "avatar_too_large"
    title = cast(str, _("The image is larger than 2 MB."))


class AvatarBadFormat(ApplicationError):
    status = 400
    code = "avatar_bad_format"
    title = cast(str, _("The file is not a readable JPEG, PNG or WebP image."))


class AvatarDimensions(ApplicationError):
    status = 400
    code = "avatar_dimensions"
    title = cast(str, _("The image must be between 64x64 and 4096x4096 pixels."))


@dataclass(frozen=True)
class ProcessedAvatar:
    """The re-encoded image (at most 512x512) and its 128x128 thumbnail, both WebP."""

    image: bytes
    thumbnail: bytes
    width: int
    height: int


class AvatarUploadLimit(FileUploadHandler):
    """Stops reading an uploaded file as soon as it exceeds the avatar limit, so a huge
    upload is neither kept in memory nor spooled to disk. Install it first:
    `request.upload_handlers.insert(0, AvatarUploadLimit())`."""

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > AVATAR_MAX_BYTES:
            raise AvatarTooLarge()
        return raw_data  # handed on to the next handler, which stores it

    def file_complete(self, file_size: int) -> None:
        return None


def avatar_process(file: IO[bytes], *, size: int | None = None) -> ProcessedAvatar:
    """Check an uploaded avatar and re-encode it without metadata.

    `size` is the upload's size when known (checked before reading). Raises `AvatarTooLarge`,
    `AvatarBadFormat` or `AvatarDimensions`.
    """
    if size is not None and size > AVATAR_MAX_BYTES:
        raise AvatarTooLarge()
    data = file.read(AVATAR_MAX_BYTES + 1)
    if len(data) > AVATAR_MAX_BYTES:
        raise AvatarTooLarge()
    image = _decode(data)
    try:
        # Applies the EXIF orientation to the pixels; the metadata itself is not written out.
        image = ImageOps.exif_transpose(image)
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        main = image.copy()
        main.thumbnail((AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
        thumbnail = ImageOps.fit(
            image, (AVATAR_THUMBNAIL_SIZE, AVATAR_THUMBNAIL_SIZE), Image.Resampling.LANCZOS
        )
    except Exception as exc:  # malformed metadata of an untrusted file
        raise AvatarBadFormat() from exc
    return ProcessedAvatar(
        image=_encode(main), thumbnail=_encode(thumbnail), width=main.width, height=main.height
    )


def _decode(data: bytes) -> Image.Image:
    """Identify the format from the content, check dimensions from the header, then decode."""
    # Pillow warns above its own pixel limit and raises above twice that; a warning must stop
    # us too. The header check below is the avatar's own, much lower, limit.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=AVATAR_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise AvatarDimensions() from exc
        except Exception as exc:  # not an image Pillow can identify, or a broken header
            raise AvatarBadFormat() from exc
        if image.format not in AVATAR_FORMATS:
            raise AvatarBadFormat()
        width, height = image.size
        if max(width, height) > AVATAR_MAX_SIDE or min(width, height) < AVATAR_MIN_SIDE:
            raise AvatarDimensions()
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise AvatarDimensions() from exc
        except Exception as exc:  # truncated or corrupt pixel data
            raise AvatarBadFormat() from exc
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (
        image.mode == "P" and "transparency" in image.info
    )


def _encode(image: Image.Image) -> bytes:
    """WebP without EXIF, XMP or ICC data (Pillow writes metadata only when asked to)."""
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=AVATAR_QUALITY, method=4)
    return buffer.getvalue()
