"""Product images: reads, writes and the upload to S3-compatible storage.

Every image has two files: the original, exactly as uploaded (private: reached only through a
signed, expiring link), and a WebP display rendition (public). Both are first written under
MEDIA_ROOT (`file_path` is the original's path there):

- without S3 (`S3_BUCKET` unset) they stay there and the image is `ready` at once;
- with S3 the image is `pending` until the `catalog.upload_product_image` task has copied both
  files to the bucket (`private/...` and `public/...` keys, the original with the client's
  SHA-256 so the storage verifies it), then `ready` with `storage_key` set and the local copies
  removed; when every retry failed it is `failed`, with `last_error`, and the local copies stay.

Every change announces `events.products_changed` inside its transaction.
"""

from __future__ import annotations

import posixpath
import secrets
import uuid
from collections.abc import Iterable
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from emporium.catalog import events, storage
from emporium.catalog.images import (
    DISPLAY_CONTENT_TYPE,
    checksum_verify,
    product_image_process,
    read_upload,
    sha256_hex,
)
from emporium.catalog.models import Product, ProductImage
from emporium.core.context import tenant_context
from emporium.core.logging import get_logger

log = get_logger(__name__)

LOCAL_ROOT = "product-images"
DISPLAY_NAME = "display.webp"
ORIGINAL_LINK_SALT = "emporium.catalog.product-image-original"
# Keys are per image and an image's bytes never change: caches may keep them forever.
DISPLAY_CACHE_CONTROL = "public, max-age=31536000, immutable"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


# --- Where the files live -------------------------------------------------------------------


def local_display_path(image: ProductImage) -> str | None:
    """The display rendition's path under MEDIA_ROOT, while the image is kept locally."""
    if not image.file_path:
        return None
    return posixpath.join(posixpath.dirname(image.file_path), DISPLAY_NAME)


def storage_original_key(image: ProductImage) -> str:
    """The private object key of the original."""
    extension = EXTENSIONS.get(image.content_type, "bin")
    return f"{storage.PRIVATE_PREFIX}{LOCAL_ROOT}/{image.tenant_id}/{image.id}/original.{extension}"


def storage_display_key(image: ProductImage) -> str:
    """The public object key of the display rendition."""
    return f"{storage.PUBLIC_PREFIX}{LOCAL_ROOT}/{image.tenant_id}/{image.id}/{DISPLAY_NAME}"


def product_image_display_url(image: ProductImage) -> str | None:
    """Where the public display rendition is served: the storage's public URL once `ready` on
    S3, else the local media URL (possibly relative, `/media/...`); None when neither exists."""
    if image.storage_key:
        return storage.public_url(storage_display_key(image))
    display_path = local_display_path(image)
    if display_path is None:
        return None
    return default_storage.url(display_path)


def original_filename(image: ProductImage) -> str:
    """The file name offered when the original is downloaded."""
    return f"product-image-{image.id}.{EXTENSIONS.get(image.content_type, 'bin')}"


# --- Reads ------------------------------------------------------------------------------------


def product_image_queryset(*, staff: bool) -> QuerySet[ProductImage]:
    """Images a caller may see, in display order: staff see every status, others only `ready`
    ones. Usable in `Prefetch("images", queryset=...)` by the product serializers."""
    queryset: QuerySet[ProductImage] = ProductImage.objects.order_by("position", "created_at", "id")
    if not staff:
        queryset = queryset.filter(status=ProductImage.Status.READY)
    return queryset


def product_image_list(*, product: Product, staff: bool) -> QuerySet[ProductImage]:
    """The product's images the caller may see (the product's own visibility is the caller's
    to check)."""
    return product_image_queryset(staff=staff).filter(product=product)


def product_image_get(*, product: Product, image_id: uuid.UUID, staff: bool) -> ProductImage | None:
    """One of the product's images, if the caller may see it."""
    image: ProductImage | None = (
        product_image_list(product=product, staff=staff).filter(id=image_id).first()
    )
    return image


