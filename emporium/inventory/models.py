"""Stock quantities per product (reservations arrive with checkout)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from emporium.core.models import TenantOwnedModel


class Stock(TenantOwnedModel):
    """Quantity on hand of one product."""

    product = models.OneToOneField(
        "catalog.Product", on_delete=models.CASCADE, related_name="stock"
    )
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="inventory_stock_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity}"
