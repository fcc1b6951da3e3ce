"""Hand-written SQL for the hottest cart write: adding a product (`services.cart_item_add`).

Building and compiling the equivalent ORM querysets cost several times the database's own
work (bench/RESULTS.md, "Add to cart"), so an add runs fixed SQL text, built once per process,
with bound parameters: one read of the product (with its stock and first image), then, in one
transaction, one UPDATE that locks and touches the cart and one upsert of the line that checks
CART_MAX_LINES and the line's limit in the same statement. Values are converted exactly as the
ORM converts them (the backend's and the fields' own converters), on PostgreSQL and SQLite
alike (both support `ON CONFLICT ... DO UPDATE ... WHERE` and `RETURNING`).

The ORM twins (`selectors.first_images`, `Product.objects` with `product_visible_q`, the
`Cart.objects` managers) stay the reference: tests check that these statements select the same
rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from emporium.cart.models import Cart, CartLine
from emporium.catalog.models import Product, ProductImage
from emporium.core.context import require_current_tenant_id
from emporium.core.sql import RowConverter, database, db_uuid
from emporium.inventory.models import Stock

_P, _S, _I = Product._meta.db_table, Stock._meta.db_table, ProductImage._meta.db_table
_C, _L = Cart._meta.db_table, CartLine._meta.db_table

_PRODUCT_COLUMNS = ("id", "slug", "name", "sku", "price", "currency")
_IMAGE_FIELDS = tuple(ProductImage._meta.concrete_fields)
_IMAGE_NAMES = [field.attname for field in _IMAGE_FIELDS]
# The model field of each column the statements below return, for the ORM's converters.
_PRODUCT_ROW = RowConverter(
    [
        *(Product._meta.get_field(name) for name in _PRODUCT_COLUMNS),
        Stock._meta.get_field("quantity"),  # available units: a plain integer
        *_IMAGE_FIELDS,
    ]
)
_CART_ROW = RowConverter(Cart._meta.get_field(name) for name in ("id", "currency", "token"))
_LINE_ROW = RowConverter(CartLine._meta.get_field(name) for name in ("id", "quantity"))
_READY = ProductImage.Status.READY.value
_ACTIVE = Cart.Status.ACTIVE.value
# The product when customers may buy it now (alive, active, inside its publication window),
# its available units and its first ready image (the order of `selectors.first_images`).
# Fixed values are part of the text: every bound parameter costs a conversion per request.
_PRODUCT_SQL = (
    f"SELECT {', '.join(f'p.{name}' for name in _PRODUCT_COLUMNS)},"  # noqa: S608  # nosec B608
    f" COALESCE(s.quantity - s.reserved, 0),"
    f" {', '.join(f'i.{field.column}' for field in _IMAGE_FIELDS)}"
    f" FROM {_P} p LEFT JOIN {_S} s ON s.product_id = p.id"
    f" LEFT JOIN {_I} i ON i.id = (SELECT i2.id FROM {_I} i2"
    f" WHERE i2.product_id = p.id AND i2.tenant_id = p.tenant_id AND i2.status = '{_READY}'"
    " ORDER BY i2.position, i2.created_at, i2.id LIMIT 1)"
    " WHERE p.id = %s AND p.tenant_id = %s AND p.deleted_at IS NULL AND p.is_active = TRUE"
    " AND (p.publish_at IS NULL OR p.publish_at <= %s)"
    " AND (p.unpublish_at IS NULL OR p.unpublish_at > %s)"
)
# The caller's active cart, locked by the UPDATE (as `select_for_update` would) and touched.
_CART_TOUCH = (
    f"UPDATE {_C} SET last_activity_at = %s, updated_at = %s"  # noqa: S608  # nosec B608
    f" WHERE tenant_id = %s AND deleted_at IS NULL AND status = '{_ACTIVE}' AND "
)
_CART_TOUCH_BY_CUSTOMER_SQL = _CART_TOUCH + "customer_id = %s RETURNING id, currency, token"
_CART_TOUCH_BY_TOKEN_SQL = (
    _CART_TOUCH + "token = %s AND customer_id IS NULL RETURNING id, currency, token"
)
# A new line, or more units on the cart's line of the product. A new line is only written
# while the cart has fewer than the maximum of lines; an existing one only while its new
# quantity stays within the limit. No row comes back when either check fails. Run with the
# cart row locked: its lines cannot change meanwhile, and this statement's snapshot (taken
# after the lock) sees every committed line. (`v` names each value once.)
_LINE_UPSERT_SQL = (
    f"INSERT INTO {_L} (id, tenant_id, cart_id, product_id, quantity, created_at, updated_at)"  # noqa: S608  # nosec B608
    " SELECT v.id, v.tenant_id, v.cart_id, v.product_id, v.quantity, v.moment, v.moment"
    " FROM (SELECT %s AS id, %s AS tenant_id, %s AS cart_id, %s AS product_id,"
    " %s AS quantity, %s AS moment) v"
    f" WHERE EXISTS (SELECT 1 FROM {_L} l WHERE l.cart_id = v.cart_id"
    " AND l.product_id = v.product_id)"
    f" OR (SELECT COUNT(*) FROM {_L} l WHERE l.cart_id = v.cart_id) < %s"
    " ON CONFLICT (cart_id, product_id) DO UPDATE"
    f" SET quantity = {_L}.quantity + excluded.quantity, updated_at = excluded.updated_at"
    f" WHERE {_L}.quantity + excluded.quantity <= %s"
    " RETURNING id, quantity"
)
_LINE_STATE_SQL = (
    f"SELECT (SELECT COUNT(*) FROM {_L} WHERE cart_id = %s),"  # noqa: S608  # nosec B608
    f" (SELECT quantity FROM {_L} WHERE cart_id = %s AND product_id = %s)"
)


@dataclass(frozen=True)
class SellableProduct:
    """What an add needs of a product customers may buy now."""

    id: UUID
    slug: str
    name: str
    sku: str
    price: Decimal
    currency: str
    available: int
    image: ProductImage | None


@dataclass(frozen=True)
class LockedCart:
    """The caller's active cart, locked until the transaction ends."""

    id: UUID
    currency: str
    token: str | None  # anonymous carts only


