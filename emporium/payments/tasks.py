"""Payment tasks: Stripe calls that must eventually happen, retried with backoff (BaseTask)."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

from emporium.payments.services import payment_intent_create_retry, refund_send


@shared_task(name="payments.create_intent")
def create_payment_intent(order_id: str) -> None:
    """Create the PaymentIntent of an order whose creation failed during checkout."""
    payment_intent_create_retry(order_id=UUID(order_id))


@shared_task(name="payments.send_refund")
def send_refund(refund_id: str) -> None:
    """Send a requested refund to Stripe (idempotent: the refund id is the idempotency key)."""
    refund_send(refund_id=UUID(refund_id))
