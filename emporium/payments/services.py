"""Payment writes: PaymentIntents for orders, refunds, and Stripe webhook events.

Lock order everywhere: the order row first, then its payment rows (the same order as
`order_cancel`), so a webhook and a cancellation racing for one order never deadlock.
A payment that succeeds for an order that no longer awaits payment (cancelled or expired
meanwhile) is refunded in full: the customer is never charged for an order that will not ship.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import stripe
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from emporium.core.context import tenant_context
from emporium.core.logging import get_logger
from emporium.core.tasks import TransientError
from emporium.orders.errors import OrderNotFound
from emporium.orders.models import Order, OrderStatus
from emporium.orders.services import order_lock, order_mark_paid, order_mark_payment_failed
from emporium.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeEvent,
)
from emporium.payments.stripe_client import (
    from_minor_units,
    stripe_client,
    stripe_configured,
    to_minor_units,
)
from emporium.tenants.models import Tenant

log = get_logger(__name__)

PROVIDER = "stripe"
# Stripe errors worth another try later (network, rate limit, their 5xx); others are final.
TRANSIENT_STRIPE_ERRORS: tuple[type[stripe.StripeError], ...] = (
    stripe.APIConnectionError,
    stripe.RateLimitError,
    stripe.APIError,
)


def payment_intent_idempotency_key(order: Order) -> str:
    """One PaymentIntent per order, however often creation is retried."""
    return f"order-{order.pk}-payment-intent"


def payment_for_order(*, order: Order) -> Payment | None:
    """The order's payment, if one was created."""
    payment: Payment | None = Payment.objects.filter(order=order).order_by("-created_at").first()
    return payment


def payment_intent_create(*, order: Order) -> Payment:
    """Create the order's PaymentIntent at Stripe (or find the one created before) and record it.

    Raises StripeNotConfigured without a secret key and stripe.StripeError when Stripe refuses
    or cannot be reached after the client's own retries.
    """
    existing = payment_for_order(order=order)
    if existing is not None:
        return existing
    intent = stripe_client().v1.payment_intents.create(
        params={
            "amount": to_minor_units(order.total, order.currency),
            "currency": order.currency.lower(),
            "automatic_payment_methods": {"enabled": True},
            "metadata": {
                "order_id": str(order.pk),
                "order_number": order.number,
                "tenant_id": str(order.tenant_id),
            },
        },
        options={"idempotency_key": payment_intent_idempotency_key(order)},
    )
    payment: Payment
    payment, _created = Payment.objects.get_or_create(
        intent_id=intent.id,
        defaults={
            "order": order,
            "provider": PROVIDER,
            "amount": order.total,
            "currency": order.currency,
            "client_secret": intent.client_secret or "",
        },
    )
    log.info("payment_intent_created", order_id=str(order.pk), intent_id=intent.id)
    return payment


def payment_start_for_order(*, order_id: UUID) -> Payment | None:
    """After checkout committed: create the PaymentIntent now so the response carries its client
    secret. When Stripe is not configured the order stays pending without a payment; when Stripe
    fails, the task `payments.create_intent` keeps trying and the order shows no payment yet.
    An order with nothing to pay is marked paid at once."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.PENDING_PAYMENT:
        return None
    if order.total <= 0:
        order_mark_paid(order_id=order.pk, reason="nothing to pay")
        return None
    if not stripe_configured():
        log.warning("payment_not_started_stripe_not_configured", order_id=str(order.pk))
        return None
    try:
        return payment_intent_create(order=order)
    except stripe.StripeError as error:
        log.warning(
            "payment_intent_create_failed", order_id=str(order.pk), error=type(error).__name__
        )
        from emporium.payments.tasks import create_payment_intent

        create_payment_intent.delay(str(order.pk))
        return None


def payment_intent_create_retry(*, order_id: UUID) -> None:
    """The task's body: create the intent unless the order no longer awaits payment."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.PENDING_PAYMENT or order.total <= 0:
        return
    try:
        payment_intent_create(order=order)
    except TRANSIENT_STRIPE_ERRORS as error:
        raise TransientError(type(error).__name__) from error


# --- refunds ----------------------------------------------------------------------------------


