"""Filling the response cache before customers ask (run on deploy: `manage.py warm_caches`).

Each page is produced by the real view, as an anonymous JSON request would be, so the cache
keys and contents are exactly those later requests look up. Rate limits are not applied: the
warmer is not a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.test import RequestFactory
from django.urls import resolve
from django.utils import translation

from emporium.catalog import selectors
from emporium.core.context import tenant_context
from emporium.tenants.models import Tenant, TenantDomain

API_VERSIONS = ("v1", "v2")
LOCAL_BASE_URLS = ("http://localhost:8000", "http://127.0.0.1:8000")
# The public read views, addressed without the /api/<version>/ prefix.
READ_URLS = "emporium.catalog.api.read"


@dataclass
class WarmResult:
    """What one shop's warm-up did."""

    pages: int = 0
    failed: int = 0


def warm_paths(*, list_pages: int, top_products: int) -> Iterator[str]:
    """Paths to warm for the shop in context: the category tree, the first list pages overall
    and per top-level category, and the details of the best-rated products."""
    top_categories = [c.slug for c in selectors.category_list() if c.parent_id is None]
    products = selectors.product_list(ordering="-rating").values_list("slug", flat=True)
    product_slugs = list(products[:top_products])
    for version in API_VERSIONS:
        prefix = f"/api/{version}/"
        yield f"{prefix}categories/"
        yield f"{prefix}categories/?tree=true"
        for page in range(1, list_pages + 1):
            suffix = "" if page == 1 else f"?page={page}"
            yield f"{prefix}products/{suffix}"
            for slug in top_categories:
                yield f"{prefix}products/?category={slug}" + ("" if page == 1 else f"&page={page}")
        for slug in product_slugs:
            yield f"{prefix}products/{slug}/"


def default_base_urls(tenant: Tenant) -> list[str]:
    """Where customers reach the shop: https on each of its domains; a shop without domains
    (the default shop on a laptop) at the addresses `make run` serves."""
    domains = list(TenantDomain.objects.filter(tenant=tenant).values_list("domain", flat=True))
    if domains:
        return [f"https://{domain}" for domain in sorted(domains)]
    return list(LOCAL_BASE_URLS)


def warm_tenant(
    tenant: Tenant,
    *,
    base_urls: list[str] | None = None,
    list_pages: int = 1,
    top_products: int = 50,
) -> WarmResult:
    """Render every warm path of `tenant`, at each base URL and in each configured language,
    into the cache (pages embed absolute links, so each address has its own pages)."""
    factory = RequestFactory()
    result = WarmResult()
    with tenant_context(tenant.id):
        paths = list(warm_paths(list_pages=list_pages, top_products=top_products))
        addresses = [urlsplit(url) for url in base_urls or default_base_urls(tenant)]
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                for address in addresses:
                    for path in paths:
                        ok = _render(factory, tenant, address.scheme, address.netloc, path)
                        result.pages += ok
                        result.failed += not ok
    return result


def _render(factory: RequestFactory, tenant: Tenant, scheme: str, host: str, path: str) -> bool:
    """Run the read view of `path` as an anonymous JSON request would (filling the cache)."""
    request = factory.get(
        path, HTTP_ACCEPT="application/json", HTTP_HOST=host, secure=scheme == "https"
    )
    request.tenant = tenant  # type: ignore[attr-defined]
    version, _sep, relative = request.path_info.removeprefix("/api/").partition("/")
    match = resolve(f"/{relative}", urlconf=READ_URLS)
    view = match.func.cls.as_view(throttle_classes=())  # type: ignore[attr-defined]
    response = view(request, *match.args, version=version, **match.kwargs)
    return bool(response.status_code == 200)
