"""Stock writes: reserve, release, commit, restock and staff adjustments.

Every function locks the Stock rows it changes with `select_for_update()` in primary-key order
(so two writers never deadlock), re-checks the invariant under the lock, updates with F()
expressions in one UPDATE, writes one movement row per product and announces the change to the
catalog (product pages embed stock) after commit.

`stock_reserve`, `stock_release`, `stock_commit` and `stock_restock` run inside the caller's
`transaction.atomic()` (an order's transition); exactly-once is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from emporium.catalog import events
from emporium.catalog.models import Product
from emporium.core.context import require_current_tenant_id
from emporium.core.errors import ApplicationError
from emporium.inventory.models import InventoryMovement, Stock

Reason = InventoryMovement.Reason


@dataclass(frozen=True)
class StockLine:
    """`quantity` (> 0) units of one product."""

    product_id: UUID
    quantity: int


class InsufficientStock(ApplicationError):
    """Some lines ask for more than is available; `shortages` lists every one of them."""

    status = 409
    code = "insufficient_stock"
    title = _("Not enough stock.")

    def __init__(self, shortages: list[dict[str, Any]], detail: str | None = None) -> None:
        super().__init__(detail)
        self.shortages = shortages


class StockStateError(ApplicationError):
    """A release, commit or adjustment would leave stock inconsistent (more released than
    reserved, less on hand than reserved)."""

    status = 409
    code = "stock_conflict"
    title = _("The stock changed: this change would make it inconsistent.")


def stock_reserve(*, lines: Sequence[StockLine], order_id: UUID | None) -> None:
    """Hold units for an order: reserved += quantity, all lines or none.

    Raises InsufficientStock listing every short line (nothing is written then). A product
    without a Stock row has nothing available.
    """
    wanted = _merge(lines)
    stocks = _lock(wanted)
    shortages = [
        (product_id, quantity, _available(stocks.get(product_id)))
        for product_id, quantity in wanted.items()
        if quantity > _available(stocks.get(product_id))
    ]
    if shortages:
        skus = dict(
            Product.all_objects.filter(id__in=[row[0] for row in shortages]).values_list(
                "id", "sku"
            )
        )
        raise InsufficientStock(
            [
                {
                    "product_id": str(product_id),
                    "sku": skus.get(product_id, ""),
                    "requested": requested,
                    "available": available,
                }
                for product_id, requested, available in shortages
            ]
        )
    _apply(stocks, wanted, reason=Reason.RESERVE, order_id=order_id, on_hand=0, held=1)


def stock_release(*, lines: Sequence[StockLine], order_id: UUID | None) -> None:
    """Give reserved units back (order cancelled before payment, payment failed, expired)."""
    wanted = _merge(lines)
    stocks = _lock(wanted)
    _require_reserved(stocks, wanted)
    _apply(stocks, wanted, reason=Reason.RELEASE, order_id=order_id, on_hand=0, held=-1)


def stock_commit(*, lines: Sequence[StockLine], order_id: UUID | None) -> None:
    """Turn reserved units into sold ones (payment succeeded): quantity and reserved drop."""
    wanted = _merge(lines)
    stocks = _lock(wanted)
    _require_reserved(stocks, wanted)
    _apply(stocks, wanted, reason=Reason.COMMIT, order_id=order_id, on_hand=-1, held=-1)


def stock_restock(*, lines: Sequence[StockLine], order_id: UUID | None) -> None:
    """Put sold units back on hand (order cancelled after payment): quantity += quantity."""
    wanted = _merge(lines)
    stocks = _lock(wanted)
    missing = [product_id for product_id in wanted if product_id not in stocks]
    if missing:
        tenant_id = require_current_tenant_id()
        Stock.objects.bulk_create(
            [Stock(tenant_id=tenant_id, product_id=product_id) for product_id in missing],
            ignore_conflicts=True,
        )
        stocks = _lock(wanted)
    _apply(stocks, wanted, reason=Reason.RESTOCK, order_id=order_id, on_hand=1, held=0)


def stock_adjust(*, product_id: UUID, delta: int, reason: str = Reason.ADJUST) -> Stock:
    """Staff correction of the quantity on hand by `delta` (a count, a delivery, breakage).

    The quantity may not drop below what is reserved (StockStateError).
    """
    if reason not in (Reason.ADJUST, Reason.RESTOCK):
        raise ValueError(f"stock_adjust reason must be adjust or restock, not {reason!r}")
    if delta == 0:
        raise ValueError("stock_adjust needs a non-zero delta")
    with transaction.atomic():
        stocks = _lock({product_id: 1})
        stock = stocks.get(product_id)
        if stock is None:
            stock = Stock(product_id=product_id)
            stock.save(force_insert=True)
        if stock.quantity + delta < stock.reserved:
            raise StockStateError(
                _("The quantity on hand cannot drop below the %(reserved)d units reserved.")
                % {"reserved": stock.reserved}
            )
        _apply({product_id: stock}, {product_id: delta}, reason=reason, order_id=None, on_hand=1)
        stock.refresh_from_db()
    return stock


def stock_set_many(*, quantities: Mapping[UUID, int]) -> None:
    """Set the quantity on hand of products (staff edits, batch updates, CSV imports).

    Runs inside the caller's transaction. Rows are created for products without one; a
    quantity below what unpaid orders hold is refused (StockStateError) and nothing is
    written; every row that changes gets an `adjust` movement with its delta.
    """
    if any(quantity < 0 for quantity in quantities.values()):
        raise ValueError("stock quantities cannot be negative")
    stocks = _lock(quantities)
    missing = [product_id for product_id in quantities if product_id not in stocks]
    if missing:
        tenant_id = require_current_tenant_id()
        Stock.objects.bulk_create(
            [Stock(tenant_id=tenant_id, product_id=product_id) for product_id in missing],
            ignore_conflicts=True,
        )
        stocks = _lock(quantities)
    below = [pid for pid, quantity in quantities.items() if quantity < stocks[pid].reserved]
    if below:
        raise StockStateError(
            _("The quantity on hand cannot drop below the %(reserved)d units reserved.")
            % {"reserved": stocks[below[0]].reserved}
        )
    deltas = {
        product_id: quantity - stocks[product_id].quantity
        for product_id, quantity in quantities.items()
        if quantity != stocks[product_id].quantity
    }
    if deltas:
        _apply(stocks, deltas, reason=Reason.ADJUST, order_id=None, on_hand=1)


# --- helpers ----------------------------------------------------------------------------------


def _merge(lines: Iterable[StockLine]) -> dict[UUID, int]:
    """Quantities per product (a product may appear on several lines)."""
    merged: dict[UUID, int] = {}
    for line in lines:
        if line.quantity <= 0:
            raise ValueError(f"stock line quantity must be positive, got {line.quantity}")
        merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
    return merged


def _lock(wanted: Mapping[UUID, int]) -> dict[UUID, Stock]:
    """The Stock rows of these products, locked in primary-key order."""
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError("stock services must run inside transaction.atomic()")
    rows = Stock.objects.select_for_update().filter(product_id__in=list(wanted)).order_by("pk")
    return {stock.product_id: stock for stock in rows}


def _available(stock: Stock | None) -> int:
    return 0 if stock is None else stock.available


def _require_reserved(stocks: Mapping[UUID, Stock], wanted: Mapping[UUID, int]) -> None:
    for product_id, quantity in wanted.items():
        stock = stocks.get(product_id)
        if stock is None or stock.reserved < quantity:
            raise StockStateError()


def _apply(
    stocks: Mapping[UUID, Stock],
    wanted: Mapping[UUID, int],
    *,
    reason: str,
    order_id: UUID | None,
    on_hand: int = 0,
    held: int = 0,
) -> None:
    """One UPDATE for every row (quantity += on_hand * n, reserved += held * n), one INSERT of
    the movements, and the catalog notification."""
    by_pk = {stocks[product_id].pk: quantity for product_id, quantity in wanted.items()}
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    if on_hand:
        changes["quantity"] = F("quantity") + _per_row(by_pk, on_hand)
    if held:
        changes["reserved"] = F("reserved") + _per_row(by_pk, held)
    Stock.objects.filter(pk__in=list(by_pk)).update(**changes)
    tenant_id = require_current_tenant_id()
    InventoryMovement.objects.bulk_create(
        [
            InventoryMovement(
                tenant_id=tenant_id,
                product_id=product_id,
                order_id=order_id,
                reason=reason,
                quantity_delta=on_hand * quantity,
                reserved_delta=held * quantity,
            )
            for product_id, quantity in wanted.items()
        ]
    )
    events.products_changed(wanted.keys(), tenant_id=tenant_id)


def _per_row(by_pk: Mapping[UUID, int], sign: int) -> Case:
    return Case(
        *(When(pk=pk, then=Value(sign * quantity)) for pk, quantity in by_pk.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
