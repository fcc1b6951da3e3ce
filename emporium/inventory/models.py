"""Stock per product (on hand and reserved) and the movement rows that audit every change."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from emporium.core.models import TenantOwnedModel


class Stock(TenantOwnedModel):
    """Units of one product: `quantity` on hand, `reserved` of them held by unpaid orders.

    Available to sell = quantity - reserved. Only `emporium.inventory.services` changes
    `reserved`, under a row lock.
    """

    product = models.OneToOneField(
        "catalog.Product", on_delete=models.CASCADE, related_name="stock"
    )
    quantity = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="inventory_stock_gte_0"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="inventory_stock_reserved_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("quantity")),
                name="inventory_stock_reserved_lte_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} ({self.reserved} reserved)"

    @property
    def available(self) -> int:
        """Units that can still be sold."""
        return max(0, self.quantity - self.reserved)


class InventoryMovement(TenantOwnedModel):
    """One change of one product's stock: why, for which order, and by how much.

    The sum of `quantity_delta` (or `reserved_delta`) over a product's movements since a known
    state is the change of its stock row since then.
    """

    class Reason(models.TextChoices):
        RESERVE = "reserve", "Reserve"
        RELEASE = "release", "Release"
        COMMIT = "commit", "Commit"
        RESTOCK = "restock", "Restock"
        ADJUST = "adjust", "Adjust"

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="inventory_movements"
    )
    # No foreign key: orders depend on inventory, not the reverse.
    order_id = models.UUIDField(null=True, blank=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    quantity_delta = models.IntegerField(default=0)
    reserved_delta = models.IntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["tenant", "product", "created_at"], name="inventory_mv_product"),
            models.Index(
                fields=["order_id"], condition=Q(order_id__isnull=False), name="inventory_mv_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.quantity_delta:+d}/{self.reserved_delta:+d}"
