"""Worker tasks for product images: the upload to S3-compatible storage and object removal.

Both inherit `BaseTask`'s retry policy: a `StorageUnavailable` (a `TransientError`) is retried
with exponential backoff and jitter, at most `max_retries` times.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from emporium.catalog.services_images import (
    product_image_objects_delete,
    product_image_upload,
    product_image_upload_failed,
)

__all__ = ["delete_product_image_objects", "upload_product_image"]


@shared_task(name="catalog.upload_product_image", bind=True)
def upload_product_image(self: Any, image_id: str) -> str | None:
    """Copy one image to the storage (safe to run twice: a ready image is left alone).

    Each failed attempt is recorded on the image; when the retries are exhausted, or the
    failure is not worth retrying, the image becomes `failed`.
    """
    try:
        image = product_image_upload(image_id=image_id)
    except self.autoretry_for as exc:
        # Retried with backoff by the base task; only the last attempt gives up.
        final = self.request.retries >= self.max_retries
        product_image_upload_failed(image_id=image_id, error=exc, final=final)
        raise
    except Exception as exc:
        product_image_upload_failed(image_id=image_id, error=exc, final=True)
        raise
    return image.status if image is not None else None


@shared_task(name="catalog.delete_product_image_objects")
def delete_product_image_objects(keys: list[str]) -> None:
    """Delete a removed image's objects from the storage (a missing object is fine)."""
    product_image_objects_delete(keys=keys)
