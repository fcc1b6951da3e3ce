"""Product search reads: the relevance-ranked queryset and the search page with facets.

`settings.SEARCH_BACKEND` picks the engine: `database` (SQLite FTS5 or PostgreSQL full-text and
trigram indexes, see database.py) or `elasticsearch` (see elastic.py). Either way, results are
loaded from the database with visibility re-checked at the current time, so a stale index entry
never shows a product customers may not see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from elastic_transport import TransportError
from elasticsearch import ApiError

from emporium.catalog import queries
from emporium.catalog import selectors as catalog
from emporium.catalog.models import Product
from emporium.core.context import require_current_tenant_id
from emporium.core.errors import ApplicationError
from emporium.search import database, elastic
from emporium.search.query import SearchPage, SearchParams, category_counts, price_buckets

# How many Elasticsearch hits product_search_queryset turns into a queryset.
QUERYSET_HITS = 1000


class SearchUnavailable(ApplicationError):
    status = 503
    code = "search_unavailable"
    title = _("Search is unavailable right now; try again shortly.")


def backend_name() -> str:
    """The configured search backend: `database` or `elasticsearch`."""
    return str(settings.SEARCH_BACKEND)


def _ordered_by_ids(queryset: QuerySet[Product], ids: list[UUID]) -> QuerySet[Product]:
    if not ids:
        return queryset.none()
    position = Case(
        *(When(pk=product_id, then=Value(index)) for index, product_id in enumerate(ids)),
        output_field=IntegerField(),
    )
    return queryset.filter(pk__in=ids).alias(search_position=position).order_by("search_position")


def product_search_queryset(queryset: QuerySet[Product], q: str) -> QuerySet[Product]:
    """Restrict `queryset` to products matching `q` and order it by relevance (best first);
    the caller may re-order. With Elasticsearch, the best QUERYSET_HITS matches are kept."""
    if backend_name() == "elasticsearch":
        try:
            ids = elastic.search_ids(
                q,
                tenant_id=require_current_tenant_id(),
                now=timezone.now(),
                limit=QUERYSET_HITS,
            )
        except (ApiError, TransportError) as exc:
            raise SearchUnavailable() from exc
        return _ordered_by_ids(queryset.order_by(), ids)
    return database.database_match(queryset, q).ranked


def _rows_in_order(ids: list[UUID], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The products `ids` visible to customers at `now` as the product list renders them (rows
    of `catalog.product_rows` with their `images`), in the order of `ids`: one query."""
    rows = queries.products_by_ids(ids, staff=False, now=now)
    return [rows[pk] for pk in ids if pk in rows]


def page_of(queryset: QuerySet[Product], *, offset: int, limit: int) -> list[dict[str, Any]]:
    """A page of an ordered product queryset as rows for `catalog.serializers.product_body`
    (with `images`), in three steps: the page's ids first (a narrow sort over every match), then
    those products' rows and their images, as the product list reads them. Sorting thousands of
    full rows costs about three times as much on PostgreSQL, and rows build several times faster
    than model instances with prefetched images."""
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + limit])
    return _rows_in_order(ids)


def _filtered(params: SearchParams) -> QuerySet[Product]:
    return catalog.product_list(
        category_ids=params.category_ids,
        min_price=params.min_price,
        max_price=params.max_price,
        in_stock=params.in_stock,
    )


def product_search(params: SearchParams) -> SearchPage:
    """One page of visible products matching the query and filters, with the total and facets
    over the whole matching set."""
    if backend_name() == "elasticsearch":
        return _elasticsearch_page(params)
    matched, count = database.database_search(_filtered(params), params.q)
    ranked = matched.ranked
    if params.ordering:
        ranked = ranked.order_by(*catalog.PRODUCT_ORDERINGS[params.ordering])
    if not count or matched.tally is None:
        return SearchPage(count=0, products=[])
    return SearchPage(
        count=count,
        products=page_of(ranked, offset=params.offset, limit=params.limit),
        categories=matched.tally.categories(catalog.category_list()),
        prices=matched.tally.prices(),
    )


def _elasticsearch_page(params: SearchParams) -> SearchPage:
    try:
        total, ids, by_category, by_price = elastic.search(
            params, tenant_id=require_current_tenant_id()
        )
    except (ApiError, TransportError) as exc:
        raise SearchUnavailable() from exc
    # The index may lag behind a write: the database decides what is visible now.
    return SearchPage(
        count=total,
        products=_rows_in_order(ids, now=params.now),
        categories=category_counts(by_category, catalog.category_list()) if total else [],
        prices=price_buckets(by_price),
    )
