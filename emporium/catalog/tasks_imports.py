"""Worker task for CSV imports too large to run during the request."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from emporium.catalog.imports import product_import_job_fail, product_import_job_run

__all__ = ["import_products"]


@shared_task(name="catalog.import_products", bind=True)
def import_products(self: Any, job_id: str) -> str | None:
    """Run one queued import (safe to run twice: a finished job is left alone)."""
    try:
        job = product_import_job_run(job_id=job_id)
    except self.autoretry_for:
        # Retried with backoff by the base task; only the last attempt gives up.
        if self.request.retries >= self.max_retries:
            product_import_job_fail(job_id=job_id)
        raise
    except Exception:
        product_import_job_fail(job_id=job_id)
        raise
    return job.status if job is not None else None
