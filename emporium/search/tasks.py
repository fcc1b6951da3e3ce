"""Search background jobs (Celery discovers this module)."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task
from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError

from emporium.core.context import tenant_context
from emporium.core.logging import get_logger
from emporium.core.tasks import TransientError
from emporium.search.services import search_index_products

log = get_logger(__name__)
# Throttled (429) or failing (5xx) servers are worth another try; other answers are bugs.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@shared_task(name="search.index_products")
def index_products(tenant_id: str, product_ids: list[str]) -> dict[str, int]:
    """Re-read these products and index or delete them (idempotent: the latest state wins)."""
    tenant = UUID(tenant_id)
    try:
        with tenant_context(tenant):
            indexed, deleted = search_index_products(
                tenant_id=tenant, product_ids=[UUID(pk) for pk in product_ids]
            )
    except (EsConnectionError, ConnectionTimeout) as exc:
        raise TransientError(f"search server unreachable: {exc}") from exc
    except ApiError as exc:
        if exc.meta.status in RETRY_STATUSES:
            raise TransientError(f"search server answered {exc.meta.status}") from exc
        raise
    log.info("search_indexed", indexed=indexed, deleted=deleted)
    return {"indexed": indexed, "deleted": deleted}
