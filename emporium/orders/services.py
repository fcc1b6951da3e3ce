"""Order writes: checkout and the status machine.

Every transition locks the order row (`select_for_update`), re-reads its status, checks the move
against ALLOWED_TRANSITIONS and only then touches inventory, discounts and payments, so a release,
commit or restock happens exactly once however many requests, webhooks and tasks race for the
same order. Each transition writes an OrderStatusChange and an outbox event in the same
transaction. Orders never move backwards: an event that arrives too late (a payment failure
after the payment succeeded) is ignored.

    pending_payment -> paid | payment_failed | cancelled | expired
    paid            -> cancelled | shipped
    payment_failed, cancelled, expired, shipped: final (shipped -> fulfilled comes later)
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from emporium.accounts.models import User
from emporium.cart.models import Cart
from emporium.cart.selectors import cart_codes, cart_lines_for_checkout, line_view, quote_lines
from emporium.cart.services import cart_mark_converted
from emporium.core.context import tenant_context
from emporium.core.ids import uuid7
from emporium.core.logging import get_logger
from emporium.core.outbox import outbox_event_add
from emporium.inventory.services import (
    StockLine,
    stock_commit,
    stock_release,
    stock_reserve,
    stock_restock,
)
from emporium.orders.errors import (
    CartEmpty,
    CartNotActive,
    CheckoutDiscountRejected,
    OrderAlreadyCancelled,
    OrderAlreadyShipped,
    OrderNotCancellable,
    OrderNotFound,
    OrderNotPaid,
    ProductUnavailable,
)
from emporium.orders.models import (
    Order,
    OrderDiscount,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
    StockState,
)
from emporium.pricing.errors import REASON_MESSAGES
from emporium.pricing.quotes import (
    Quote,
    discount_usage_claim,
    discount_usage_release,
    pricing_quote,
)

log = get_logger(__name__)

S = OrderStatus

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.PAYMENT_FAILED, S.CANCELLED, S.EXPIRED}),
    S.PAID: frozenset({S.CANCELLED, S.SHIPPED}),
    S.PAYMENT_FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
    S.SHIPPED: frozenset(),
}

# (from, to) stock moves and the inventory service that makes each.
_STOCK_MOVES = {
    (StockState.RESERVED, StockState.COMMITTED): stock_commit,
    (StockState.RESERVED, StockState.RELEASED): stock_release,
    (StockState.COMMITTED, StockState.RESTOCKED): stock_restock,
}

# Crockford's base32 without look-alikes (no I, L, O, U): readable over the phone.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NUMBER_RANDOM_CHARS = 6
EXPIRY_BATCH_SIZE = 200
_NUMBER_ATTEMPTS = 3


def order_number_generate(*, now: datetime | None = None) -> str:
    """`YYMMDD-XXXXXX`: the day plus 6 random characters (a billion per shop and day).

    Random rather than a counter so concurrent checkouts never queue on one row; the unique
    constraint (tenant, number) catches the rare collision and the insert is retried.
    """
    day = (now or timezone.now()).strftime("%y%m%d")
    suffix = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(_NUMBER_RANDOM_CHARS))
    return f"{day}-{suffix}"


# --- checkout ---------------------------------------------------------------------------------


def order_create_from_cart(
    *,
    cart: Cart,
    customer: User,
    shipping_country: str,
    shipping_address: dict[str, Any],
    email: str | None = None,
) -> Order:
    """Turn the customer's cart into an order awaiting payment, in one transaction.

    Locks the cart (a double submit cannot convert it twice), prices the lines at CURRENT prices,
    fails on a discount code that no longer applies (rather than charging more than the customer
    was shown), snapshots lines and discounts, marks the cart converted, then reserves stock
    (409 insufficient_stock) and claims discount uses (409 discount_exhausted); a refusal rolls
    everything back. After
    commit the PaymentIntent is created and the confirmation email queued. The number of queries
    does not depend on the number of lines.
    """
    with transaction.atomic():
        locked = Cart.objects.select_for_update().filter(pk=cart.pk).first()
        if locked is None or locked.customer_id != customer.pk:
            raise CartEmpty()
        if locked.status != Cart.Status.ACTIVE:
            raise CartNotActive()
        lines = cart_lines_for_checkout(cart=locked)
        if not lines:
            raise CartEmpty()
        views = [line_view(line, currency=locked.currency) for line in lines]
        if not all(view.purchasable for view in views):
            raise ProductUnavailable()
        quote = pricing_quote(
            currency=locked.currency,
            lines=quote_lines(views),
            codes=cart_codes(cart=locked),
            customer_id=customer.pk,
            shipping_country=shipping_country,
        )
        if quote.rejected:
            reason = quote.rejected[0].reason
            raise CheckoutDiscountRejected(
                str(REASON_MESSAGES.get(reason, CheckoutDiscountRejected.title)), code=reason
            )
        order_id = uuid7()
        order = Order(
            id=order_id,
            customer=customer,
            email=email or customer.email,
            currency=quote.currency,
            subtotal=quote.subtotal,
            discount_total=quote.discount_total,
            shipping_total=quote.shipping_total,
            tax_total=quote.tax_total,
            total=quote.total,
            shipping_country=shipping_country.upper(),
            shipping_address=shipping_address,
        )
        _insert_with_number(order)
        _snapshot(order, views, quote)
        order_history_add(order=order, from_status="", actor=customer, reason="checkout")
        cart_mark_converted(cart=locked, order_id=order_id)
        # The contended locks last, so they are held only until the commit: stock rows (shared
        # by every checkout of a product), then discount rows (shared by every use of a code).
        # Any refusal rolls the rows above back with them.
        stock_reserve(
            lines=[StockLine(product_id=ln.product_id, quantity=ln.quantity) for ln in lines],
            order_id=order_id,
        )
        discount_usage_claim(applied=quote.applied, customer_id=customer.pk, order_id=order_id)
        transaction.on_commit(lambda: order_after_checkout(order_id=order_id))
    return order


def _insert_with_number(order: Order) -> None:
    for attempt in range(_NUMBER_ATTEMPTS):
        order.number = order_number_generate()
        try:
            with transaction.atomic():
                order.save(force_insert=True)
        except IntegrityError:
            if attempt == _NUMBER_ATTEMPTS - 1:
                raise
            log.warning("order_number_collision", attempt=attempt + 1)
        else:
            return


def _snapshot(order: Order, views: list[Any], quote: Quote) -> None:
    """Copy lines and applied discounts into the order (two INSERTs)."""
    tenant_id = order.tenant_id
    order_lines = []
    for view in views:
        line, product = view.line, view.line.product
        discount = quote.line_discounts.get(line.product_id, Decimal("0.00"))
        order_lines.append(
            OrderLine(
                tenant_id=tenant_id,
                order=order,
                product_id=line.product_id,
                sku=product.sku,
                name=product.name,
                unit_price=view.unit_price,
                quantity=line.quantity,
                discount_amount=discount,
                line_total=view.line_total - discount,
            )
        )
    OrderLine.objects.bulk_create(order_lines)
    if quote.applied:
        OrderDiscount.objects.bulk_create(
            [
                OrderDiscount(
                    tenant_id=tenant_id,
                    order=order,
                    discount_id=applied.discount_id,
                    code=applied.code,
                    kind=applied.kind,
                    amount=applied.amount,
                )
                for applied in quote.applied
            ]
        )


def order_after_checkout(*, order_id: UUID) -> None:
    """Run once the checkout committed: start the payment, queue the confirmation email.

    Failures are logged, never raised: the order exists and the customer must get its answer
    (the payment is retried by a task; the email is not worth failing the checkout for).
    """
    # Imported here: payments depends on orders, not the reverse.
    from emporium.orders.tasks import send_order_confirmation
    from emporium.payments.services import payment_start_for_order

    try:
        payment_start_for_order(order_id=order_id)
    except Exception:  # logged, not raised: the order is committed and must be answered
        log.exception("payment_start_failed", order_id=str(order_id))
    try:
        send_order_confirmation.delay(str(order_id))
    except Exception:  # broker down: the order stands without its email
        log.exception("order_confirmation_not_queued", order_id=str(order_id))


# --- transitions ------------------------------------------------------------------------------


def order_lock(*, order_id: UUID) -> Order:
    """The order row, locked until the end of the transaction (soft-deleted ones included)."""
    order: Order | None = Order.all_objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    return order


def _stock_lines(order: Order) -> list[StockLine]:
    # Lines whose product was deleted for good have no stock left to move.
    return [
        StockLine(product_id=product_id, quantity=quantity)
        for product_id, quantity in order.lines.filter(product_id__isnull=False).values_list(
            "product_id", "quantity"
        )
    ]


def _move_stock(order: Order, target: StockState) -> None:
    move = _STOCK_MOVES[(StockState(order.stock_state), target)]
    lines = _stock_lines(order)
    if lines:
        move(lines=lines, order_id=order.pk)
    order.stock_state = target


def _transition(order: Order, to_status: str, *, actor: User | None, reason: str) -> None:
    """Move `order` (locked by the caller) to `to_status`; write history and an outbox event."""
    from_status = order.status
    if to_status not in ALLOWED_TRANSITIONS[from_status]:
        raise ValueError(f"order {order.pk}: {from_status} -> {to_status} is not allowed")
    order.status = to_status
    order.save(update_fields=["status", "stock_state", "updated_at"])
    order_history_add(order=order, from_status=from_status, actor=actor, reason=reason)


def order_history_add(*, order: Order, from_status: str, actor: User | None, reason: str) -> None:
    """Record the order's current status in its history and announce it through the outbox."""
    OrderStatusChange.objects.create(
        order=order,
        from_status=from_status,
        to_status=order.status,
        actor=actor,
        reason=reason[:200],
    )
    outbox_event_add(name=f"order.{order.status}", payload=order_event_payload(order, from_status))