def payment_refund_for_order(*, order: Order, reason: str) -> list[Refund]:
    """Request a full refund of every succeeded payment of `order` (locked by the caller);
    the task `payments.send_refund` sends each to Stripe after commit."""
    payments = Payment.objects.select_for_update().filter(
        order=order, status=PaymentStatus.SUCCEEDED
    )
    return [r for p in payments if (r := _refund_request(p, reason=reason)) is not None]


def _refund_request(payment: Payment, *, reason: str) -> Refund | None:
    """A full refund of a locked, succeeded payment, unless one is already under way."""
    if payment.refunds.exclude(status=RefundStatus.FAILED).exists():
        return None
    refund: Refund = Refund.objects.create(
        payment=payment, amount=payment.amount, currency=payment.currency, reason=reason[:200]
    )
    refund_id = str(refund.pk)

    def send() -> None:
        from emporium.payments.tasks import send_refund

        send_refund.delay(refund_id)

    transaction.on_commit(send)
    log.info("refund_requested", payment_id=str(payment.pk), refund_id=refund_id)
    return refund


def refund_create(*, payment: Payment, amount: Decimal, refund_id: UUID) -> Any:
    """Ask Stripe to refund `amount` of `payment`; the idempotency key is our refund's id."""
    return stripe_client().v1.refunds.create(
        params={
            "payment_intent": payment.intent_id,
            "amount": to_minor_units(amount, payment.currency),
            "metadata": {"refund_id": str(refund_id), "tenant_id": str(payment.tenant_id)},
        },
        options={"idempotency_key": f"refund-{refund_id}"},
    )


_REFUND_STATUSES = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def refund_send(*, refund_id: UUID) -> Refund | None:
    """Send a requested refund to Stripe (the task's body; safe to run twice).

    Transient failures raise TransientError so the task retries with backoff; a refusal marks
    the refund failed with Stripe's error code for an operator.
    """
    refund: Refund | None = Refund.objects.select_related("payment").filter(pk=refund_id).first()
    if refund is None or refund.status != RefundStatus.REQUESTED:
        return refund
    try:
        result = refund_create(payment=refund.payment, amount=refund.amount, refund_id=refund.pk)
    except TRANSIENT_STRIPE_ERRORS as error:
        Refund.objects.filter(pk=refund.pk).update(
            last_error=type(error).__name__, updated_at=timezone.now()
        )
        raise TransientError(type(error).__name__) from error
    except stripe.StripeError as error:
        Refund.objects.filter(pk=refund.pk, status=RefundStatus.REQUESTED).update(
            status=RefundStatus.FAILED,
            last_error=(getattr(error, "code", None) or type(error).__name__)[:200],
            updated_at=timezone.now(),
        )
        log.error("refund_refused", refund_id=str(refund.pk), error=type(error).__name__)
        refund.refresh_from_db()
        return refund
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.REQUESTED).update(
        status=_REFUND_STATUSES.get(str(result.status), RefundStatus.PENDING),
        provider_refund_id=result.id,
        last_error="",
        updated_at=timezone.now(),
    )
    refund.refresh_from_db()
    log.info("refund_sent", refund_id=str(refund.pk), status=refund.status)
    return refund


# --- webhook events ---------------------------------------------------------------------------


def stripe_event_tenant_id(event: dict[str, Any]) -> UUID | None:
    """The shop an event belongs to: the `tenant_id` in the object's metadata, else the shop of
    the payment it refers to (charges do not carry the intent's metadata). None when unknown."""
    obj = event.get("data", {}).get("object", {}) or {}
    candidate = (obj.get("metadata") or {}).get("tenant_id")
    try:
        tenant_id = UUID(str(candidate)) if candidate else None
    except ValueError:
        tenant_id = None
    if tenant_id is None:
        intent_id = obj.get("payment_intent") if obj.get("object") == "charge" else obj.get("id")
        if intent_id:
            tenant_id = (
                Payment.unscoped.filter(intent_id=str(intent_id))
                .values_list("tenant_id", flat=True)
                .first()
            )
    if tenant_id is None or not Tenant.objects.filter(pk=tenant_id).exists():
        return None
    return tenant_id


