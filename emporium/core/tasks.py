"""The task base class every Emporium task inherits, and the platform's own small tasks."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from celery import Task, shared_task
from django.core.cache import cache

from emporium.core.context import get_current_tenant_id, get_request_id
from emporium.core.logging import get_logger

log = get_logger(__name__)


class TransientError(Exception):
    """Raise from a task for a failure worth retrying (timeouts, 5xx from a vendor...)."""


if TYPE_CHECKING:
    _Task = Task[Any, Any]
else:
    _Task = Task


class BaseTask(_Task):
    """Late acknowledgement plus a bounded retry policy: exponential backoff with jitter.

    Tasks must be idempotent: with acks_late a task interrupted by a crash runs again.
    """

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)
    max_retries = 5
    retry_backoff = 2
    retry_backoff_max = 600
    retry_jitter = True

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        log.error("task_failed", task=self.name, task_id=task_id, error=type(exc).__name__)


PING_TTL_SECONDS = 300


def ping_cache_key(token: str) -> str:
    return f"celery-ping:{token}"


@shared_task(name="core.ping")
def ping(token: str) -> None:
    """Record that a worker ran this task, with the context it saw (for ops and tests)."""
    cache.set(
        ping_cache_key(token),
        {
            "pid": os.getpid(),
            "tenant_id": str(get_current_tenant_id() or ""),
            "request_id": get_request_id(),
        },
        timeout=PING_TTL_SECONDS,
    )
    log.info("ping", token=token)


@shared_task(name="core.heartbeat")
def heartbeat() -> None:
    """Scheduled every minute: shows in the logs that the scheduler and a worker are alive."""
    cache.set("celery-heartbeat", {"pid": os.getpid()}, timeout=300)
    log.debug("heartbeat")


@shared_task(name="core.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Scheduled hourly: delete expired idempotency records (in batches; safe to run twice)."""
    # Imported here: this module is loaded by the Celery app (task_cls) before Django's models.
    from emporium.core.idempotency import idempotency_record_purge_expired

    deleted = idempotency_record_purge_expired()
    log.info("idempotency_records_purged", deleted=deleted)
    return deleted