def product_image_find(*, slug: str, image_id: uuid.UUID) -> ProductImage | None:
    """An image of the product `slug` whatever its status or the product's visibility (for
    signed links, where the signature is the permission)."""
    image: ProductImage | None = ProductImage.objects.filter(
        id=image_id, product__slug=slug, product__deleted_at__isnull=True
    ).first()
    return image


# --- Writes -----------------------------------------------------------------------------------


def product_image_create(
    *,
    product: Product,
    file: IO[bytes],
    size: int | None = None,
    alt_text: str = "",
    position: int | None = None,
    expected_checksums: Iterable[str] = (),
) -> ProductImage:
    """Check an upload and add it to the product's images (last when `position` is None).

    Every checksum in `expected_checksums` (hex SHA-256) must match the bytes. Raises
    `ImageTooLarge`, `ChecksumMismatch`, `UnsupportedImageFormat` or `InvalidImage` before
    anything is stored. With S3 configured the image is `pending` and the upload task is
    queued after the commit; without it the image is `ready`.
    """
    data = read_upload(file, size=size)
    checksum_verify(data, *expected_checksums)
    processed = product_image_process(data)

    image = ProductImage(
        product=product,
        alt_text=alt_text,
        content_type=processed.content_type,
        size=len(processed.original),
        width=processed.width,
        height=processed.height,
        checksum_sha256=processed.checksum_sha256,
    )
    directory = f"{LOCAL_ROOT}/{product.tenant_id}/{image.id}"
    # The random part keeps the private original unguessable from the public display URL.
    original_name = f"{directory}/original-{secrets.token_hex(16)}.{processed.extension}"
    paths = [
        default_storage.save(original_name, ContentFile(processed.original)),
        default_storage.save(f"{directory}/{DISPLAY_NAME}", ContentFile(processed.display)),
    ]
    upload = storage.storage_enabled()
    try:
        with transaction.atomic():
            if position is None:
                last = ProductImage.objects.filter(product=product).aggregate(last=Max("position"))
                position = 0 if last["last"] is None else last["last"] + 1
            image.position = position
            image.file_path = paths[0]
            image.status = ProductImage.Status.PENDING if upload else ProductImage.Status.READY
            image.save()
            events.products_changed([product.id])
            if upload:
                image_id = str(image.id)
                transaction.on_commit(lambda: _queue_upload(image_id))
    except BaseException:
        _delete_local_files(paths)
        raise
    log.info("product_image_created", image_id=str(image.id), status=image.status)
    return image


def product_image_delete(*, image: ProductImage) -> None:
    """Remove an image: the row now, its local files and storage objects after the commit."""
    paths = [p for p in (image.file_path, local_display_path(image)) if p]
    keys = (
        [storage_original_key(image), storage_display_key(image)]
        if image.storage_key and storage.storage_enabled()
        else []
    )
    with transaction.atomic():
        image.delete()
        events.products_changed([image.product_id])
        transaction.on_commit(lambda: _delete_local_files(paths))
        if keys:
            transaction.on_commit(lambda: _queue_objects_delete(keys))


