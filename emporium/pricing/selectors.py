"""Read side of pricing: load the shop's rules and compute quotes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import Count
from django.utils import timezone

from emporium.catalog.models import Category
from emporium.pricing import errors
from emporium.pricing.calculation import (
    SCOPE_CATEGORIES,
    SCOPE_PRODUCTS,
    AppliedDiscount,
    DiscountRule,
    Quote,
    QuoteLine,
    ShippingRule,
    compute_quote,
)
from emporium.pricing.errors import DiscountRejected
from emporium.pricing.models import Discount, DiscountUsage, ShippingRate, TaxRate
from emporium.pricing.models import normalize_discount_code as normalize_code


def _category_children() -> dict[UUID, list[UUID]]:
    """The shop's category tree as parent -> children (one query; trees are small)."""
    children: dict[UUID, list[UUID]] = {}
    for category_id, parent_id in Category.objects.values_list("id", "parent_id"):
        if parent_id is not None:
            children.setdefault(parent_id, []).append(category_id)
    return children


def _with_descendants(roots: set[UUID], children: dict[UUID, list[UUID]]) -> frozenset[UUID]:
    """The given categories and everything below them."""
    found: set[UUID] = set()
    pending = list(roots)
    while pending:
        category_id = pending.pop()
        if category_id not in found:
            found.add(category_id)
            pending.extend(children.get(category_id, []))
    return frozenset(found)


def discount_uses_by_customer(
    *, discounts: Sequence[Discount], customer_id: UUID | None
) -> dict[UUID, int]:
    """How often the customer has used each discount that limits uses per customer (one
    query; none without a customer or such a discount)."""
    limited = [d.id for d in discounts if d.usage_limit_per_customer is not None]
    if customer_id is None or not limited:
        return {}
    counted = (
        DiscountUsage.objects.filter(discount_id__in=limited, customer_id=customer_id)
        .values("discount_id")
        .annotate(uses=Count("id"))
    )
    return {row["discount_id"]: row["uses"] for row in counted}


def discount_rules(*, codes: Sequence[str], customer_id: UUID | None) -> dict[str, DiscountRule]:
    """The current shop's discounts for these (normalised) codes, keyed by code.

    At most five queries whatever the number of codes: discounts, scoped products, scoped
    categories (plus the category tree), and the customer's past uses.
    """
    wanted = {normalize_code(code) for code in codes} - {""}
    if not wanted:
        return {}
    discounts = list(Discount.objects.filter(code__in=wanted))
    product_ids: dict[UUID, set[UUID]] = {}
    category_ids: dict[UUID, frozenset[UUID]] = {}
    by_products = [d.id for d in discounts if d.scope == SCOPE_PRODUCTS]
    if by_products:
        product_rows = Discount.products.through.objects.filter(discount_id__in=by_products)
        for discount_id, product_id in product_rows.values_list("discount_id", "product_id"):
            product_ids.setdefault(discount_id, set()).add(product_id)
    by_categories = [d.id for d in discounts if d.scope == SCOPE_CATEGORIES]
    if by_categories:
        category_rows = Discount.categories.through.objects.filter(discount_id__in=by_categories)
        chosen: dict[UUID, set[UUID]] = {}
        for discount_id, category_id in category_rows.values_list("discount_id", "category_id"):
            chosen.setdefault(discount_id, set()).add(category_id)
        if chosen:
            children = _category_children()
            for discount_id, roots in chosen.items():
                category_ids[discount_id] = _with_descendants(roots, children)
    customer_uses = discount_uses_by_customer(discounts=discounts, customer_id=customer_id)
    return {
        d.code: DiscountRule(
            id=d.id,
            code=d.code,
            kind=d.kind,
            value=d.value,
            currency=d.currency,
            minimum_subtotal=d.minimum_subtotal,
            starts_at=d.starts_at,
            ends_at=d.ends_at,
            is_active=d.is_active,
            usage_limit=d.usage_limit,
            usage_limit_per_customer=d.usage_limit_per_customer,
            times_used=d.times_used,
            customer_uses=customer_uses.get(d.id, 0),
            scope=d.scope,
            product_ids=frozenset(product_ids.get(d.id, ())),
            category_ids=frozenset(category_ids.get(d.id, ())),
            stackable=d.stackable,
            priority=d.priority,
            exclusive=d.exclusive,
        )
        for d in discounts
    }


def pricing_quote(
    *,
    currency: str,
    lines: Sequence[QuoteLine],
    codes: Sequence[str],
    customer_id: UUID | None,
    shipping_country: str | None,
    now: datetime | None = None,
) -> Quote:
    """Quote the lines with the current shop's discounts, shipping and tax rates.

    Unknown or unusable codes end up in `rejected`; this never raises for a code. The number of
    queries does not depend on the number of lines.
    """
    currency = currency.strip().upper()
    country = (shipping_country or "").strip().upper() or None
    rules = discount_rules(codes=codes, customer_id=customer_id)
    shipping_rates: list[ShippingRule] = []
    tax_rate: Decimal | None = None
    if lines:
        rows = ShippingRate.objects.filter(currency=currency, country__in={"", country or ""})
        shipping_rates = [
            ShippingRule(
                country=row.country,
                currency=row.currency,
                min_subtotal=row.min_subtotal,
                amount=row.amount,
            )
            for row in rows
        ]
        if country is not None:
            tax_rate = (
                TaxRate.objects.filter(country=country).values_list("rate", flat=True).first()
            )
    return compute_quote(
        currency=currency,
        lines=lines,
        codes=codes,
        rules=rules,
        shipping_rates=shipping_rates,
        shipping_country=country,
        tax_rate=tax_rate,
        customer_id=customer_id,
        now=now or timezone.now(),
    )


def discount_code_check(
    *,
    code: str,
    currency: str,
    lines: Sequence[QuoteLine],
    customer_id: UUID | None,
    other_codes: Sequence[str] = (),
) -> AppliedDiscount:
    """Check that `code` applies to the lines next to `other_codes` (for adding it to a cart).

    Raises DiscountRejected (status 400) with the reason code when it does not. Adding a code can
    displace another one (a higher-priority non-stackable or an exclusive code): the cart's quote
    then lists the displaced code under `rejected`.
    """
    normalised = normalize_code(code)
    if not normalised:
        raise DiscountRejected(code=errors.DISCOUNT_NOT_FOUND)
    others = [other for other in other_codes if normalize_code(other) != normalised]
    quote = pricing_quote(
        currency=currency,
        lines=lines,
        codes=[normalised, *others],
        customer_id=customer_id,
        shipping_country=None,
    )
    for applied in quote.applied:
        if applied.code == normalised:
            return applied
    reason = next(
        (r.reason for r in quote.rejected if r.code == normalised), errors.DISCOUNT_NOT_APPLICABLE
    )
    raise DiscountRejected(code=reason)
