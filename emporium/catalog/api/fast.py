"""Anonymous JSON misses of the product list and detail, answered by the response cache
middleware without URL dispatch and DRF (see `response_cache.register_reader`).

Each reader builds the page entry its view would store, from the same parts (validation,
queries, pagination, bodies, validators), renders it as the view's renderer does and leaves
everything else to the view: errors, redirects, searches, `format=`. The middleware stores the
entry and replays it exactly as it replays a hit. `tests/test_fast_reads.py` compares every
answer with the view's, byte for byte and header by header.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from emporium.catalog import queries
from emporium.catalog.api import read
from emporium.catalog.serializers import product_body
from emporium.core import response_cache
from emporium.core.caching import newest, seed_etag

JSON = "application/json"
_RENDERER = JSONRenderer()


def product_list(
    request: HttpRequest, *, tenant_id: UUID, now: datetime, version: str
) -> dict[str, Any] | None:
    """The page entry of `GET products/` for an anonymous caller, or None for the view."""
    if "format" in request.GET:
        return None
    try:
        params = read.ProductQuerySerializer.validate_query(request.GET)
    except ValidationError:
        return None  # the view answers the 400 problem
    if params.get("q"):
        return None  # a search: the view ranks it
    view = read.ProductListView
    # Read before the data: a write committed meanwhile leaves this page outdated at once.
    generation = response_cache.generations(tenant_id, view.server_cache_namespaces)
    expires_at = view().server_cache_expires_at(now)
    paginator = read.ProductPagination()
    paginator.count_cache = read.count_cache_for(request.GET)
    source = queries.ProductPageSource(read.product_filter_for(params, staff=False))
    try:
        page = paginator.paginate_queryset(source, Request(request))
    except NotFound:
        return None  # the view answers the 404 problem
    assert page is not None  # noqa: S101 (pagination is always on)
    results = [product_body(row, row["images"], version=version, request=request) for row in page]
    return response_cache.page_entry(
        generation=generation,
        body=_RENDERER.render(paginator.get_paginated_response(results).data, JSON, {}),
        content_type=JSON,
        allow=_allow(view),
        etag=None,  # the body's hash, as the view's
        last_modified=newest(row["updated_at"] for row in page),
        max_age=view.cache_max_age,
        expires_at=expires_at,
    )


def product_detail(
    request: HttpRequest, *, tenant_id: UUID, now: datetime, version: str, slug: str
) -> dict[str, Any] | None:
    """The page entry of `GET products/{slug}/` for an anonymous caller, or None for the view
    (no such product: a 404, or a 301 from an old slug)."""
    if "format" in request.GET:
        return None
    view = read.ProductDetailView
    generation = response_cache.generations(tenant_id, view.server_cache_namespaces)
    expires_at = view().server_cache_expires_at(now)
    row = queries.product_by_slug(slug, staff=False)
    if row is None:
        return None
    body = product_body(row, row["images"], version=version, request=request)
    return response_cache.page_entry(
        generation=generation,
        body=_RENDERER.render(body, JSON, {}),
        content_type=JSON,
        allow=_allow(view),
        etag=seed_etag(
            read.product_etag_seed(row, row["images"]), media_type=JSON, version=version
        ),
        last_modified=row["updated_at"],
        max_age=view.cache_max_age,
        expires_at=expires_at,
    )


@cache
def _allow(view: type[APIView]) -> str:
    """The `Allow` header DRF gives the view's answers."""
    instance = view()
    instance.setup(HttpRequest())  # as dispatching does: HEAD is then answered like GET
    return ", ".join(instance.allowed_methods)
