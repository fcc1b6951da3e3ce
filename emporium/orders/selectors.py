"""Order reads: a customer's own orders, staff lists with filters, one order for a caller."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from emporium.orders.models import Order, OrderDiscount, OrderLine


def _with_details(queryset: QuerySet[Any]) -> QuerySet[Any]:
    from emporium.payments.models import Payment  # payments depends on orders

    return queryset.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("created_at", "id")),
        Prefetch("discounts", queryset=OrderDiscount.objects.order_by("created_at", "id")),
        Prefetch("payments", queryset=Payment.objects.order_by("-created_at", "-id")),
    ).order_by("-created_at", "-id")


def order_list_for_customer(*, customer_id: UUID) -> QuerySet[Any]:
    """The customer's orders in the current shop, newest first (lines, discounts, payments
    prefetched: three more queries per page, whatever its size)."""
    return _with_details(Order.objects.filter(customer_id=customer_id))


def order_list_for_staff(
    *,
    status: str | None = None,
    customer_id: UUID | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Any]:
    """Every order of the current shop, newest first, filtered."""
    queryset = Order.objects.all()
    if status:
        queryset = queryset.filter(status=status)
    if customer_id:
        queryset = queryset.filter(customer_id=customer_id)
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return _with_details(queryset)


def order_get_for_caller(
    *, order_id: UUID, user: Any, include_deleted: bool = False
) -> Order | None:
    """The order if `user` may see it: its customer, or staff (who also see deleted orders when
    asked). None otherwise, so another customer's order is a 404, not a 403."""
    manager = Order.all_objects if include_deleted and user.is_staff else Order.objects
    queryset = manager.filter(pk=order_id)
    if not user.is_staff:
        queryset = queryset.filter(customer_id=user.pk)
    order: Order | None = _with_details(queryset).first()
    return order


def order_paid_product_ids_for_customer(*, customer_id: UUID, product_ids: list[UUID]) -> set[UUID]:
    """Which of `product_ids` the customer has bought in the current shop: a line on one of
    their orders that was paid (paid, or shipped since; also when staff later hid the order);
    one query."""
    from emporium.orders.models import OrderStatus

    if not product_ids:
        return set()
    rows = OrderLine.objects.filter(
        order__customer_id=customer_id,
        order__status__in=[OrderStatus.PAID, OrderStatus.SHIPPED],
        product_id__in=product_ids,
    ).values_list("product_id", flat=True)
    return {product_id for product_id in rows if product_id is not None}
