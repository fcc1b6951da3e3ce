"""Hand-written SQL for the hottest catalog reads: a page of products, its total, one product
and the images of those products.

The product list and detail answer most of a shop's traffic. Building and compiling the
equivalent ORM querysets costs several times the database's own work (bench/RESULTS.md), so
these reads are fixed SQL text per filter combination, built once per process, with bound
parameters. Values are converted exactly as the ORM converts them (the backend's and the
fields' own converters), on PostgreSQL and SQLite alike.

`selectors.product_list` is the ORM twin of `ProductFilter` (search and the CSV export build on
it); a test checks that both select the same products, in the same order, for every filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, overload
from uuid import UUID

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from emporium.catalog.models import Category, Product, ProductImage
from emporium.core.context import require_current_tenant_id
from emporium.core.memo import BoundedMemo
from emporium.core.sql import RowConverter, database, db_uuid, fetch_raw, record_values
from emporium.inventory.models import Stock

# ORDER BY per `selectors.PRODUCT_ORDERINGS` key (the id tie-breaker keeps pages stable).
_ORDER_BY = {
    "price": "{t}.price ASC, {t}.id ASC",
    "-price": "{t}.price DESC, {t}.id DESC",
    "name": "{t}.name ASC, {t}.id ASC",
    "-created_at": "{t}.created_at DESC, {t}.id DESC",
    "-rating": "{t}.rating_average DESC, {t}.rating_count DESC, {t}.id DESC",
}

_P, _C, _S, _I = (
    Product._meta.db_table,
    Category._meta.db_table,
    Stock._meta.db_table,
    ProductImage._meta.db_table,
)
_PRODUCT_COLUMNS = (
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
# The row keys of `selectors.product_rows`, which `serializers.product_body` reads.
_ROW_KEYS = (*_PRODUCT_COLUMNS, "category_slug", "on_hand", "available")
# The values of `_ROW_KEYS`, in order.
_VALUES = (
    *(f"p.{name}" for name in _PRODUCT_COLUMNS),
    "c.slug",
    "COALESCE(s.quantity, 0)",
    "COALESCE(s.quantity - s.reserved, 0)",
)
_SELECT = ", ".join(f"{value} AS {key}" for value, key in zip(_VALUES, _ROW_KEYS, strict=True))
# What a page is ordered by (`_ORDER_BY`), for the statement around it.
_ORDER_COLUMNS = "p.id, p.price, p.name, p.created_at, p.rating_average, p.rating_count"
_FROM = f"{_P} p LEFT JOIN {_C} c ON c.id = p.category_id LEFT JOIN {_S} s ON s.product_id = p.id"
_VISIBLE = (
    "p.is_active = %s AND (p.publish_at IS NULL OR p.publish_at <= %s)"
    " AND (p.unpublish_at IS NULL OR p.unpublish_at > %s)"
)
_IMAGE_FIELDS = tuple(ProductImage._meta.concrete_fields)
_IMAGE_SELECT = ", ".join(f"i.{field.column}" for field in _IMAGE_FIELDS)
_IMAGE_NAMES = [field.attname for field in _IMAGE_FIELDS]

_QUANTITY = Stock._meta.get_field("quantity")  # on hand and available: plain integers
_PRODUCT_ROW = RowConverter(
    [
        *(Product._meta.get_field(name) for name in _PRODUCT_COLUMNS),
        Category._meta.get_field("slug"),
        _QUANTITY,
        _QUANTITY,
    ]
)
_IMAGE_ROW = RowConverter(_IMAGE_FIELDS)
# Loaded products (values and images) by their raw rows: a page's products are mostly ones
# loaded before. Rows are read, never changed, so their values and images may be shared.
_LOADED: BoundedMemo[tuple[list[Any], tuple[ProductImage, ...]]] = BoundedMemo(5_000)


@dataclass(frozen=True)
class ProductFilter:
    """Which products a list page shows (values already validated by the caller)."""

    staff: bool = False
    include_deleted: bool = False
    category_ids: frozenset[UUID] | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    ordering: str = "-created_at"

    def where(self, now: datetime) -> tuple[str, list[Any]]:
        """The WHERE clause (SQL text fixed per combination of filters) and its parameters."""
        clauses = ["p.tenant_id = %s"]
        params: list[Any] = [db_uuid(require_current_tenant_id())]
        if not (self.staff and self.include_deleted):
            clauses.append("p.deleted_at IS NULL")
        if not self.staff:
            clauses.append(_VISIBLE)
            moment = connection.ops.adapt_datetimefield_value(now)
            params += [True, moment, moment]
        if self.category_ids is not None:
            if not self.category_ids:
                clauses.append("1 = 0")
            else:
                clauses.append(f"p.category_id IN ({', '.join(['%s'] * len(self.category_ids))})")
                params += [db_uuid(category_id) for category_id in sorted(self.category_ids)]
        if self.min_price is not None:
            clauses.append("p.price >= %s")
            params.append(connection.ops.adapt_decimalfield_value(self.min_price))
        if self.max_price is not None:
            clauses.append("p.price <= %s")
            params.append(connection.ops.adapt_decimalfield_value(self.max_price))
        if self.in_stock is True:
            clauses.append("s.quantity > s.reserved")
        elif self.in_stock is False:
            clauses.append("(s.id IS NULL OR s.quantity <= s.reserved)")
        return " AND ".join(clauses), params


def product_page(product_filter: ProductFilter, *, offset: int, limit: int) -> RawPage:
    """One page of the filtered, ordered products: rows (the keys of `selectors.product_rows`,
    plus `images`: those the caller may see), each loaded when first read. One query."""
    where, params = product_filter.where(timezone.now())
    order_by = _ORDER_BY[product_filter.ordering]
    return _with_images(
        # The bounds are part of the text, as numbers: with them bound as parameters,
        # PostgreSQL's plan for any bounds (reused by a prepared statement) reads every row.
        f"{where} ORDER BY {order_by.format(t='p')} LIMIT {int(limit)} OFFSET {int(offset)}",
        params,
        order_by=order_by.format(t="page"),
        staff=product_filter.staff,
    )


def product_count(product_filter: ProductFilter) -> int:
    """How many products the filter selects: one query."""
    where, params = product_filter.where(timezone.now())
    # Only the stock filter needs the join.
    joins = (
        f"{_P} p"
        if product_filter.in_stock is None
        else f"{_P} p LEFT JOIN {_S} s ON s.product_id = p.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {joins} WHERE {where}", params)  # noqa: S608  # nosec B608
        return int(cursor.fetchone()[0])


def product_by_slug(slug: str, *, staff: bool) -> dict[str, Any] | None:
    """The row of the product `slug` (with its `images`) if the caller may see it, deleted
    ones never: one query."""
    where, params = ProductFilter(staff=staff).where(timezone.now())
    rows = _with_images(
        f"{where} AND p.slug = %s", [*params, slug], order_by="page.id", staff=staff
    )
    return rows[0] if rows else None


def products_by_ids(
    product_ids: Sequence[UUID], *, staff: bool, now: datetime | None = None
) -> dict[UUID, dict[str, Any]]:
    """The rows (with their `images`) of the products `product_ids` the caller may see at
    `now` (default: now), deleted ones never: one query (none for no ids)."""
    if not product_ids:
        return {}
    where, params = ProductFilter(staff=staff).where(now or timezone.now())
    listed = ", ".join(["%s"] * len(product_ids))
    params += [db_uuid(product_id) for product_id in product_ids]
    rows = _with_images(f"{where} AND p.id IN ({listed})", params, order_by="page.id", staff=staff)
    return {row["id"]: row for row in rows}


def images_by_product(
    product_ids: Sequence[UUID], *, staff: bool
) -> dict[UUID, list[ProductImage]]:
    """The images the caller may see of each product, in display order: one query (none for no
    products). Staff see every status, others only `ready` images."""
    found: dict[UUID, list[ProductImage]] = {}
    if not product_ids:
        return found
    clauses = [
        "i.tenant_id = %s",
        f"i.product_id IN ({', '.join(['%s'] * len(product_ids))})",
    ]
    params: list[Any] = [db_uuid(require_current_tenant_id())]
    params += [db_uuid(product_id) for product_id in product_ids]
    if not staff:
        clauses.append("i.status = %s")
        params.append(ProductImage.Status.READY.value)
    sql = (
        f"SELECT {_IMAGE_SELECT} FROM {_I} i WHERE {' AND '.join(clauses)}"  # noqa: S608  # nosec B608
        " ORDER BY i.position, i.created_at, i.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for values in cursor.fetchall():
            image = ProductImage.from_db(connection.alias, _IMAGE_NAMES, _IMAGE_ROW.convert(values))
            found.setdefault(image.product_id, []).append(image)
    return found


class ProductPageSource(Sequence[dict[str, Any]]):
    """The filtered products as a sequence Django's paginator can count and slice: its length
    is one `product_count` query, each slice one `product_page` query (a `RawPage`)."""

    def __init__(self, product_filter: ProductFilter) -> None:
        self.product_filter = product_filter

    def __len__(self) -> int:
        return product_count(self.product_filter)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        if isinstance(index, int):
            return self[index : index + 1][0]
        if index.step not in (None, 1) or (index.start or 0) < 0:
            raise TypeError("product pages are read by forward slices")
        start, stop = index.start or 0, index.stop
        if stop is None or stop <= start:
            return RawPage([], _load_values)
        return product_page(self.product_filter, offset=start, limit=stop - start)


# A product's raw values, then each of its images' (see `RawPage`): on PostgreSQL each as the
# text of one record, on SQLite as a tuple of values.
Source = tuple[Any, ...]
# A product's values (`_ROW_KEYS`) and its images, loaded from its source.
Loaded = tuple[list[Any], tuple[ProductImage, ...]]


class RawPage(Sequence[dict[str, Any]]):
    """The products one statement read, as the database sent them: each product's
    `sources[i]`, its raw values then each image's (equal sources load equal rows, so a source
    keys memos of what is derived from a row alone, such as the loading itself, `_LOADED`),
    and its row, loaded when first read (`page[i]`): a caller that has what it needs
    remembered by source loads nothing."""

    def __init__(self, sources: list[Source], load: Callable[[Source], Loaded]) -> None:
        self.sources = sources
        self._load = load
        self._rows: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.sources)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        row = self._rows.get(index)
        if row is None:
            source = self.sources[index]  # (IndexError past the end, as a list)
            loaded = _LOADED.get(source)
            if loaded is None:
                loaded = self._load(source)
                _LOADED.put(source, loaded)
            product, images = loaded
            row = dict(zip(_ROW_KEYS, product, strict=True))
            row["images"] = list(images)
            row["source"] = source
            self._rows[index] = row
        return row


def _with_images(where: str, params: list[Any], *, order_by: str, staff: bool) -> RawPage:
    """The products `WHERE {where}` (which may go on with an ORDER BY and bounds), in
    `order_by` order (`page.` columns), each with the `images` the caller may see in display
    order: one statement, a product repeated once per image."""
    if not staff:
        params = [*params, ProductImage.Status.READY.value]
    visible = "" if staff else " AND i.status = %s"
    order = f"ORDER BY {order_by}, i.position, i.created_at, i.id"
    db = database()
    if db.vendor == "postgresql":
        return _records_with_images(where, params, visible=visible, order=order, db=db)
    sql = (
        f"SELECT page.*, {_IMAGE_SELECT} FROM (SELECT {_SELECT} FROM {_FROM} WHERE {where}) page"  # noqa: S608  # nosec B608
        f" LEFT JOIN {_I} i ON i.product_id = page.id{visible} {order}"
    )
    rows, _typed = fetch_raw(sql, params, db)
    width = len(_ROW_KEYS)
    pairs = (
        (values[:width], values[width:] if values[width] is not None else None) for values in rows
    )
    return RawPage(_sources(pairs), _load_values)


def _records_with_images(
    where: str, params: list[Any], *, visible: str, order: str, db: BaseDatabaseWrapper
) -> RawPage:
    """`_with_images` on PostgreSQL: each product's values and each image's come as the text
    of one record (`ROW(...)::text`). A page is then a few dozen values to read instead of
    hundreds, and its products' sources are single strings; only a product not seen before is
    split into its values and loaded.

    The images of the page's products are read in one index scan (`= ANY` of their ids) and
    joined to them: joined plainly, PostgreSQL hashed the whole images table for every page
    while that table was small, and a lateral read per product cost a probe for each
    (bench/RESULTS.md)."""
    sql = (
        f"WITH page AS MATERIALIZED (SELECT ROW({', '.join(_VALUES)})::text AS record,"  # noqa: S608  # nosec B608
        f" {_ORDER_COLUMNS} FROM {_FROM} WHERE {where})"
        " SELECT page.record, i.record FROM page LEFT JOIN"
        f" (SELECT ROW({_IMAGE_SELECT})::text AS record, i.product_id, i.position, i.created_at,"
        f" i.id FROM {_I} i WHERE i.product_id = ANY (ARRAY(SELECT id FROM page)){visible}) i"
        f" ON i.product_id = page.id {order}"
    )
    rows, _typed = fetch_raw(sql, params, db)
    return RawPage(_sources(rows), _load_records)


def _sources(rows: Iterable[tuple[Any, Any]]) -> list[Source]:
    """Each product's source from its (product, image or None) rows, which come one after
    another: one row per image, or one without."""
    sources: list[Source] = []
    for product, image in rows:
        if sources and sources[-1][0] == product:
            sources[-1] = (*sources[-1], image)
        else:
            sources.append((product,) if image is None else (product, image))
    return sources


def _load_values(source: Source) -> Loaded:
    """A product's values and images, converted as the ORM would, from its source of values
    (SQLite)."""
    db = database()
    product = _PRODUCT_ROW.convert(source[0], db)
    images = tuple(
        ProductImage.from_db(db.alias, _IMAGE_NAMES, _IMAGE_ROW.convert(values, db))
        for values in source[1:]
    )
    return product, images


# Statements that select the columns of a product row and of an image, for their types.
_PRODUCT_COLUMNS_OF = f"SELECT {_SELECT} FROM {_FROM}"  # noqa: S608  # nosec B608
_IMAGE_COLUMNS_OF = f"SELECT {_IMAGE_SELECT} FROM {_I} i"  # noqa: S608  # nosec B608


def _load_records(source: Source) -> Loaded:
    """A product's values and images, loaded and converted as the ORM would, from its source
    of record texts (PostgreSQL)."""
    db = database()
    product = _PRODUCT_ROW.convert(record_values(source[0], _PRODUCT_COLUMNS_OF, db), db)
    images = tuple(
        ProductImage.from_db(
            db.alias,
            _IMAGE_NAMES,
            _IMAGE_ROW.convert(record_values(record, _IMAGE_COLUMNS_OF, db), db),
        )
        for record in source[1:]
    )
    return product, images
