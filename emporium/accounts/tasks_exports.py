"""Worker tasks for GDPR exports and the daily retention purge."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from emporium.accounts.retention import retention_purge as run_retention_purge
from emporium.accounts.services_exports import data_export_build, data_export_fail

__all__ = ["build_data_export", "retention_purge"]


@shared_task(name="accounts.build_data_export", bind=True)
def build_data_export(self: Any, export_id: str) -> str | None:
    """Build one export's JSON file (safe to run twice: the second run finds it ready)."""
    try:
        export = data_export_build(export_id=export_id)
    except self.autoretry_for:
        # Retried with backoff by the base task; only the last attempt gives up.
        if self.request.retries >= self.max_retries:
            data_export_fail(export_id=export_id)
        raise
    except Exception:
        data_export_fail(export_id=export_id)
        raise
    return export.status if export is not None else None


@shared_task(name="accounts.retention_purge")
def retention_purge() -> dict[str, int]:
    """Daily: purge what is due in every data class of every tenant (see accounts.retention)."""
    return run_retention_purge()
