"""Catalog reads: categories (flat and tree) and the product list with its filters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import F, Prefetch, Q, QuerySet, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.utils import timezone

from emporium.catalog import cache, services_images
from emporium.catalog.models import Category, Product, ProductSlugRedirect
from emporium.core import response_cache
from emporium.core.context import require_current_tenant_id
from emporium.core.memo import BoundedMemo

PRODUCT_ORDERINGS: dict[str, tuple[str, ...]] = {
    # The id tie-breaker keeps pages stable when sort keys are equal.
    "price": ("price", "id"),
    "-price": ("-price", "-id"),
    "name": ("name", "id"),
    "-created_at": ("-created_at", "-id"),
    "-rating": ("-rating_average", "-rating_count", "-id"),
}
DEFAULT_PRODUCT_ORDERING = "-created_at"


@dataclass
class CategoryNode:
    """A category with its child nodes, for the tree view."""

    category: Category
    children: list[CategoryNode] = field(default_factory=list)


def _visible_ids(rows: Iterable[tuple[UUID, UUID | None, bool]]) -> set[UUID]:
    """Ids of active categories whose ancestors are all active, from (id, parent_id, active)."""
    by_id = {category_id: (parent_id, is_active) for category_id, parent_id, is_active in rows}
    visible: set[UUID] = set()
    for category_id in by_id:
        chain: list[UUID] = []
        current: UUID | None = category_id
        while current is not None and current in by_id and current not in chain:
            chain.append(current)
            parent_id, is_active = by_id[current]
            if not is_active:
                break
            if parent_id is None:
                visible.update(chain)
                break
            if parent_id in visible:
                visible.update(chain)
                break
            current = parent_id
    return visible


@dataclass
class _Tree:
    """A shop's categories as read at one categories generation, and what was derived from
    them (the ids of a category's subtree, by slug and whether inactive ones count)."""

    categories: list[Category]
    expires_at: float  # (a timestamp) as in the shared cache, should a write fail to move the
    # generation while the cache is unavailable
    subtrees: dict[tuple[str, bool], frozenset[UUID]] = field(default_factory=dict)


# Category trees by their versioned key (tenant and categories generation): unpickling a tree
# of model instances from the shared cache cost about 0.3 ms a request, more than the rest of
# a category-filtered list page's lookups.
REMEMBERED_TREES = 256
_TREES: BoundedMemo[_Tree] = BoundedMemo(REMEMBERED_TREES)


def _tree() -> _Tree:
    """The shop's category tree, shared by the process's requests, which must not change it.

    Read through the cache (the tree is small, read on every catalog request and rarely
    written); a category write moves the cache generation, so this is never stale.
    """
    tenant_id = require_current_tenant_id()
    generation = response_cache.generations(tenant_id, [cache.CATEGORIES])
    key = response_cache.versioned_key(tenant_id=tenant_id, generation=generation, parts=["tree"])
    now = timezone.now()
    known = _TREES.get(key)
    if known is not None and known.expires_at > now.timestamp():
        return known
    categories: list[Category] | None = response_cache.get_fresh(key, now=now)
    if categories is None:
        categories = list(Category.objects.select_related("parent").order_by("position", "name"))
        valid_until = now + timedelta(seconds=response_cache.DEFAULT_TIMEOUT)
        response_cache.set_until(key, categories, expires_at=valid_until, now=now)
    tree = _Tree(categories, now.timestamp() + response_cache.DEFAULT_TIMEOUT)
    _TREES.put(key, tree)
    return tree


def _all_categories() -> list[Category]:
    """Every category of the shop, parents joined, ordered by position and name (shared: not
    to be changed)."""
    return _tree().categories


def category_list(*, include_inactive: bool = False) -> list[Category]:
    """The shop's categories ordered by position and name (cached; one query on a miss). The
    instances are shared by the process's requests: read them, never change them (writes load
    their own)."""
    categories = _all_categories()
    if include_inactive:
        return list(categories)
    visible_ids = _visible_ids((c.id, c.parent_id, c.is_active) for c in categories)
    return [category for category in categories if category.id in visible_ids]


def category_tree(*, categories: list[Category]) -> list[CategoryNode]:
    """Nest an ordered category list; nodes whose parent is missing from the list are dropped."""
    nodes = {category.id: CategoryNode(category=category) for category in categories}
    roots: list[CategoryNode] = []
    for category in categories:
        node = nodes[category.id]
        if category.parent_id is None:
            roots.append(node)
        elif category.parent_id in nodes:
            nodes[category.parent_id].children.append(node)
    return roots


def category_get(*, slug: str, include_inactive: bool = False) -> Category | None:
    """The category with `slug` if the caller may see it, else None (shared: read only, as
    `category_list`'s)."""
    for category in category_list(include_inactive=include_inactive):
        if category.slug == slug:
            return category
    return None


def category_subtree_ids(*, slug: str, include_inactive: bool = False) -> frozenset[UUID]:
    """Ids of the category `slug` and its descendants (from the shop's small tree, remembered
    with it).

    For customers, inactive categories (and what lies below them) are left out: an invisible
    category yields an empty set.
    """
    tree = _tree()
    found = tree.subtrees.get((slug, include_inactive))
    if found is None:
        found = tree.subtrees[slug, include_inactive] = _subtree_ids(
            tree.categories, slug=slug, include_inactive=include_inactive
        )
    return found


def _subtree_ids(
    categories: list[Category], *, slug: str, include_inactive: bool
) -> frozenset[UUID]:
    rows = [(c.id, c.parent_id, c.slug, c.is_active) for c in categories]
    root = next((row[0] for row in rows if row[2] == slug), None)
    if root is None:
        return frozenset()
    allowed = (
        {row[0] for row in rows}
        if include_inactive
        else _visible_ids((row[0], row[1], row[3]) for row in rows)
    )
    if root not in allowed:
        return frozenset()
    children: dict[UUID, list[UUID]] = {}
    for category_id, parent_id, _slug, _active in rows:
        if parent_id is not None:
            children.setdefault(parent_id, []).append(category_id)
    found: set[UUID] = set()
    pending = [root]
    while pending:
        category_id = pending.pop()
        if category_id in found or category_id not in allowed:
            continue
        found.add(category_id)
        pending.extend(children.get(category_id, []))
    return frozenset(found)


def product_visible_q(*, now: datetime, prefix: str = "") -> Q:
    """Products customers may see at `now`: active, scheduled window open (nulls open).

    `prefix` ("product__") applies the rule through a relation.
    """
    return (
        Q(**{f"{prefix}is_active": True})
        & (Q(**{f"{prefix}publish_at__isnull": True}) | Q(**{f"{prefix}publish_at__lte": now}))
        & (Q(**{f"{prefix}unpublish_at__isnull": True}) | Q(**{f"{prefix}unpublish_at__gt": now}))
    )


def product_base_queryset(*, staff: bool, include_deleted: bool = False) -> QuerySet[Product]:
    """Products the caller may see, with category and stock joined and the images the caller
    may see prefetched, for serialization."""
    if staff:
        manager = Product.all_objects if include_deleted else Product.objects
        queryset: QuerySet[Product] = manager.all()
    else:
        queryset = Product.objects.filter(product_visible_q(now=timezone.now()))
    return queryset.select_related("category", "stock").prefetch_related(_images(staff=staff))


def _images(*, staff: bool) -> Prefetch[Any]:
    return Prefetch("images", queryset=services_images.product_image_queryset(staff=staff))


def product_images_prefetch(products: Sequence[Product], *, staff: bool) -> None:
    """Load the images of already fetched products in one query (for serialization)."""
    prefetch_related_objects(list(products), _images(staff=staff))


# The product columns an API body shows (with the category's slug and the stock on hand).
PRODUCT_ROW_FIELDS = (
    "id",
    "slug",
    "sku",
    "name",
    "description",
    "price",
    "compare_at_price",
    "currency",
    "attributes",
    "is_active",
    "publish_at",
    "unpublish_at",
    "rating_average",
    "rating_count",
    "created_at",
    "updated_at",
)


def product_rows(queryset: QuerySet[Product]) -> QuerySet[Product, dict[str, Any]]:
    """`queryset` read as plain rows for serialization: no model instances, category slug and
    stock on hand joined in the same query (list pages build up to 100 products)."""
    rows: QuerySet[Product, dict[str, Any]] = (
        queryset.select_related(None)
        .prefetch_related(None)
        .values(
            *PRODUCT_ROW_FIELDS,
            category_slug=F("category__slug"),
            on_hand=Coalesce(F("stock__quantity"), 0),
            available=Coalesce(F("stock__quantity") - F("stock__reserved"), 0),
        )
    )
    return rows


def product_list(
    *,
    staff: bool = False,
    include_deleted: bool = False,
    category_ids: frozenset[UUID] | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    in_stock: bool | None = None,
    ordering: str = DEFAULT_PRODUCT_ORDERING,
) -> QuerySet[Product]:
    """The filtered, ordered product list (filters already validated by the caller)."""
    queryset = product_base_queryset(staff=staff, include_deleted=include_deleted)
    if category_ids is not None:
        queryset = queryset.filter(category_id__in=category_ids)
    if min_price is not None:
        queryset = queryset.filter(price__gte=min_price)
    if max_price is not None:
        queryset = queryset.filter(price__lte=max_price)
    if in_stock is True:
        queryset = queryset.filter(stock__quantity__gt=F("stock__reserved"))
    elif in_stock is False:
        queryset = queryset.filter(
            Q(stock__isnull=True) | Q(stock__quantity__lte=F("stock__reserved"))
        )
    return queryset.order_by(*PRODUCT_ORDERINGS[ordering])


def product_redirect_slug(*, old_slug: str, staff: bool = False) -> str | None:
    """The current slug of a product once known as `old_slug`, if the caller may see it."""
    queryset = ProductSlugRedirect.objects.filter(slug=old_slug, product__deleted_at__isnull=True)
    if not staff:
        queryset = queryset.filter(product_visible_q(now=timezone.now(), prefix="product__"))
    slug: str | None = queryset.values_list("product__slug", flat=True).first()
    return slug