def stripe_event_process(*, event: dict[str, Any]) -> str:
    """Handle a verified webhook event once; returns the outcome for the log.

    The event id is stored in the same transaction as the handling: a replay finds it and does
    nothing, a handling that fails rolls the id back so Stripe's retry runs it again.
    """
    event_id, event_type = str(event["id"]), str(event["type"])
    tenant_id = stripe_event_tenant_id(event)
    with tenant_context(tenant_id), transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    event_id=event_id, type=event_type, tenant_id=tenant_id
                )
        except IntegrityError:
            return "duplicate"
        handler = _EVENT_HANDLERS.get(event_type)
        if tenant_id is None:
            outcome = "unknown_tenant"
        elif handler is None:
            outcome = "unhandled"
        else:
            handler(event["data"]["object"])
            outcome = "processed"
        StripeEvent.objects.filter(pk=record.pk).update(processed_at=timezone.now())
    return outcome


def _locked_payment(intent_id: str, metadata: dict[str, Any]) -> tuple[Order, Payment] | None:
    """The order (locked first) and payment of an intent; the payment row is recreated from the
    intent's metadata if our insert was lost after Stripe created the intent."""
    payment = Payment.objects.filter(intent_id=intent_id).first()
    order_id = payment.order_id if payment is not None else metadata.get("order_id")
    if not order_id:
        return None
    try:
        order = order_lock(order_id=UUID(str(order_id)))
    except (ValueError, OrderNotFound) as error:  # not an order of this shop
        log.warning("stripe_event_order_not_found", intent_id=intent_id, error=type(error).__name__)
        return None
    payment = Payment.objects.select_for_update().filter(intent_id=intent_id).first()
    if payment is None:
        payment = Payment.objects.create(
            order=order,
            provider=PROVIDER,
            intent_id=intent_id,
            amount=order.total,
            currency=order.currency,
        )
    return order, payment


def _on_intent_succeeded(intent: dict[str, Any]) -> None:
    found = _locked_payment(str(intent["id"]), intent.get("metadata") or {})
    if found is None:
        return
    order, payment = found
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        return
    payment.status = PaymentStatus.SUCCEEDED
    payment.client_secret = ""
    payment.save(update_fields=["status", "client_secret", "updated_at"])
    order = order_mark_paid(order_id=order.pk, reason="payment_intent.succeeded")
    if order.status not in (OrderStatus.PAID, OrderStatus.SHIPPED):
        # Paid after the order was cancelled or expired: give the money back.
        _refund_request(payment, reason=f"paid after order was {order.status}")


def _on_intent_failed(intent: dict[str, Any]) -> None:
    found = _locked_payment(str(intent["id"]), intent.get("metadata") or {})
    if found is None:
        return
    order, payment = found
    if payment.status != PaymentStatus.PENDING:
        return  # settled already: a late failure changes nothing
    payment.status = (
        PaymentStatus.CANCELED if intent.get("status") == "canceled" else PaymentStatus.FAILED
    )
    payment.client_secret = ""
    payment.save(update_fields=["status", "client_secret", "updated_at"])
    order_mark_payment_failed(order_id=order.pk, reason=f"payment {payment.status}")


def _on_charge_refunded(charge: dict[str, Any]) -> None:
    intent_id = charge.get("payment_intent")
    if not intent_id:
        return
    found = _locked_payment(str(intent_id), charge.get("metadata") or {})
    if found is None:
        return
    _order, payment = found
    refunded = from_minor_units(int(charge.get("amount_refunded") or 0), payment.currency)
    payment.refunds.filter(status__in=[RefundStatus.REQUESTED, RefundStatus.PENDING]).update(
        status=RefundStatus.SUCCEEDED, updated_at=timezone.now()
    )
    recorded = payment.refunds.filter(status=RefundStatus.SUCCEEDED).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0")
    if refunded > recorded:  # refunded outside Emporium (the Stripe dashboard)
        Refund.objects.create(
            payment=payment,
            amount=refunded - recorded,
            currency=payment.currency,
            status=RefundStatus.SUCCEEDED,
            reason="refunded at Stripe",
        )
    if refunded >= payment.amount:
        payment.status = PaymentStatus.REFUNDED
        payment.save(update_fields=["status", "updated_at"])


_EVENT_HANDLERS = {
    "payment_intent.succeeded": _on_intent_succeeded,
    "payment_intent.payment_failed": _on_intent_failed,
    "payment_intent.canceled": _on_intent_failed,
    "charge.refunded": _on_charge_refunded,
}
HANDLED_EVENT_TYPES = frozenset(_EVENT_HANDLERS)
