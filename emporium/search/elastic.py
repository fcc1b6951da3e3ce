"""The Elasticsearch backend: index mapping, documents, bulk (re)indexing and the search query.

One index alias (SEARCH_INDEX_ALIAS, default `emporium-products`) serves every shop; each document
is a product keyed by its id and carries `tenant_id`, which every query filters on. Documents keep
what visibility depends on (`is_active`, `publish_at`, `unpublish_at`) and queries compare it with
the current time, so a publish window opens and closes without re-indexing. Soft-deleted products
are removed from the index. Category names, slugs, visibility and the tree are read from the
database at query time: documents only carry `category_id`, so category edits need no re-index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from elasticsearch import Elasticsearch, NotFoundError, helpers

from emporium.catalog.models import Product
from emporium.catalog.serializers import available_quantity
from emporium.search.query import SearchParams, price_bucket_bounds

BULK_CHUNK = 500
# Elasticsearch's default index.max_result_window: deeper pages are refused.
MAX_RESULT_WINDOW = 10_000
CATEGORY_FACET_SIZE = 1000

INDEX_SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    "analysis": {
        "filter": {
            "prefix_grams": {"type": "edge_ngram", "min_gram": 2, "max_gram": 20},
            "infix_grams": {"type": "ngram", "min_gram": 3, "max_gram": 3},
        },
        "analyzer": {
            # Words, lowercased, accents folded: "Café" matches "cafe".
            "folded": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding"],
            },
            # Every word's prefixes from two letters: "lapt" finds "Laptop".
            "prefix": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "prefix_grams"],
            },
            # Three-letter pieces of every word: "apto" finds "Laptop".
            "infix": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "infix_grams"],
            },
        },
        "normalizer": {
            "folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]},
        },
    },
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "tenant_id": {"type": "keyword"},
        "name": {
            "type": "text",
            "analyzer": "folded",
            "fields": {
                "prefix": {"type": "text", "analyzer": "prefix", "search_analyzer": "folded"},
                "infix": {"type": "text", "analyzer": "infix"},
                "sort": {"type": "keyword", "normalizer": "folded", "ignore_above": 256},
            },
        },
        "sku": {
            "type": "keyword",
            "normalizer": "folded",
            "fields": {
                "text": {"type": "text", "analyzer": "folded"},
                "prefix": {"type": "text", "analyzer": "prefix", "search_analyzer": "folded"},
            },
        },
        "description": {"type": "text", "analyzer": "folded"},
        "category_id": {"type": "keyword"},
        "price": {"type": "scaled_float", "scaling_factor": 100},
        "currency": {"type": "keyword"},
        "is_active": {"type": "boolean"},
        "publish_at": {"type": "date"},
        "unpublish_at": {"type": "date"},
        "available": {"type": "integer"},
        "rating_average": {"type": "scaled_float", "scaling_factor": 100},
        "rating_count": {"type": "integer"},
        "created_at": {"type": "date"},
        "indexed_at": {"type": "date"},
    },
}

SORTS: dict[str, list[dict[str, Any]]] = {
    "price": [{"price": "asc"}, {"id": "asc"}],
    "-price": [{"price": "desc"}, {"id": "desc"}],
    "name": [{"name.sort": "asc"}, {"id": "asc"}],
    "-created_at": [{"created_at": "desc"}, {"id": "desc"}],
    "-rating": [{"rating_average": "desc"}, {"rating_count": "desc"}, {"id": "desc"}],
}
RELEVANCE_SORT: list[Any] = ["_score", {"name.sort": "asc"}, {"id": "asc"}]

_clients: dict[str, Elasticsearch] = {}


def alias_name() -> str:
    """The index alias every read and write goes through."""
    return str(settings.SEARCH_INDEX_ALIAS)


def client() -> Elasticsearch:
    """The Elasticsearch client for ELASTICSEARCH_URL (one per URL and process)."""
    url = str(settings.ELASTICSEARCH_URL)
    if url not in _clients:
        _clients[url] = Elasticsearch(url, request_timeout=5, max_retries=1, retry_on_timeout=True)
    return _clients[url]


# --- Documents and indexing -------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def product_document(product: Product, *, indexed_at: datetime) -> dict[str, Any]:
    """The indexed form of a product (category and stock must be select_related)."""
    return {
        "id": str(product.pk),
        "tenant_id": str(product.tenant_id),
        "name": product.name,
        "sku": product.sku,
        "description": product.description,
        "category_id": str(product.category_id) if product.category_id else None,
        "price": str(product.price),
        "currency": product.currency,
        "is_active": product.is_active,
        "publish_at": _iso(product.publish_at),
        "unpublish_at": _iso(product.unpublish_at),
        "available": available_quantity(product),
        "rating_average": str(product.rating_average),
        "rating_count": product.rating_count,
        "created_at": _iso(product.created_at),
        "indexed_at": _iso(indexed_at),
    }


def _index_actions(
    products: Iterable[Product], *, index: str, indexed_at: datetime
) -> Iterator[dict[str, Any]]:
    for product in products:
        yield {
            "_op_type": "index",
            "_index": index,
            "_id": str(product.pk),
            "_source": product_document(product, indexed_at=indexed_at),
        }


def _products(queryset: QuerySet[Product]) -> Iterator[Product]:
    return queryset.select_related("category", "stock").order_by("pk").iterator(chunk_size=2000)


def ensure_index() -> str:
    """Create an index behind the alias when there is none yet; returns the alias."""
    es = client()
    alias = alias_name()
    if not es.indices.exists_alias(name=alias):
        index = f"{alias}-{timezone.now():%Y%m%d%H%M%S%f}"
        es.indices.create(
            index=index,
            settings=INDEX_SETTINGS,
            mappings=MAPPINGS,
            aliases={alias: {"is_write_index": True}},
        )
    return alias


def index_products(*, tenant_id: UUID, product_ids: Iterable[UUID]) -> tuple[int, int]:
    """Re-read these products of the tenant and index the alive ones, delete the others from
    the index (soft-deleted or gone). Safe to repeat. Returns (indexed, deleted)."""
    ids = {UUID(str(product_id)) for product_id in product_ids}
    if not ids:
        return 0, 0
    alias = ensure_index()
    alive = list(
        Product.unscoped.filter(
            tenant_id=tenant_id, pk__in=ids, deleted_at__isnull=True
        ).select_related("category", "stock")
    )
    now = timezone.now()
    actions: list[dict[str, Any]] = list(_index_actions(alive, index=alias, indexed_at=now))
    gone = ids - {product.pk for product in alive}
    actions.extend({"_op_type": "delete", "_index": alias, "_id": str(pk)} for pk in gone)
    helpers.bulk(client(), actions, chunk_size=BULK_CHUNK, ignore_status=(404,), refresh=True)
    return len(alive), len(gone)


def reindex_all() -> int:
    """Build a fresh index of every shop's alive products, then move the alias to it and drop
    the previous index (searches keep answering from the old one meanwhile)."""
    es = client()
    alias = alias_name()
    started = timezone.now()
    index = f"{alias}-{started:%Y%m%d%H%M%S%f}"
    es.indices.create(index=index, settings=INDEX_SETTINGS, mappings=MAPPINGS)
    products = _products(Product.unscoped.filter(deleted_at__isnull=True))
    count, _errors = helpers.bulk(
        es, _index_actions(products, index=index, indexed_at=started), chunk_size=BULK_CHUNK
    )
    es.indices.refresh(index=index)
    try:
        previous = list(es.indices.get_alias(name=alias).body)
    except NotFoundError:
        previous = []
    actions: list[dict[str, Any]] = [{"remove": {"index": old, "alias": alias}} for old in previous]
    actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
    es.indices.update_aliases(actions=actions)
    for old in previous:
        es.indices.delete(index=old)
    # Writes that landed in the old index while this one was being built.
    missed = Product.unscoped.filter(updated_at__gte=started).values_list("tenant_id", "pk")
    by_tenant: dict[UUID, list[UUID]] = {}
    for tenant_id, product_id in missed:
        by_tenant.setdefault(tenant_id, []).append(product_id)
    for tenant_id, product_ids in by_tenant.items():
        index_products(tenant_id=tenant_id, product_ids=product_ids)
    return int(count)


def reindex_tenant(*, tenant_id: UUID) -> int:
    """Re-index one shop's alive products in place and remove its documents that were not
    re-indexed (deleted products). Other shops' documents are not touched."""
    alias = ensure_index()
    started = timezone.now()
    products = _products(Product.unscoped.filter(tenant_id=tenant_id, deleted_at__isnull=True))
    count, _errors = helpers.bulk(
        client(), _index_actions(products, index=alias, indexed_at=started), chunk_size=BULK_CHUNK
    )
    client().delete_by_query(
        index=alias,
        query={
            "bool": {
                "filter": [
                    {"term": {"tenant_id": str(tenant_id)}},
                    {"range": {"indexed_at": {"lt": started.isoformat()}}},
                ]
            }
        },
        refresh=True,
    )
    return int(count)


