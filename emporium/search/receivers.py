"""Keep the Elasticsearch index in step with the catalog: each committed product change
enqueues `search.index_products`. The database backend's index follows the table by itself.

Category changes need nothing: documents carry only `category_id`, and category names, slugs,
visibility and the tree are read from the database when a search runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from emporium.catalog import events
from emporium.search.selectors import backend_name

# Products per task: a CSV import of 100,000 rows becomes many small, retryable tasks.
TASK_BATCH = 500


def on_products_changed(*, tenant_id: UUID, product_ids: Iterable[UUID], **_: Any) -> None:
    """Enqueue the re-indexing of changed products (after commit, see catalog.events)."""
    if backend_name() != "elasticsearch":
        return
    from emporium.search.tasks import index_products

    ids = sorted(str(product_id) for product_id in product_ids)
    for start in range(0, len(ids), TASK_BATCH):
        index_products.delay(str(tenant_id), ids[start : start + TASK_BATCH])


def connect() -> None:
    """Connect the receivers (from SearchConfig.ready)."""
    events.product_changes.connect(on_products_changed, dispatch_uid="search.products_changed")
