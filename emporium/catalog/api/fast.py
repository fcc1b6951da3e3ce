"""Anonymous JSON misses of the product list and detail, answered by the response cache
middleware without URL dispatch and DRF (see `response_cache.register_reader`).

Each reader builds the page entry its view would store, from the same parts (validation,
queries, pagination, bodies, validators), renders it as the view's renderer does and leaves
everything else to the view: errors, redirects, searches, `format=`. The middleware stores the
entry and replays it exactly as it replays a hit. `tests/test_fast_reads.py` compares every
answer with the view's, byte for byte and header by header.

Each product's rendered body is remembered by the raw column values it was built from (its
`source`, see `queries.RawPage`), the API version and the host it links to: pages are mostly
made of products other pages showed already, and a product that changes in any column is simply
a new key. A list page is then its envelope with the remembered bodies spliced into `results`,
the very bytes rendering the whole page would give (JSON rendering is compositional); only the
products it shows for the first time are loaded from their raw values at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache, partial
from typing import Any, cast
from uuid import UUID

from django.core.paginator import InvalidPage
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError
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
# Rendered pages of products remembered per process (about 12 kB each at 20 products).
REMEMBERED_PAGES = 500
_EMPTY_RESULTS = b'"results":[]'


# (body, updated_at) by (source, version, origin).
_BODIES: BoundedMemo[tuple[bytes, datetime]] = BoundedMemo(REMEMBERED_BODIES)
# A page's (results, newest updated_at) by (its sources, version, origin).
_RESULTS: BoundedMemo[tuple[bytes, datetime | None]] = BoundedMemo(REMEMBERED_PAGES)


@receiver(setting_changed)
def _settings_changed(**_: Any) -> None:
    _BODIES.clear()  # image addresses follow the storage settings
    _RESULTS.clear()


def rendered_product(
    source: queries.Source,
    load: Callable[[], Mapping[str, Any]],
    *,
    version: str,
    request: HttpRequest,
    origin: str,
) -> tuple[bytes, datetime]:
    """`product_body` of the product with this `source`, rendered as JSON, and its
    `updated_at`; remembered by the source, the version and the `origin` its links start with
    (`_origin(request)`). Its row is loaded (`load()`) only when not remembered."""
    key = (source, version, origin)
    known = _BODIES.get(key)
    if known is None:
        row = load()
        body = product_body(row, row["images"], version=version, request=request)
        known = (_RENDERER.render(body, JSON, {}), row["updated_at"])
        _BODIES.put(key, known)
    return known


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
    # As the view's paginator paginates, except that the page's rows stay unloaded.
    paginator = read.ProductPagination()
    paginator.request = cast(Request, _PaginatedRequest(request))
    size = paginator.get_page_size(paginator.request)
    assert size is not None  # noqa: S101 (the default size is set)
    pages = read.CountCachingPaginator(
        queries.ProductPageSource(read.product_filter_for(params, staff=False)),
        size,
        count_cache=read.count_cache_for(request.GET, expires_at=expires_at),
    )
    try:
        paginator.page = pages.page(paginator.get_page_number(paginator.request, pages))
    except InvalidPage:
        return None  # the view answers the 404 problem
    page = paginator.page.object_list
    assert isinstance(page, queries.RawPage)  # noqa: S101 (what ProductPageSource slices give)
    results, last_modified = _rendered_results(page, version=version, request=request)
    envelope = _RENDERER.render(paginator.paginated_data([]), JSON, {})
    return response_cache.page_entry(
        generation=generation,
        # A string never holds an unescaped quote: the first match is the `results` member.
        body=envelope.replace(_EMPTY_RESULTS, b'"results":[' + results + b"]", 1),
        content_type=JSON,
        allow=_allow(view),
        etag=None,  # the body's hash, as the view's (`page_entry`)
        last_modified=last_modified,
        max_age=view.cache_max_age,
        expires_at=expires_at,
    )


def _rendered_results(
    page: queries.RawPage, *, version: str, request: HttpRequest
) -> tuple[bytes, datetime | None]:
    """The page's products rendered as the members of `results`, and the newest `updated_at`
    among them; remembered by the page's sources (pages are rebuilt with the same products
    after every catalog write, and reached by several addresses)."""
    origin = _origin(request)
    key = (tuple(page.sources), version, origin)
    known = _RESULTS.get(key)
    if known is None:
        load = page.__getitem__
        bodies = [
            rendered_product(
                source, partial(load, at), version=version, request=request, origin=origin
            )
            for at, source in enumerate(page.sources)
        ]
        known = (
            b",".join(body for body, _updated_at in bodies),
            newest(updated_at for _body, updated_at in bodies),
        )
        _RESULTS.put(key, known)
    return known


class _PaginatedRequest:
    """What DRF's page-number paginator reads of a request (`query_params`, and the address its
    links start from), without building a DRF `Request` around it."""

    def __init__(self, request: HttpRequest) -> None:
        self.query_params = request.GET
        self.path = request.path
        self.build_absolute_uri = request.build_absolute_uri


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
    body, _updated_at = rendered_product(
        row["source"], lambda: row, version=version, request=request, origin=_origin(request)
    )
    return response_cache.page_entry(
        generation=generation,
        body=body,
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
    """What a request's absolute links start with (`build_absolute_uri`, whose scheme and host
    the request works out once)."""
    return request.build_absolute_uri("/")[:-1]


@cache
def _allow(view: type[APIView]) -> str:
    """The `Allow` header DRF gives the view's answers."""
    instance = view()
    instance.setup(HttpRequest())  # as dispatching does: HEAD is then answered like GET
    return ", ".join(instance.allowed_methods)
