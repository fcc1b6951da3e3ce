"""The transactional outbox (DESIGN.md section 6).

Writers call `outbox_event_add(name=..., payload=...)` inside the transaction that makes the
change, so an event exists exactly when the change committed. The task `core.relay_outbox`
(scheduled every 10 s) takes unpublished events in batches with
`select_for_update(skip_locked=True)` (concurrent relays never share an event), hands each to the
handlers registered for its name with `@outbox_handler(name)`, and marks it published in the
same transaction. A handler that raises leaves its event unpublished for the next run (the
other events of the batch are not affected); after MAX_ATTEMPTS the event stays in the table as
a dead letter (`attempts`, `last_error`) for an operator. Handlers run with the event's tenant
in context and receive the event, whose id they use to stay idempotent: a crash between a
handler's side effect and the commit delivers the event again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from emporium.core.context import tenant_context
from emporium.core.logging import get_logger
from emporium.core.models import OutboxEvent

log = get_logger(__name__)

Handler = Callable[[OutboxEvent], None]

BATCH_SIZE = 100
# Bounds one relay run (10,000 events); the next scheduled run continues.
MAX_BATCHES = 100
MAX_ATTEMPTS = 10

_handlers: dict[str, list[Handler]] = defaultdict(list)


def outbox_handler(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as a handler of events called `name`."""

    def register(handler: Handler) -> Handler:
        if handler not in _handlers[name]:
            _handlers[name].append(handler)
        return handler

    return register


def outbox_handlers(name: str) -> list[Handler]:
    """The handlers registered for `name` (a copy)."""
    return list(_handlers.get(name, ()))


def outbox_event_add(*, name: str, payload: dict[str, Any]) -> OutboxEvent:
    """Record an event of the current tenant; call inside the writer's transaction."""
    event: OutboxEvent = OutboxEvent.objects.create(name=name, payload=payload)
    return event


def outbox_relay(*, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES) -> int:
    """Hand unpublished events of every tenant to their handlers; returns how many published."""
    published = 0
    for _batch in range(max_batches):
        done, seen = _relay_batch(batch_size)
        published += done
        if seen < batch_size:
            break
    return published


def _relay_batch(batch_size: int) -> tuple[int, int]:
    published = 0
    with transaction.atomic():
        events = list(
            OutboxEvent.unscoped.filter(published_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
            .order_by("created_at", "id")
            .select_for_update(skip_locked=True)[:batch_size]
        )
        for event in events:
            if _deliver(event):
                published += 1
    return published, len(events)


def _deliver(event: OutboxEvent) -> bool:
    now = timezone.now()
    try:
        # A savepoint per event: a failing handler's writes roll back alone.
        with transaction.atomic(), tenant_context(event.tenant_id):
            for handler in outbox_handlers(event.name):
                handler(event)
    except Exception as error:  # whatever a handler raises, the event is retried later
        OutboxEvent.unscoped.filter(pk=event.pk).update(
            attempts=event.attempts + 1, last_error=repr(error)[:200], updated_at=now
        )
        log.warning(
            "outbox_handler_failed",
            event_id=str(event.pk),
            event_name=event.name,
            attempts=event.attempts + 1,
            error=type(error).__name__,
        )
        return False
    OutboxEvent.unscoped.filter(pk=event.pk).update(
        published_at=now, attempts=event.attempts + 1, updated_at=now
    )
    return True


@shared_task(name="core.relay_outbox")
def relay_outbox() -> int:
    """Scheduled every 10 s: publish outbox events (safe to run concurrently and twice)."""
    published = outbox_relay()
    if published:
        log.info("outbox_relayed", published=published)
    return published