# --- Searching --------------------------------------------------------------------------------


def text_query(q: str) -> dict[str, Any]:
    """Relevance: exact name, then whole words (name before SKU before description), word
    prefixes, substrings of the name, and typos (`fuzziness: AUTO`) last."""
    return {
        "bool": {
            "should": [
                {"term": {"name.sort": {"value": q.strip().lower(), "boost": 10}}},
                {
                    "multi_match": {
                        "query": q,
                        "fields": ["name^4", "sku.text^3", "description"],
                        "type": "best_fields",
                        "operator": "and",
                        "boost": 3,
                    }
                },
                {
                    "multi_match": {
                        "query": q,
                        "fields": ["name.prefix^2", "sku.prefix"],
                        "type": "best_fields",
                        "operator": "and",
                        "boost": 2,
                    }
                },
                {"match": {"name.infix": {"query": q, "operator": "and"}}},
                {
                    "multi_match": {
                        "query": q,
                        "fields": ["name", "sku.text"],
                        "fuzziness": "AUTO",
                        "operator": "and",
                        "boost": 0.5,
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def visibility_filters(*, tenant_id: UUID, now: datetime) -> list[dict[str, Any]]:
    """The shop, and what customers may see at `now` (as catalog.selectors.product_visible_q)."""
    moment = now.isoformat()
    return [
        {"term": {"tenant_id": str(tenant_id)}},
        {"term": {"is_active": True}},
        {
            "bool": {
                "should": [
                    {"bool": {"must_not": {"exists": {"field": "publish_at"}}}},
                    {"range": {"publish_at": {"lte": moment}}},
                ],
                "minimum_should_match": 1,
            }
        },
        {
            "bool": {
                "should": [
                    {"bool": {"must_not": {"exists": {"field": "unpublish_at"}}}},
                    {"range": {"unpublish_at": {"gt": moment}}},
                ],
                "minimum_should_match": 1,
            }
        },
    ]


def search_body(params: SearchParams, *, tenant_id: UUID) -> dict[str, Any]:
    """The `_search` request for a page of results with facets."""
    filters = visibility_filters(tenant_id=tenant_id, now=params.now)
    if params.category_ids is not None:
        filters.append({"terms": {"category_id": sorted(str(c) for c in params.category_ids)}})
    price: dict[str, str] = {}
    if params.min_price is not None:
        price["gte"] = str(params.min_price)
    if params.max_price is not None:
        price["lte"] = str(params.max_price)
    if price:
        filters.append({"range": {"price": price}})
    if params.in_stock is True:
        filters.append({"range": {"available": {"gt": 0}}})
    elif params.in_stock is False:
        filters.append({"bool": {"must_not": {"range": {"available": {"gt": 0}}}}})
    bounds = price_bucket_bounds()
    ranges: list[dict[str, Any]] = []
    for index, low in enumerate(bounds):
        bucket: dict[str, Any] = {"key": str(low), "from": float(low)}
        if index + 1 < len(bounds):
            bucket["to"] = float(bounds[index + 1])
        ranges.append(bucket)
    return {
        "query": {"bool": {"must": [text_query(params.q)], "filter": filters}},
        "sort": SORTS[params.ordering] if params.ordering else RELEVANCE_SORT,
        "from": params.offset,
        "size": params.limit,
        "track_total_hits": True,
        "_source": False,
        "aggs": {
            "categories": {"terms": {"field": "category_id", "size": CATEGORY_FACET_SIZE}},
            "price": {"range": {"field": "price", "ranges": ranges}},
        },
    }


def search(
    params: SearchParams, *, tenant_id: UUID
) -> tuple[int, list[UUID], dict[UUID, int], list[int]]:
    """Run a search: (total, ids of the page in order, count per category id, count per price
    bucket aligned with `price_bucket_bounds()`)."""
    body = search_body(params, tenant_id=tenant_id)
    response = (
        client()
        .search(
            index=alias_name(),
            query=body["query"],
            sort=body["sort"],
            from_=body["from"],
            size=body["size"],
            track_total_hits=body["track_total_hits"],
            source=body["_source"],
            aggs=body["aggs"],
        )
        .body
    )
    total = int(response["hits"]["total"]["value"])
    ids = [UUID(hit["_id"]) for hit in response["hits"]["hits"]]
    aggregations = response.get("aggregations", {})
    categories = {
        UUID(str(bucket["key"])): int(bucket["doc_count"])
        for bucket in aggregations.get("categories", {}).get("buckets", [])
    }
    by_key = {
        str(bucket.get("key")): int(bucket["doc_count"])
        for bucket in aggregations.get("price", {}).get("buckets", [])
    }
    prices = [by_key.get(str(low), 0) for low in price_bucket_bounds()]
    return total, ids, categories, prices


def search_ids(q: str, *, tenant_id: UUID, now: datetime, limit: int) -> list[UUID]:
    """Ids of the best `limit` visible matches, by relevance (for product_search_queryset)."""
    response = (
        client()
        .search(
            index=alias_name(),
            query={
                "bool": {
                    "must": [text_query(q)],
                    "filter": visibility_filters(tenant_id=tenant_id, now=now),
                }
            },
            sort=RELEVANCE_SORT,
            size=limit,
            source=False,
        )
        .body
    )
    return [UUID(hit["_id"]) for hit in response["hits"]["hits"]]
