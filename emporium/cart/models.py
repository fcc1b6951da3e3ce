"""Carts: one active cart per customer, anonymous carts reached by their token.

A cart holds product references and quantities only: prices are read from the catalog each time
a cart is shown or quoted, and no stock is reserved until checkout creates an order.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from emporium.core.models import TenantOwnedModel, TenantSoftDeleteModel

DEFAULT_CURRENCY = "EUR"


def new_cart_token() -> str:
    """A random, unguessable cart token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


class Cart(TenantSoftDeleteModel):
    """A customer's or an anonymous visitor's cart."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CONVERTED = "converted", "Converted into an order"
        MERGED = "merged", "Merged into a customer's cart"
        ABANDONED = "abandoned", "Abandoned"

    customer = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="carts"
    )
    # Every cart has one; only an anonymous cart (no customer) can be reached with it.
    token = models.CharField(max_length=64, unique=True, default=new_cart_token, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    currency = models.CharField(max_length=3, default=DEFAULT_CURRENCY)
    last_activity_at = models.DateTimeField(default=timezone.now)
    converted_order_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "customer"],
                condition=Q(status="active", customer__isnull=False, deleted_at__isnull=True),
                name="cart_one_active_per_customer",
            ),
        ]
        indexes = [
            # The purge walks alive carts by last activity.
            models.Index(
                fields=["last_activity_at"],
                condition=Q(deleted_at__isnull=True),
                name="cart_alive_activity",
            ),
        ]

    def __str__(self) -> str:
        return f"cart {self.pk} ({self.status})"

    @property
    def is_anonymous(self) -> bool:
        return self.customer_id is None


class CartLine(TenantOwnedModel):
    """`quantity` units of one product in a cart; no price is stored."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="cart_line_product"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_line_quantity_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class CartDiscount(TenantOwnedModel):
    """A discount code entered on a cart, stored normalised (`pricing.quotes.normalize_code`)."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="discounts")
    code = models.CharField(max_length=64)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "code"], name="cart_discount_code"),
        ]

    def __str__(self) -> str:
        return self.code
