"""Stock reads: units available to sell (quantity on hand minus reserved), one query each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from django.db.models import F, IntegerField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from emporium.catalog.models import Product
from emporium.catalog.selectors import product_visible_q
from emporium.inventory.models import Stock


def stock_available_by_product(*, product_ids: Iterable[UUID]) -> dict[UUID, int]:
    """Available units of each product; a product without a Stock row has 0 (one query)."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    available = dict.fromkeys(ids, 0)
    rows = Stock.objects.filter(product_id__in=ids).values_list(
        "product_id", F("quantity") - F("reserved")
    )
    for product_id, units in rows:
        available[product_id] = max(0, int(units))
    return available


def stock_available_by_sku(*, skus: Sequence[str]) -> dict[str, int]:
    """Available units of the customer-visible products with these SKUs (one query); SKUs of
    unknown, deleted or unpublished products are absent from the result."""
    if not skus:
        return {}
    rows = (
        Product.objects.filter(product_visible_q(now=timezone.now()), sku__in=list(set(skus)))
        .annotate(
            units=Coalesce(
                F("stock__quantity") - F("stock__reserved"),
                Value(0),
                output_field=IntegerField(),
            )
        )
        .values_list("sku", "units")
    )
    return {sku: max(0, int(units)) for sku, units in rows}
