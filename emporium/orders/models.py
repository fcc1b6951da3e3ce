"""Orders: what a customer bought, at which prices, and every status it went through."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from emporium.core.models import TenantOwnedModel, TenantSoftDeleteModel, unique_among_alive

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2}
ZERO = Decimal("0.00")


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    PAID = "paid", "Paid"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    SHIPPED = "shipped", "Shipped"


class StockState(models.TextChoices):
    """What the order holds of the inventory; each move happens once, under the order's lock."""

    RESERVED = "reserved", "Reserved"
    COMMITTED = "committed", "Committed"
    RELEASED = "released", "Released"
    RESTOCKED = "restocked", "Restocked"


class Order(TenantSoftDeleteModel):
    """One checkout of a cart: prices and discounts are snapshots taken at that moment."""

    number = models.CharField(max_length=32, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    email = models.EmailField(max_length=254)
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    stock_state = models.CharField(
        max_length=12, choices=StockState.choices, default=StockState.RESERVED
    )
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(**MONEY, default=ZERO)
    discount_total = models.DecimalField(**MONEY, default=ZERO)
    shipping_total = models.DecimalField(**MONEY, default=ZERO)
    tax_total = models.DecimalField(**MONEY, default=ZERO)
    total = models.DecimalField(**MONEY, default=ZERO)
    shipping_country = models.CharField(max_length=2)
    shipping_address = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            unique_among_alive("tenant", "number", name="orders_order_number_per_tenant"),
            models.CheckConstraint(condition=Q(total__gte=0), name="orders_order_total_gte_0"),
        ]
        indexes = [
            models.Index(fields=["tenant", "customer", "-created_at"], name="orders_o_customer"),
            models.Index(fields=["tenant", "-created_at"], name="orders_o_created"),
            # The expiry task's scan over every shop.
            models.Index(
                fields=["created_at"],
                condition=Q(status="pending_payment"),
                name="orders_o_pending",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderLine(TenantOwnedModel):
    """A product as bought: sku, name and price are copied so later catalog edits do not
    change the order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        "catalog.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    unit_price = models.DecimalField(**MONEY)
    quantity = models.PositiveIntegerField()
    discount_amount = models.DecimalField(**MONEY, default=ZERO)
    line_total = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class OrderDiscount(TenantOwnedModel):
    """A discount applied to the order (a snapshot: the rule may change or go later)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="discounts")
    # No foreign key: pricing may delete a rule, the order keeps what was applied.
    discount_id = models.UUIDField()
    code = models.CharField(max_length=64)
    kind = models.CharField(max_length=20)
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.code


class OrderStatusChange(TenantOwnedModel):
    """One transition of an order's status, with who made it and why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"
