"""Anonymous JSON misses of the product list and detail, answered by the response cache
middleware without URL dispatch and DRF (see `response_cache.register_reader`).

Each reader builds the page entry its view would store, from the same parts (validation,
queries, pagination, bodies, validators), renders it as the view's renderer does and leaves
everything else to the view: errors, redirects, searches, `format=`. The middleware stores the
entry and replays it exactly as it replays a hit. `tests/test_fast_reads.py` compares every
answer with the view's, byte for byte and header by header.

Each product's rendered body is remembered by the raw column values it was built from (its row's
`source`), the API version and the host it links to: pages are mostly made of products other
pages showed already, and a product that changes in any column is simply a new key. A list page
is then its envelope with the remembered bodies spliced into `results`, the very bytes rendering
the whole page would give (JSON rendering is compositional).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from django.core.signals import setting_changed
from django.dispatch import receiver
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
from emporium.core.memo import BoundedMemo

JSON = "application/json"
_RENDERER = JSONRenderer()
# Rendered product bodies remembered per process (the oldest are forgotten first).
REMEMBERED_BODIES = 5_000
_EMPTY_RESULTS = b'"results":[]'


_BODIES: BoundedMemo[bytes] = BoundedMemo(REMEMBERED_BODIES)


@receiver(setting_changed)
def _settings_changed(**_: Any) -> None:
    _BODIES.clear()  # image addresses follow the storage settings


def rendered_product(
    row: Mapping[str, Any], *, version: str, request: HttpRequest, origin: str
) -> bytes:
    """`product_body` of a row of `queries`, rendered as JSON; remembered by its source, the
    version and the `origin` its links start with (`_origin(request)`)."""
    key = (row["source"], version, origin)
    body = _BODIES.get(key)
    if body is None:
        body = _RENDERER.render(
            product_body(row, row["images"], version=version, request=request), JSON, {}
        )
        _BODIES.put(key, body)
    return body


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
    origin = _origin(request)
    results = b",".join(
        rendered_product(row, version=version, request=request, origin=origin) for row in page
    )
    envelope = _RENDERER.render(paginator.paginated_data([]), JSON, {})
    return response_cache.page_entry(
        generation=generation,
        # A string never holds an unescaped quote: the first match is the `results` member.
        body=envelope.replace(_EMPTY_RESULTS, b'"results":[' + results + b"]", 1),
        content_type=JSON,
        allow=_allow(view),
        etag=None,  # the body's hash, as the view's (`page_entry`)
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
    return response_cache.page_entry(
        generation=generation,
        body=rendered_product(row, version=version, request=request, origin=_origin(request)),
        content_type=JSON,
        allow=_allow(view),
        etag=seed_etag(
            read.product_etag_seed(row, row["images"]), media_type=JSON, version=version
        ),
        last_modified=row["updated_at"],
        max_age=view.cache_max_age,
        expires_at=expires_at,
    )


def _origin(request: HttpRequest) -> str:
    """What a request's absolute links start with (`build_absolute_uri`)."""
    return f"{request.scheme}://{request.get_host()}"


@cache
def _allow(view: type[APIView]) -> str:
    """The `Allow` header DRF gives the view's answers."""
    instance = view()
    instance.setup(HttpRequest())  # as dispatching does: HEAD is then answered like GET
    return ", ".join(instance.allowed_methods)
