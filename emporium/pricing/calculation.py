"""The pure quote computation: no database, no clock; every input is passed in.

Documented in docs/discounts.md (application order, rounding, shipping and tax).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from emporium.pricing import errors
from emporium.pricing.models import normalize_discount_code

PERCENTAGE = "percentage"
FIXED_AMOUNT = "fixed_amount"
FREE_SHIPPING = "free_shipping"
SCOPE_ALL = "all"
SCOPE_CATEGORIES = "categories"
SCOPE_PRODUCTS = "products"

# ISO 4217 currencies without a minor unit (the same list Stripe treats as zero-decimal).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
CENT = Decimal("0.01")
UNIT = Decimal("1")
ZERO = Decimal("0")


@dataclass(frozen=True)
class QuoteLine:
    product_id: UUID
    category_id: UUID | None  # the product's category; scope "categories" matches it or an ancestor
    unit_price: Decimal
    quantity: int


@dataclass(frozen=True)
class AppliedDiscount:
    discount_id: UUID
    code: str  # normalised
    kind: str  # "percentage" | "fixed_amount" | "free_shipping"
    amount: Decimal  # money taken off (for free_shipping: the shipping waived)


@dataclass(frozen=True)
class RejectedCode:
    code: str
    reason: str  # one of the reason codes in emporium.pricing.errors


@dataclass(frozen=True)
class Quote:
    currency: str
    subtotal: Decimal
    discount_total: Decimal  # never more than subtotal; free shipping is counted in shipping
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal  # subtotal - discount_total + shipping_total + tax_total, never negative
    applied: tuple[AppliedDiscount, ...]
    rejected: tuple[RejectedCode, ...]
    line_discounts: Mapping[UUID, Decimal]  # product_id -> discount allocated to its line(s)


@dataclass(frozen=True)
class DiscountRule:
    """A discount as the computation sees it, with its usage figures at quote time."""

    id: UUID
    code: str
    kind: str
    value: Decimal
    currency: str  # "" = any currency
    minimum_subtotal: Decimal
    starts_at: datetime | None
    ends_at: datetime | None
    is_active: bool
    usage_limit: int | None
    usage_limit_per_customer: int | None
    times_used: int
    customer_uses: int  # uses by the quoting customer (0 when anonymous)
    scope: str
    product_ids: frozenset[UUID]
    category_ids: frozenset[UUID]  # the chosen categories and all their descendants
    stackable: bool
    priority: int
    exclusive: bool

    def covers(self, line: QuoteLine) -> bool:
        """Whether the line is in this discount's scope."""
        if self.scope == SCOPE_PRODUCTS:
            return line.product_id in self.product_ids
        if self.scope == SCOPE_CATEGORIES:
            return line.category_id is not None and line.category_id in self.category_ids
        return True


