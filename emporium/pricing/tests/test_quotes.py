"""Quotes through the loader: discount kinds, stacking, scope, limits, shipping and tax."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from emporium.core.context import tenant_context
from emporium.pricing.models import DiscountUsage, ShippingRate, TaxRate
from emporium.pricing.quotes import (
    DiscountRejected,
    RejectedCode,
    discount_code_check,
    normalize_code,
    pricing_quote,
)
from emporium.pricing.tests.conftest import line
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

D = Decimal


def quote(lines, codes=(), *, currency="EUR", customer_id=None, country=None, now=None):
    return pricing_quote(
        currency=currency,
        lines=lines,
        codes=codes,
        customer_id=customer_id,
        shipping_country=country,
        now=now,
    )


def reasons(result):
    return {r.code: r.reason for r in result.rejected}


def amounts(result):
    return {a.code: a.amount for a in result.applied}


def test_normalize_code_strips_and_uppercases():
    assert normalize_code("  summer-24 ") == "SUMMER-24"


def test_no_codes_no_rates(make_product):
    a, b = make_product("10.00"), make_product("5.00")
    result = quote([line(a, 2), line(b)])
    assert (result.subtotal, result.discount_total, result.shipping_total) == (D("25.00"), 0, 0)
    assert (result.tax_total, result.total) == (0, D("25.00"))
    assert result.applied == ()
    assert result.rejected == ()
    assert result.line_discounts == {a.id: D("0.00"), b.id: D("0.00")}


def test_percentage_is_allocated_to_lines(make_product, make_discount):
    a, b = make_product("10.00"), make_product("5.00")
    make_discount("SAVE10", "percentage", "10")
    result = quote([line(a, 2), line(b)], ["save10"])
    assert result.discount_total == D("2.50")
    assert result.line_discounts == {a.id: D("2.00"), b.id: D("0.50")}
    assert amounts(result) == {"SAVE10": D("2.50")}
    assert result.applied[0].kind == "percentage"
    assert result.total == D("22.50")


def test_fixed_amount_is_capped_at_the_subtotal(make_product, make_discount):
    a = make_product("12.00")
    make_discount("FIFTY", "fixed_amount", "50", currency="EUR")
    ShippingRate.objects.create(country="", currency="EUR", amount=D("4.90"))
    result = quote([line(a, 2)], ["FIFTY"], country="DE")
    assert result.discount_total == D("24.00") == result.subtotal
    assert result.shipping_total == D("4.90")
    assert result.total == D("4.90")


def test_free_shipping_waives_shipping_and_reports_it(make_product, make_discount):
    a = make_product("20.00")
    make_discount("SHIPFREE", "free_shipping", "0")
    ShippingRate.objects.create(country="DE", currency="EUR", amount=D("4.90"))
    result = quote([line(a)], ["shipfree"], country="de")
    assert result.shipping_total == 0
    assert result.discount_total == 0
    assert amounts(result) == {"SHIPFREE": D("4.90")}
    assert result.total == D("20.00")


def test_stackable_discounts_apply_in_priority_order(make_product, make_discount):
    a = make_product("100.00")
    make_discount("TENOFF", "fixed_amount", "10", currency="EUR", stackable=True, priority=10)
    make_discount("PCT10", "percentage", "10", stackable=True, priority=5)
    result = quote([line(a)], ["pct10", "tenoff"])
    # 10 off first, then 10 % of the remaining 90
    assert amounts(result) == {"TENOFF": D("10.00"), "PCT10": D("9.00")}
    assert [a.code for a in result.applied] == ["TENOFF", "PCT10"]
    assert result.discount_total == D("19.00")


def test_higher_priority_percentage_goes_first(make_product, make_discount):
    a = make_product("100.00")
    make_discount("TENOFF", "fixed_amount", "10", currency="EUR", stackable=True, priority=1)
    make_discount("PCT10", "percentage", "10", stackable=True, priority=5)
    result = quote([line(a)], ["TENOFF", "PCT10"])
    assert amounts(result) == {"PCT10": D("10.00"), "TENOFF": D("10.00")}
    assert result.discount_total == D("20.00")


def test_equal_priority_is_ordered_by_code_not_by_input(make_product, make_discount):
    a = make_product("100.00")
    make_discount("AAA", "percentage", "50", stackable=True)
    make_discount("BBB", "fixed_amount", "10", currency="EUR", stackable=True)
    for codes in (["AAA", "BBB"], ["BBB", "AAA"]):
        result = quote([line(a)], codes)
        assert amounts(result) == {"AAA": D("50.00"), "BBB": D("10.00")}


def test_only_one_non_stackable_applies(make_product, make_discount):
    a = make_product("100.00")
    make_discount("BIG", "percentage", "20", priority=5)
    make_discount("SMALL", "percentage", "10", priority=1)
    make_discount("EXTRA", "fixed_amount", "5", currency="EUR", stackable=True)
    result = quote([line(a)], ["SMALL", "BIG", "EXTRA"])
    assert amounts(result) == {"BIG": D("20.00"), "EXTRA": D("5.00")}
    assert reasons(result) == {"SMALL": "discount_not_stackable"}


def test_exclusive_discount_is_applied_alone(make_product, make_discount):
    a = make_product("100.00")
    make_discount("VIP", "percentage", "5", exclusive=True)
    make_discount("STACK", "percentage", "10", stackable=True, priority=9)
    make_discount("SINGLE", "percentage", "20", priority=9)
    result = quote([line(a)], ["STACK", "SINGLE", "VIP"])
    assert amounts(result) == {"VIP": D("5.00")}
    assert reasons(result) == {
        "STACK": "discount_not_stackable",
        "SINGLE": "discount_not_stackable",
    }


def test_best_exclusive_by_priority_then_amount(make_product, make_discount):
    a = make_product("100.00")
    make_discount("EXA", "percentage", "5", exclusive=True)
    make_discount("EXB", "percentage", "15", exclusive=True)
    make_discount("EXC", "percentage", "50", exclusive=True, priority=-1)
    result = quote([line(a)], ["EXA", "EXB", "EXC"])
    assert amounts(result) == {"EXB": D("15.00")}
    assert set(reasons(result)) == {"EXA", "EXC"}


def test_invalid_exclusive_does_not_block_others(make_product, make_discount):
    a = make_product("100.00")
    make_discount("GONE", "percentage", "50", exclusive=True, is_active=False)
    make_discount("PCT10", "percentage", "10")
    result = quote([line(a)], ["GONE", "PCT10"])
    assert amounts(result) == {"PCT10": D("10.00")}
    assert reasons(result) == {"GONE": "discount_not_found"}


def test_category_scope_includes_subcategories(make_product, make_category, make_discount):
    shoes = make_category("Shoes")
    boots = make_category("Boots", parent=shoes)
    hats = make_category("Hats")
    boot, hat = make_product("80.00", boots), make_product("20.00", hats)
    make_discount("SHOES25", "percentage", "25", scope="categories", categories=[shoes])
    result = quote([line(boot), line(hat)], ["SHOES25"])
    assert result.line_discounts == {boot.id: D("20.00"), hat.id: D("0.00")}
    assert result.discount_total == D("20.00")


def test_product_scope(make_product, make_discount):
    a, b = make_product("30.00"), make_product("70.00")
    make_discount("ONLYA", "fixed_amount", "50", currency="EUR", scope="products", products=[a])
    result = quote([line(a), line(b)], ["ONLYA"])
    assert result.line_discounts == {a.id: D("30.00"), b.id: D("0.00")}


def test_scope_without_matching_lines_is_not_applicable(make_product, make_discount):
    a, other = make_product("30.00"), make_product("1.00")
    make_discount("ONLYB", "percentage", "10", scope="products", products=[other])
    assert reasons(quote([line(a)], ["ONLYB"])) == {"ONLYB": "discount_not_applicable"}


def test_minimum_subtotal(make_product, make_discount):
    a = make_product("49.99")
    make_discount("MIN50", "percentage", "10", minimum_subtotal=D("50"), currency="EUR")
    assert reasons(quote([line(a)], ["MIN50"])) == {"MIN50": "discount_minimum_not_met"}
    assert amounts(quote([line(a, price="50.00")], ["MIN50"])) == {"MIN50": D("5.00")}


def test_validity_window(make_product, make_discount):
    a = make_product("10.00")
    start = datetime(2030, 6, 1, tzinfo=UTC)
    end = datetime(2030, 7, 1, tzinfo=UTC)
    make_discount("JUNE", "percentage", "10", starts_at=start, ends_at=end)
    with freeze_time(start - timedelta(seconds=1)):
        assert reasons(quote([line(a)], ["JUNE"])) == {"JUNE": "discount_not_started"}
    with freeze_time(start):
        assert amounts(quote([line(a)], ["JUNE"])) == {"JUNE": D("1.00")}
    with freeze_time(end):
        assert reasons(quote([line(a)], ["JUNE"])) == {"JUNE": "discount_expired"}
    # an explicit `now` wins over the clock
    assert amounts(quote([line(a)], ["JUNE"], now=start + timedelta(days=3))) == {"JUNE": D("1")}


def test_total_usage_limit(make_product, make_discount):
    a = make_product("10.00")
    discount = make_discount("ONCE", "percentage", "10", usage_limit=1)
    assert amounts(quote([line(a)], ["ONCE"])) == {"ONCE": D("1.00")}
    discount.times_used = 1
    discount.save()
    assert reasons(quote([line(a)], ["ONCE"])) == {"ONCE": "discount_exhausted"}


def test_per_customer_limit(make_product, make_discount, make_user):
    a = make_product("10.00")
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    discount = make_discount("WELCOME", "percentage", "10", usage_limit_per_customer=1)
    DiscountUsage.objects.create(discount=discount, customer=ada, order_id=ada.id)
    assert reasons(quote([line(a)], ["WELCOME"], customer_id=ada.id)) == {
        "WELCOME": "discount_exhausted"
    }
    assert amounts(quote([line(a)], ["WELCOME"], customer_id=bob.id)) == {"WELCOME": D("1.00")}


def test_currency_mismatch(make_product, make_discount):
    a = make_product("10.00")
    make_discount("USD5", "fixed_amount", "5", currency="USD")
    make_discount("ANY10", "percentage", "10")
    result = quote([line(a)], ["USD5", "ANY10"])
    assert reasons(result) == {"USD5": "discount_currency_mismatch"}
    assert amounts(result) == {"ANY10": D("1.00")}


def test_unknown_inactive_and_duplicate_codes(make_product, make_discount):
    a = make_product("10.00")
    make_discount("OFF", "percentage", "10", is_active=False)
    make_discount("SAVE", "percentage", "10")
    result = quote([line(a)], ["nope", " off ", "save", "SAVE", " Save", ""])
    assert result.rejected == (
        RejectedCode(code="NOPE", reason="discount_not_found"),
        RejectedCode(code="OFF", reason="discount_not_found"),
    )
    assert amounts(result) == {"SAVE": D("1.00")}


def test_another_shops_code_is_unknown(make_product, make_discount):
    a = make_product("10.00")
    other = TenantFactory()
    with tenant_context(other.id):
        make_discount("THEIRS", "percentage", "10")
    assert reasons(quote([line(a)], ["THEIRS"])) == {"THEIRS": "discount_not_found"}


def test_rounding_remainder_goes_to_the_largest_line(make_product, make_discount):
    a, b, c = make_product("3.33"), make_product("3.34"), make_product("3.33")
    make_discount("ONE", "fixed_amount", "1", currency="EUR")
    result = quote([line(a), line(b), line(c)], ["ONE"])
    assert result.line_discounts == {a.id: D("0.33"), b.id: D("0.34"), c.id: D("0.33")}
    assert result.discount_total == D("1.00")


def test_shipping_picks_the_cheapest_reachable_rate(make_product, make_discount):
    ShippingRate.objects.create(country="", currency="EUR", amount=D("9.00"), name="World")
    ShippingRate.objects.create(country="DE", currency="EUR", amount=D("4.90"), name="DE")
    ShippingRate.objects.create(
        country="DE", currency="EUR", min_subtotal=D("50"), amount=D("0"), name="DE free"
    )
    ShippingRate.objects.create(country="DE", currency="USD", amount=D("1.00"), name="DE USD")
    a = make_product("50.00")
    make_discount("TEN", "percentage", "10")
    assert quote([line(a)], country="DE").shipping_total == D("0")
    # the threshold is checked after discounts
    assert quote([line(a)], ["TEN"], country="DE").shipping_total == D("4.90")
    assert quote([line(a)], country="FR").shipping_total == D("9.00")
    assert quote([line(a)]).shipping_total == D("9.00")  # no country: only "any country" rates
    assert quote([line(a)], currency="GBP", country="DE").shipping_total == 0
    assert quote([], country="DE").shipping_total == 0  # nothing to ship


def test_tax_on_discounted_subtotal_plus_shipping_rounds_half_up(make_product, make_discount):
    TaxRate.objects.create(country="DE", rate=D("0.1000"))
    a = make_product("1.25")
    result = quote([line(a)], country="DE")
    assert result.tax_total == D("0.13")  # 0.125 rounds half up
    assert result.total == D("1.38")
    assert quote([line(a)], country="FR").tax_total == 0
    assert quote([line(a)]).tax_total == 0


def test_worked_example_from_the_docs(make_product, make_category, make_discount):
    """docs/discounts.md, "Worked example"."""
    shoes = make_category("Shoes")
    boots = make_product("59.99", shoes)
    socks = make_product("4.50")
    make_discount(
        "SHOES10",
        "percentage",
        "10",
        scope="categories",
        categories=[shoes],
        stackable=True,
        priority=10,
    )
    make_discount("FIVER", "fixed_amount", "5", currency="EUR", stackable=True)
    make_discount("SHIPFREE", "free_shipping", "0", stackable=True)
    ShippingRate.objects.create(country="DE", currency="EUR", amount=D("4.90"))
    TaxRate.objects.create(country="DE", rate=D("0.1900"))
    result = quote([line(boots, 2), line(socks, 3)], ["fiver", "shoes10", "SHIPFREE"], country="DE")
    assert result.subtotal == D("133.48")
    assert amounts(result) == {"SHOES10": D("12.00"), "FIVER": D("5.00"), "SHIPFREE": D("4.90")}
    assert [a.code for a in result.applied] == ["SHOES10", "FIVER", "SHIPFREE"]
    assert result.line_discounts == {boots.id: D("16.44"), socks.id: D("0.56")}
    assert result.discount_total == D("17.00")
    assert result.shipping_total == 0
    assert result.tax_total == D("22.13")
    assert result.total == D("138.61")


def test_zero_decimal_currency(make_product, make_discount):
    a = make_product("1005", currency="JPY")
    make_discount("JP10", "percentage", "10")
    result = quote([line(a)], ["JP10"], currency="jpy")
    assert result.currency == "JPY"
    assert result.discount_total == D("101")  # 100.5 rounds half up to whole yen
    assert result.total == D("904")


def test_query_count_does_not_grow_with_lines(make_product, make_category, make_discount):
    shoes = make_category("Shoes")
    products = [make_product("10.00", shoes) for _ in range(10)]
    make_discount("CAT", "percentage", "10", scope="categories", categories=[shoes], stackable=True)
    make_discount("PROD", "percentage", "10", scope="products", products=products, stackable=True)
    ShippingRate.objects.create(country="DE", currency="EUR", amount=D("4.90"))
    TaxRate.objects.create(country="DE", rate=D("0.19"))
    counts = []
    for lines in ([line(products[0])], [line(p) for p in products]):
        with CaptureQueriesContext(connection) as queries:
            quote(lines, ["CAT", "PROD"], country="DE")
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 7


def test_code_check_returns_the_applied_discount(make_product, make_discount):
    a = make_product("40.00")
    discount = make_discount("SAVE10", "percentage", "10")
    applied = discount_code_check(code=" save10", currency="EUR", lines=[line(a)], customer_id=None)
    assert (applied.discount_id, applied.code, applied.amount) == (discount.id, "SAVE10", D("4.00"))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("missing", "discount_not_found"),
        ("", "discount_not_found"),
        ("usd", "discount_currency_mismatch"),
        ("single2", "discount_not_stackable"),
    ],
)
def test_code_check_rejects_with_the_reason(make_product, make_discount, code, reason):
    a = make_product("40.00")
    make_discount("USD", "fixed_amount", "5", currency="USD")
    make_discount("SINGLE1", "percentage", "10", priority=5)
    make_discount("SINGLE2", "percentage", "10", priority=1)
    with pytest.raises(DiscountRejected) as caught:
        discount_code_check(
            code=code, currency="EUR", lines=[line(a)], customer_id=None, other_codes=["SINGLE1"]
        )
    assert caught.value.code == reason
    assert caught.value.status == 400