def order_event_payload(order: Order, from_status: str = "") -> dict[str, Any]:
    """What consumers of `order.*` events get (ids and amounts, no personal data)."""
    return {
        "order_id": str(order.pk),
        "number": order.number,
        "status": order.status,
        "from_status": from_status,
        "customer_id": str(order.customer_id) if order.customer_id else None,
        "currency": order.currency,
        "total": str(order.total),
    }


def order_mark_paid(*, order_id: UUID, reason: str = "payment succeeded") -> Order:
    """The payment succeeded: commit the reservation. A no-op unless the order awaits payment
    (the caller refunds a payment that arrives for an order that is no longer pending)."""
    with transaction.atomic():
        order = order_lock(order_id=order_id)
        if order.status != S.PENDING_PAYMENT:
            log.info("order_paid_ignored", order_id=str(order.pk), status=order.status)
            return order
        _move_stock(order, StockState.COMMITTED)
        _transition(order, S.PAID, actor=None, reason=reason)
    return order


def order_mark_payment_failed(*, order_id: UUID, reason: str = "payment failed") -> Order:
    """The payment failed or was cancelled: release stock and discount uses. Ignored unless the
    order awaits payment (a late failure never undoes a payment)."""
    with transaction.atomic():
        order = order_lock(order_id=order_id)
        if order.status != S.PENDING_PAYMENT:
            log.info("order_payment_failure_ignored", order_id=str(order.pk), status=order.status)
            return order
        _release(order)
        _transition(order, S.PAYMENT_FAILED, actor=None, reason=reason)
    return order


