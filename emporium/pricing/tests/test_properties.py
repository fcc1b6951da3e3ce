"""Property-based checks of the pure quote computation over random carts and rules."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from emporium.pricing.calculation import (
    DiscountRule,
    QuoteLine,
    ShippingRule,
    allocate,
    compute_quote,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PRODUCTS = [uuid.UUID(int=n) for n in range(1, 5)]
CATEGORIES = [uuid.UUID(int=n) for n in range(100, 103)]

money = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False)

lines_strategy = st.lists(
    st.builds(
        QuoteLine,
        product_id=st.sampled_from(PRODUCTS),
        category_id=st.one_of(st.none(), st.sampled_from(CATEGORIES)),
        unit_price=money,
        quantity=st.integers(min_value=1, max_value=5),
    ),
    max_size=6,
)


@st.composite
def rule_strategy(draw, code):
    kind = draw(st.sampled_from(["percentage", "fixed_amount", "free_shipping"]))
    if kind == "percentage":
        value = draw(st.decimals(min_value="0.01", max_value=100, places=2))
    elif kind == "fixed_amount":
        value = draw(st.decimals(min_value="0.01", max_value=300, places=2))
    else:
        value = Decimal("0")
    return DiscountRule(
        id=uuid.uuid4(),
        code=code,
        kind=kind,
        value=value,
        currency=draw(st.sampled_from(["", "EUR", "EUR", "USD"])),
        minimum_subtotal=draw(st.sampled_from([Decimal("0"), Decimal("0"), Decimal("50")])),
        starts_at=None,
        ends_at=None,
        is_active=True,
        usage_limit=None,
        usage_limit_per_customer=None,
        times_used=0,
        customer_uses=0,
        scope=draw(st.sampled_from(["all", "all", "categories", "products"])),
        product_ids=frozenset(draw(st.sets(st.sampled_from(PRODUCTS)))),
        category_ids=frozenset(draw(st.sets(st.sampled_from(CATEGORIES)))),
        stackable=draw(st.booleans()),
        priority=draw(st.integers(min_value=-2, max_value=2)),
        exclusive=draw(st.booleans()) and draw(st.booleans()),
    )


@st.composite
def scenario(draw):
    codes = [f"CODE{n}" for n in range(draw(st.integers(min_value=0, max_value=5)))]
    rules = {code: draw(rule_strategy(code)) for code in codes}
    rates = draw(
        st.lists(
            st.builds(
                ShippingRule,
                country=st.sampled_from(["", "DE", "FR"]),
                currency=st.just("EUR"),
                min_subtotal=money,
                amount=st.decimals(min_value=0, max_value=20, places=2),
            ),
            max_size=3,
        )
    )
    asked = draw(st.permutations([*codes, "UNKNOWN"]))
    tax = draw(st.one_of(st.none(), st.decimals(min_value=0, max_value="0.3", places=4)))
    return draw(lines_strategy), asked, rules, rates, tax


def run(lines, codes, rules, rates, tax):
    return compute_quote(
        currency="EUR",
        lines=lines,
        codes=codes,
        rules=rules,
        shipping_rates=rates,
        shipping_country="DE",
        tax_rate=tax,
        customer_id=None,
        now=NOW,
    )


@settings(max_examples=200, deadline=None)
@given(scenario())
def test_totals_are_consistent(case):
    lines, codes, rules, rates, tax = case
    quote = run(lines, codes, rules, rates, tax)
    assert quote.total >= 0
    assert 0 <= quote.discount_total <= quote.subtotal
    assert quote.subtotal == sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    assert sum(quote.line_discounts.values(), Decimal(0)) == quote.discount_total
    assert quote.total == (
        quote.subtotal - quote.discount_total + quote.shipping_total + quote.tax_total
    )
    money_off = [a.amount for a in quote.applied if a.kind != "free_shipping"]
    assert sum(money_off, Decimal(0)) == quote.discount_total
    assert all(a.amount >= 0 for a in quote.applied)
    for product_id, discount in quote.line_discounts.items():
        line_total = sum(
            (line.unit_price * line.quantity for line in lines if line.product_id == product_id),
            Decimal(0),
        )
        assert 0 <= discount <= line_total
    # every distinct code is either applied or rejected, never both
    applied = {a.code for a in quote.applied}
    rejected = {r.code for r in quote.rejected}
    assert applied.isdisjoint(rejected)
    assert applied | rejected == set(codes)
    if any(rules[code].exclusive for code in applied):
        assert len(applied) == 1


@settings(max_examples=200, deadline=None)
@given(scenario(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_the_order_of_codes(case, random):
    lines, codes, rules, rates, tax = case
    shuffled = list(codes)
    random.shuffle(shuffled)
    first, second = run(lines, codes, rules, rates, tax), run(lines, shuffled, rules, rates, tax)
    assert first.applied == second.applied
    assert first.line_discounts == second.line_discounts
    assert set(first.rejected) == set(second.rejected)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.decimals(min_value=0, max_value=1000, places=2), min_size=1, max_size=8),
    st.data(),
)
def test_allocation_sums_exactly_within_each_line(weights, data):
    total = sum(weights, Decimal(0))
    amount = data.draw(st.decimals(min_value=0, max_value=total, places=2))
    shares = allocate(amount, weights, Decimal("0.01"))
    assert sum(shares, Decimal(0)) == amount
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))
