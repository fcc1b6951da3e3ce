"""Order tasks run by the worker: confirmation emails and the expiry of unpaid orders."""

from __future__ import annotations

from celery import shared_task

from emporium.core.logging import get_logger

# Registers `core.relay_outbox` with the worker (Celery autodiscovers `tasks` modules only).
from emporium.core.outbox import relay_outbox  # noqa: F401
from emporium.orders.emails import order_confirmation_send
from emporium.orders.models import Order
from emporium.orders.services import order_expire_pending

log = get_logger(__name__)


@shared_task(name="orders.send_confirmation")
def send_order_confirmation(order_id: str) -> None:
    """Email the confirmation of a new order (runs with the order's shop in context)."""
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        return
    order_confirmation_send(order=order)
    log.info("order_confirmation_sent", order_id=order_id)


@shared_task(name="orders.expire_pending")
def expire_pending_orders() -> int:
    """Every minute: expire orders of every shop unpaid after ORDER_PAYMENT_TIMEOUT."""
    expired = order_expire_pending()
    if expired:
        log.info("orders_expired", count=expired)
    return expired