def _release(order: Order) -> None:
    _move_stock(order, StockState.RELEASED)
    discount_usage_release(order_id=order.pk)


def order_cancel(*, order: Order, actor: User, reason: str = "") -> Order:
    """Cancel on behalf of its customer or staff, before shipment.

    Unpaid: the reservation and discount uses are released. Paid: the units go back on hand and
    a refund of the payment is requested (sent to Stripe by a task after commit). Cancelling
    twice is a 409 `order_already_cancelled`, never a second restock.
    """
    with transaction.atomic():
        locked = order_lock(order_id=order.pk)
        if not actor.is_staff and locked.customer_id != actor.pk:
            raise OrderNotFound()
        if locked.status == S.CANCELLED:
            raise OrderAlreadyCancelled()
        if locked.status == S.SHIPPED:
            raise OrderAlreadyShipped()
        if locked.status == S.PENDING_PAYMENT:
            _release(locked)
        elif locked.status == S.PAID:
            _move_stock(locked, StockState.RESTOCKED)
            # Imported here: payments depends on orders, not the reverse.
            from emporium.payments.services import payment_refund_for_order

            payment_refund_for_order(order=locked, reason="order cancelled")
        else:
            raise OrderNotCancellable()
        default_reason = "cancelled by staff" if actor.is_staff else "cancelled by customer"
        _transition(locked, S.CANCELLED, actor=actor, reason=reason or default_reason)
    return locked


def order_mark_shipped(*, order: Order, actor: User) -> Order:
    """Staff: the paid order left the warehouse."""
    with transaction.atomic():
        locked = order_lock(order_id=order.pk)
        if locked.status == S.SHIPPED:
            raise OrderAlreadyShipped()
        if locked.status == S.CANCELLED:
            raise OrderAlreadyCancelled()
        if locked.status != S.PAID:
            raise OrderNotPaid()
        _transition(locked, S.SHIPPED, actor=actor, reason="shipped")
    return locked


def order_expire(*, order_id: UUID, now: datetime | None = None) -> bool:
    """Expire one order of the current tenant if it still awaits payment past the timeout."""
    cutoff = (now or timezone.now()) - settings.ORDER_PAYMENT_TIMEOUT
    with transaction.atomic():
        order = order_lock(order_id=order_id)
        if order.status != S.PENDING_PAYMENT or order.created_at > cutoff:
            return False
        _release(order)
        _transition(order, S.EXPIRED, actor=None, reason="payment timeout")
    return True


def order_expire_pending(*, now: datetime | None = None, limit: int = EXPIRY_BATCH_SIZE) -> int:
    """Expire orders of every shop left unpaid longer than ORDER_PAYMENT_TIMEOUT; returns how
    many. Each order in its own transaction; safe to run concurrently and twice."""
    now = now or timezone.now()
    candidates = list(
        Order.unscoped.filter(
            status=S.PENDING_PAYMENT, created_at__lte=now - settings.ORDER_PAYMENT_TIMEOUT
        )
        .order_by("created_at")
        .values_list("tenant_id", "id")[:limit]
    )
    expired = 0
    for tenant_id, order_id in candidates:
        with tenant_context(tenant_id):
            if order_expire(order_id=order_id, now=now):
                expired += 1
    return expired


def order_soft_delete(*, order: Order) -> None:
    """Staff: hide the order (restorable)."""
    order.delete()


def order_restore(*, order: Order) -> Order:
    """Staff: bring a soft-deleted order back."""
    order.restore()
    return order