@dataclass(frozen=True)
class ShippingRule:
    country: str  # "" = any country
    currency: str
    min_subtotal: Decimal
    amount: Decimal


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency: 0.01, or 1 for zero-decimal currencies."""
    return UNIT if currency.upper() in ZERO_DECIMAL_CURRENCIES else CENT


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def allocate(amount: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """Split `amount` over lines in proportion to `weights`, each share within [0, weight].

    Shares are rounded half up; the rounding remainder goes to the largest line (the first of
    equal ones) and only spills to the next largest when that line cannot absorb it, so the
    shares always sum to `amount` exactly. Requires 0 <= amount <= sum(weights).
    """
    total = sum(weights, ZERO)
    if amount <= 0 or total <= 0:
        return [ZERO.quantize(quantum) for _ in weights]
    shares = [
        min(weight, (amount * weight / total).quantize(quantum, rounding=ROUND_HALF_UP))
        for weight in weights
    ]
    remainder = amount - sum(shares, ZERO)
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        if remainder == 0:
            break
        if remainder > 0:
            step = min(remainder, weights[index] - shares[index])
        else:
            step = max(remainder, -shares[index])
        shares[index] += step
        remainder -= step
    return shares


def shipping_amount(
    *, rates: Sequence[ShippingRule], currency: str, country: str | None, basis: Decimal
) -> Decimal:
    """The cheapest rate of the country (or any country) whose minimum the basis reaches."""
    countries = {"", country or ""}
    amounts = [
        rate.amount
        for rate in rates
        if rate.currency == currency and rate.country in countries and rate.min_subtotal <= basis
    ]
    return min(amounts, default=ZERO)


def _refusal(
    rule: DiscountRule | None,
    *,
    currency: str,
    lines: Sequence[QuoteLine],
    amounts: Sequence[Decimal],
    subtotal: Decimal,
    customer_id: UUID | None,
    now: datetime,
) -> str | None:
    """Why the discount cannot be used on its own, or None when it can."""
    if rule is None or not rule.is_active:
        return errors.DISCOUNT_NOT_FOUND
    if rule.starts_at is not None and now < rule.starts_at:
        return errors.DISCOUNT_NOT_STARTED
    if rule.ends_at is not None and now >= rule.ends_at:
        return errors.DISCOUNT_EXPIRED
    if rule.currency and rule.currency != currency:
        return errors.DISCOUNT_CURRENCY_MISMATCH
    if rule.usage_limit is not None and rule.times_used >= rule.usage_limit:
        return errors.DISCOUNT_EXHAUSTED
    # Anonymous carts cannot be counted per customer: checkout (always signed in) re-checks.
    if (
        customer_id is not None
        and rule.usage_limit_per_customer is not None
        and rule.customer_uses >= rule.usage_limit_per_customer
    ):
        return errors.DISCOUNT_EXHAUSTED
    if subtotal < rule.minimum_subtotal:
        return errors.DISCOUNT_MINIMUM_NOT_MET
    if not any(
        amount > 0 and rule.covers(line) for line, amount in zip(lines, amounts, strict=True)
    ):
        return errors.DISCOUNT_NOT_APPLICABLE
    return None


def _money_off(
    rule: DiscountRule, *, lines: Sequence[QuoteLine], remaining: Sequence[Decimal], currency: str
) -> tuple[Decimal, list[Decimal]]:
    """The amount a percentage or fixed discount takes off the remaining amounts, per line."""
    eligible = [
        amount if rule.covers(line) else ZERO for line, amount in zip(lines, remaining, strict=True)
    ]
    basis = sum(eligible, ZERO)
    if rule.kind == PERCENTAGE:
        amount = round_money(basis * rule.value / 100, currency)
    else:
        amount = round_money(min(rule.value, basis), currency)
    amount = min(amount, basis)
    return amount, allocate(amount, eligible, minor_unit(currency))


def _order_key(rule: DiscountRule) -> tuple[int, str]:
    return (-rule.priority, rule.code)


def compute_quote(
    *,
    currency: str,
    lines: Sequence[QuoteLine],
    codes: Sequence[str],
    rules: Mapping[str, DiscountRule],
    shipping_rates: Sequence[ShippingRule],
    shipping_country: str | None,
    tax_rate: Decimal | None,
    customer_id: UUID | None,
    now: datetime,
) -> Quote:
    """Compute subtotal, discounts, shipping, tax and total (see docs/discounts.md)."""
    currency = currency.strip().upper()
    country = (shipping_country or "").strip().upper() or None
    for line in lines:
        if line.quantity < 0 or line.unit_price < 0:
            raise ValueError("quote lines need a non-negative price and quantity")
    amounts = [round_money(line.unit_price * line.quantity, currency) for line in lines]
    subtotal = round_money(sum(amounts, ZERO), currency)

    rejected: dict[str, str] = {}
    candidates: list[DiscountRule] = []
    for raw in codes:
        code = normalize_discount_code(raw)
        if not code or code in rejected or any(rule.code == code for rule in candidates):
            continue
        rule = rules.get(code)
        reason = _refusal(
            rule,
            currency=currency,
            lines=lines,
            amounts=amounts,
            subtotal=subtotal,
            customer_id=customer_id,
            now=now,
        )
        if reason is not None or rule is None:
            rejected[code] = reason or errors.DISCOUNT_NOT_FOUND
        else:
            candidates.append(rule)

    base_shipping = (
        shipping_amount(rates=shipping_rates, currency=currency, country=country, basis=subtotal)
        if lines
        else ZERO
    )
    selected = _select(candidates, lines=lines, amounts=amounts, currency=currency,
                       base_shipping=base_shipping)  # fmt: skip
    for rule in candidates:
        if rule not in selected:
            rejected[rule.code] = errors.DISCOUNT_NOT_STACKABLE

    remaining = list(amounts)
    money_amounts: dict[str, Decimal] = {}
    for rule in selected:
        if rule.kind == FREE_SHIPPING:
            continue
        amount, shares = _money_off(rule, lines=lines, remaining=remaining, currency=currency)
        if amount <= 0:  # earlier discounts already took everything it covers
            rejected[rule.code] = errors.DISCOUNT_NOT_APPLICABLE
            continue
        money_amounts[rule.code] = amount
        remaining = [left - share for left, share in zip(remaining, shares, strict=True)]
    discount_total = subtotal - sum(remaining, ZERO)

    shipping_total = (
        shipping_amount(
            rates=shipping_rates,
            currency=currency,
            country=country,
            basis=subtotal - discount_total,
        )
        if lines
        else ZERO
    )
    waived: dict[str, Decimal] = {}
    for rule in selected:
        if rule.kind != FREE_SHIPPING:
            continue
        if waived:  # shipping is already free
            rejected[rule.code] = errors.DISCOUNT_NOT_APPLICABLE
            continue
        waived[rule.code] = shipping_total
        shipping_total = ZERO

    quantum = minor_unit(currency)
    shipping_total = round_money(shipping_total, currency)
    taxable = subtotal - discount_total + shipping_total
    tax_total = round_money(taxable * tax_rate, currency) if tax_rate else ZERO.quantize(quantum)
    total = max(ZERO.quantize(quantum), taxable + tax_total)

    applied = tuple(
        AppliedDiscount(
            discount_id=rule.id,
            code=rule.code,
            kind=rule.kind,
            amount=round_money(money_amounts.get(rule.code, waived.get(rule.code, ZERO)), currency),
        )
        for rule in selected
        if rule.code in money_amounts or rule.code in waived
    )
    line_discounts: dict[UUID, Decimal] = {}
    for line, amount, left in zip(lines, amounts, remaining, strict=True):
        line_discounts[line.product_id] = line_discounts.get(line.product_id, ZERO) + amount - left
    order = {normalize_discount_code(raw): index for index, raw in reversed(list(enumerate(codes)))}
    return Quote(
        currency=currency,
        subtotal=subtotal,
        discount_total=round_money(discount_total, currency),
        shipping_total=shipping_total,
        tax_total=tax_total,
        total=round_money(total, currency),
        applied=applied,
        rejected=tuple(
            RejectedCode(code=code, reason=reason)
            for code, reason in sorted(rejected.items(), key=lambda item: order[item[0]])
        ),
        line_discounts={key: round_money(value, currency) for key, value in line_discounts.items()},
    )


def _select(
    candidates: Sequence[DiscountRule],
    *,
    lines: Sequence[QuoteLine],
    amounts: Sequence[Decimal],
    currency: str,
    base_shipping: Decimal,
) -> list[DiscountRule]:
    """The discounts to apply, in application order (priority desc, then code asc).

    An exclusive discount that applies is applied alone (the best one: highest priority, then the
    largest amount on its own, then code). Otherwise every stackable discount applies, plus at
    most one non-stackable one (the first in application order).
    """
    ordered = sorted(candidates, key=_order_key)
    exclusives = [rule for rule in ordered if rule.exclusive]
    if exclusives:

        def standalone(rule: DiscountRule) -> Decimal:
            if rule.kind == FREE_SHIPPING:
                return base_shipping
            return _money_off(rule, lines=lines, remaining=amounts, currency=currency)[0]

        best = min(exclusives, key=lambda rule: (-rule.priority, -standalone(rule), rule.code))
        return [best]
    first_single = next((rule for rule in ordered if not rule.stackable), None)
    return [rule for rule in ordered if rule.stackable or rule is first_single]
