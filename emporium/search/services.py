"""Search index writes: incremental updates after catalog changes and full re-indexing."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db import connection

from emporium.search import database, elastic
from emporium.search.selectors import backend_name


def search_index_products(*, tenant_id: UUID, product_ids: Iterable[UUID]) -> tuple[int, int]:
    """Bring these products' index entries up to date: (indexed, deleted). The database
    backend's index follows the table by itself, so there is nothing to do for it."""
    if backend_name() != "elasticsearch":
        return 0, 0
    return elastic.index_products(tenant_id=tenant_id, product_ids=product_ids)


def search_reindex(*, tenant_id: UUID | None = None) -> str:
    """Rebuild the index (of one shop, or of every shop) and say what was done."""
    if backend_name() != "elasticsearch":
        return database.rebuild_index(connection)
    if tenant_id is not None:
        count = elastic.reindex_tenant(tenant_id=tenant_id)
        return f"re-indexed {count} product(s) of the shop in {elastic.alias_name()}"
    count = elastic.reindex_all()
    return f"built a new index of {count} product(s) and moved {elastic.alias_name()} to it"