def product_image_upload(*, image_id: uuid.UUID | str) -> ProductImage | None:
    """Copy a pending (or failed) image to the storage and mark it `ready`; the worker's part.

    Safe to run twice: a ready image is left alone and object keys are fixed per image. Returns
    None when the image was deleted meanwhile. Storage failures raise `StorageUnavailable`
    (retried by the task); a missing local file raises `FileNotFoundError`.
    """
    found: ProductImage | None = ProductImage.unscoped.filter(id=image_id).first()
    if found is None:
        return None
    image = found
    with tenant_context(image.tenant_id):
        if image.status == ProductImage.Status.READY and image.storage_key:
            return image
        display_path = local_display_path(image)
        if display_path is None:
            raise FileNotFoundError("the image has no local file to upload")
        with default_storage.open(image.file_path, "rb") as original_file:
            original = original_file.read()
        with default_storage.open(display_path, "rb") as display_file:
            display = display_file.read()

        original_key = storage_original_key(image)
        display_key = storage_display_key(image)
        storage.object_put(
            display_key,
            display,
            content_type=DISPLAY_CONTENT_TYPE,
            checksum_sha256=sha256_hex(display),
            cache_control=DISPLAY_CACHE_CONTROL,
        )
        # The client's checksum, not one of the bytes read back: a file damaged on disk is
        # refused by the storage instead of being published.
        storage.object_put(
            original_key,
            original,
            content_type=image.content_type,
            checksum_sha256=image.checksum_sha256,
        )

        now = timezone.now()
        with transaction.atomic():
            updated = ProductImage.objects.filter(id=image.id).update(
                status=ProductImage.Status.READY,
                storage_key=original_key,
                file_path="",
                uploaded_at=now,
                attempts=F("attempts") + 1,
                last_error="",
                updated_at=now,
            )
            if updated:
                events.products_changed([image.product_id])
        if not updated:  # deleted while uploading: do not leave orphan objects behind
            storage.objects_delete([original_key, display_key])
            return None
        local_paths = [image.file_path, display_path]
        transaction.on_commit(lambda: _delete_local_files(local_paths))
        image.refresh_from_db()
    log.info("product_image_uploaded", image_id=str(image.id), attempts=image.attempts)
    return image


def product_image_upload_failed(
    *, image_id: uuid.UUID | str, error: BaseException, final: bool
) -> None:
    """Record a failed upload attempt; on the `final` one the image becomes `failed`."""
    found: ProductImage | None = ProductImage.unscoped.filter(id=image_id).first()
    if found is None:
        return
    # StorageUnavailable messages are safe by construction; for anything else only the type
    # (a message could carry paths or credentials).
    message = str(error) if isinstance(error, storage.StorageUnavailable) else type(error).__name__
    fields: dict[str, object] = {
        "attempts": F("attempts") + 1,
        "last_error": message[:255],
        "updated_at": timezone.now(),
    }
    if final:
        fields["status"] = ProductImage.Status.FAILED
    with tenant_context(found.tenant_id), transaction.atomic():
        ProductImage.objects.filter(id=found.id).exclude(status=ProductImage.Status.READY).update(
            **fields
        )
        if final:
            events.products_changed([found.product_id])
    log.warning("product_image_upload_failed", image_id=str(image_id), error=message, final=final)


def product_image_objects_delete(*, keys: list[str]) -> None:
    """Delete a removed image's storage objects (safe to repeat)."""
    storage.objects_delete(keys)


# --- Links to the private original ------------------------------------------------------------


def product_image_original_presigned_url(*, image: ProductImage) -> str | None:
    """A presigned, expiring storage URL of the original, or None while it is kept locally."""
    if not image.storage_key:
        return None
    return storage.presigned_get_url(
        image.storage_key, filename=original_filename(image), content_type=image.content_type
    )


def product_image_original_signature(*, image: ProductImage) -> str:
    """The `signature` of a local download link of the original (expires with
    `S3_SIGNED_URL_TTL`)."""
    return storage.link_signature(str(image.id), salt=ORIGINAL_LINK_SALT)


def product_image_original_check(*, image_id: uuid.UUID, signature: str) -> None:
    """Raise `LinkSignatureInvalid` or `LinkSignatureExpired` unless the signature is good."""
    storage.link_signature_check(str(image_id), signature, salt=ORIGINAL_LINK_SALT)


# --- Helpers ----------------------------------------------------------------------------------


def _queue_upload(image_id: str) -> None:
    # Imported here: the tasks module imports this one.
    from emporium.catalog.tasks_images import upload_product_image

    upload_product_image.delay(image_id)


def _queue_objects_delete(keys: list[str]) -> None:
    from emporium.catalog.tasks_images import delete_product_image_objects

    delete_product_image_objects.delay(keys)


def _delete_local_files(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(path)
        except OSError:
            # A leftover file is harmless; a failed request or task because of it is not.
            log.warning("product_image_file_not_deleted", path=path)
