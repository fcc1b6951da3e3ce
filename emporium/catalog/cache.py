"""The catalog's server-side response cache: namespaces, invalidation and scheduled changes.

Product pages depend on the `catalog` namespace, category pages on `categories`. Any product
write bumps `catalog`; any category write bumps both (a product page shows its category, and
the `category` filter follows the tree). Pages also expire by themselves at the next instant a
product is scheduled to appear or disappear (`publish_at` / `unpublish_at`), whatever their TTL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.db.models import Subquery
from django.http import HttpRequest
from django.utils import timezone

from emporium.catalog.models import Product
from emporium.core import response_cache
from emporium.tenants.models import Tenant

PRODUCTS = "catalog"
CATEGORIES = "categories"
# The next scheduled change only moves with product writes (not category ones): keeping it
# apart keeps a list page after a category write at four queries.
SCHEDULE = "catalog-schedule"
# How long a computed "next scheduled change" is trusted when none is due sooner.
SCHEDULE_RECHECK_SECONDS = response_cache.DEFAULT_TIMEOUT


def on_products_changed(*, tenant_id: UUID, product_ids: Iterable[UUID], **_: Any) -> None:
    """Invalidate the shop's product pages (lists and details) and its known schedule."""
    response_cache.bump(tenant_id, [PRODUCTS, SCHEDULE])


def on_categories_changed(*, tenant_id: UUID, **_: Any) -> None:
    """Invalidate the shop's category and product pages."""
    response_cache.bump(tenant_id, [PRODUCTS, CATEGORIES])


# The list parameters a total depends on (not the ordering or the page).
COUNT_FILTERS = ("category", "min_price", "max_price", "in_stock", "q")


def product_count_key(tenant_id: UUID, query: Mapping[str, str]) -> str:
    """Where the customer-visible total of a product list is cached: fixed per shop and raw
    filter values (the page lookup reads it with the page, see `apps.CatalogConfig.ready`);
    the value carries the `product_count_stamp` it was counted at."""
    return _count_key(tenant_id, tuple(query.get(name, "") for name in COUNT_FILTERS))


@lru_cache(maxsize=4096)  # every list miss asks for it twice (the lookup, then the page)
def _count_key(tenant_id: UUID, values: tuple[str, ...]) -> str:
    filters = "\x1f".join(
        f"{name}={value}" for name, value in zip(COUNT_FILTERS, values, strict=True)
    )
    digest = hashlib.sha256(f"{tenant_id}\x1e{filters}".encode()).hexdigest()
    return f"{response_cache.KEY_PREFIX}:count:{digest}"


def product_count_stamp(tenant_id: UUID) -> tuple[int, int]:
    """What a cached total must have been counted at: the product and category generations."""
    generation = response_cache.generations(tenant_id, [PRODUCTS, CATEGORIES])
    return generation[PRODUCTS], generation[CATEGORIES]


def schedule_key(tenant_id: UUID) -> str:
    """Where the shop's next scheduled change is remembered, with the schedule generation it
    was computed at (the key itself is fixed, so the server cache reads it with every page
    lookup: see `apps.CatalogConfig.ready`)."""
    return f"{response_cache.KEY_PREFIX}:schedule:{tenant_id}"


def next_scheduled_change(*, tenant_id: UUID, now: datetime | None = None) -> datetime | None:
    """The next instant an active product of the shop is published or unpublished, if any.

    Remembered per schedule generation (a product write may move it) and only until it passes,
    so most requests cost no query at all.
    """
    now = now or timezone.now()
    key = schedule_key(tenant_id)
    generation = response_cache.generations(tenant_id, [SCHEDULE])[SCHEDULE]
    known: tuple[int, float | None] | None = response_cache.get_fresh(key, now=now)
    if known is not None and known[0] == generation:
        change = known[1]
        return datetime.fromtimestamp(change, tz=now.tzinfo) if change is not None else None
    upcoming = Product.objects.filter(is_active=True)
    # One statement, two index-backed lookups (first future publish, first future unpublish).
    row = (
        Tenant.objects.filter(pk=tenant_id)
        .annotate(
            next_publish=Subquery(
                upcoming.filter(publish_at__gt=now).order_by("publish_at").values("publish_at")[:1]
            ),
            next_unpublish=Subquery(
                upcoming.filter(unpublish_at__gt=now)
                .order_by("unpublish_at")
                .values("unpublish_at")[:1]
            ),
        )
        .values_list("next_publish", "next_unpublish")
        .first()
    )
    found = [value for value in row or () if value is not None]
    change_at = min(found) if found else None
    # Trusted until the change itself (then the next one is looked up) or the recheck period.
    valid_until = now + timedelta(seconds=SCHEDULE_RECHECK_SECONDS)
    if change_at is not None:
        valid_until = min(valid_until, change_at)
    response_cache.set_until(
        key,
        (generation, change_at.timestamp() if change_at is not None else None),
        expires_at=valid_until,
        now=now,
    )
    return change_at


def page_miss_keys(request: HttpRequest, tenant_id: UUID) -> list[str]:
    """What a product page miss reads: the schedule and, for a list, the total of its filters
    (read along with every anonymous page lookup; an unused key costs nothing there)."""
    return [schedule_key(tenant_id), product_count_key(tenant_id, request.GET)]
