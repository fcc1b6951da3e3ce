"""Catalog change notifications, sent once the writing transaction has committed.

Writers call `products_changed` / `categories_changed` inside their transaction; receivers
(response caches, the search index) run after commit, with the shop's tenant id, and never for a
rolled-back write. Receivers connect with `product_changes.connect(handler)` and take
`tenant_id` and `product_ids` (or `tenant_id` for categories) as keyword arguments.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import structlog
from django.db import transaction
from django.dispatch import Signal

from emporium.core.context import get_current_tenant_id

logger = structlog.get_logger(__name__)

# Sent with tenant_id: UUID, product_ids: frozenset[UUID].
product_changes = Signal()
# Sent with tenant_id: UUID.
category_changes = Signal()


def products_changed(product_ids: Iterable[UUID], *, tenant_id: UUID | None = None) -> None:
    """Announce, after commit, that these products of the shop changed (any field or state)."""
    ids = frozenset(product_ids)
    tenant = tenant_id or get_current_tenant_id()
    if not ids or tenant is None:
        return
    transaction.on_commit(lambda: _send(product_changes, tenant_id=tenant, product_ids=ids))


def categories_changed(*, tenant_id: UUID | None = None) -> None:
    """Announce, after commit, that the shop's category tree changed."""
    tenant = tenant_id or get_current_tenant_id()
    if tenant is None:
        return
    transaction.on_commit(lambda: _send(category_changes, tenant_id=tenant))


def _send(signal: Signal, **kwargs: object) -> None:
    # One failing receiver (say, an unreachable search server) must not starve the others;
    # each receiver owns its retry (the search index re-syncs from a task).
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "catalog_change_receiver_failed",
                receiver=getattr(receiver, "__qualname__", repr(receiver)),
                error=type(result).__name__,
                exc_info=result,
            )