@dataclass(frozen=True)
class LineState:
    """How many lines a cart holds and the quantity of its line of one product (None: none)."""

    line_count: int
    quantity: int | None


def sellable_product(product_id: UUID, *, now: datetime) -> SellableProduct | None:
    """The product if customers of the current shop may buy it at `now`, with its available
    units (quantity - reserved, 0 without a stock row) and its first ready image: one query."""
    db = database()
    moment = db.ops.adapt_datetimefield_value(now)
    params = [db_uuid(product_id, db), db_uuid(require_current_tenant_id(), db), moment, moment]
    with db.cursor() as cursor:
        cursor.execute(_PRODUCT_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = _PRODUCT_ROW.convert(row, db)
    image_values = values[7:]
    image = None
    if image_values[0] is not None:
        image = ProductImage.from_db(db.alias, _IMAGE_NAMES, image_values)
    return SellableProduct(
        id=values[0],
        slug=values[1],
        name=values[2],
        sku=values[3],
        price=values[4],
        currency=values[5],
        available=max(0, int(values[6])),
        image=image,
    )


def cart_lock_and_touch(*, customer_id: Any, token: str | None, now: datetime) -> LockedCart | None:
    """Lock the caller's active cart of the current shop (the customer's, else the anonymous
    cart of `token`) and move its `last_activity_at` to `now`: one query, none without a
    customer and a plausible token. Call inside a transaction (a rollback undoes the touch)."""
    if customer_id is None and (not token or len(token) > 64):
        return None
    db = database()
    moment = db.ops.adapt_datetimefield_value(now)
    params: list[Any] = [moment, moment, db_uuid(require_current_tenant_id(), db)]
    if customer_id is not None:
        sql = _CART_TOUCH_BY_CUSTOMER_SQL
        params.append(db_uuid(customer_id, db))
    else:
        sql = _CART_TOUCH_BY_TOKEN_SQL
        params.append(token)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    cart_id, currency, cart_token = _CART_ROW.convert(row, db)
    return LockedCart(
        id=cart_id, currency=currency, token=cart_token if customer_id is None else None
    )


def line_upsert(
    *,
    cart_id: UUID,
    product_id: UUID,
    new_line_id: UUID,
    quantity: int,
    max_lines: int,
    max_quantity: int,
    now: datetime,
) -> tuple[UUID, int] | None:
    """Add `quantity` units of the product to the cart's line, or make a new line (with id
    `new_line_id`) when the cart has fewer than `max_lines`; the line's new quantity must stay
    at most `max_quantity`. (line id, new quantity), or None when a check failed: one query.
    The cart must be locked (`cart_lock_and_touch`)."""
    db = database()
    moment = db.ops.adapt_datetimefield_value(now)
    cart, product = db_uuid(cart_id, db), db_uuid(product_id, db)
    tenant = db_uuid(require_current_tenant_id(), db)
    params = [
        *(db_uuid(new_line_id, db), tenant, cart, product, quantity, moment),
        *(max_lines, max_quantity),
    ]
    with db.cursor() as cursor:
        cursor.execute(_LINE_UPSERT_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    line_id, new_quantity = _LINE_ROW.convert(row, db)
    return line_id, int(new_quantity)


def line_state(*, cart_id: UUID, product_id: UUID) -> LineState:
    """The cart's number of lines and its quantity of the product: one query."""
    db = database()
    cart = db_uuid(cart_id, db)
    with db.cursor() as cursor:
        cursor.execute(_LINE_STATE_SQL, [cart, cart, db_uuid(product_id, db)])
        line_count, quantity = cursor.fetchone()
    return LineState(
        line_count=int(line_count), quantity=int(quantity) if quantity is not None else None
    )
