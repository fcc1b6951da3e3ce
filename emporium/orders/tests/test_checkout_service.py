"""`order_create_from_cart`: totals and discounts snapshotted, stock reserved, refusals clean."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from emporium.cart.models import Cart
from emporium.core.errors import ApplicationError
from emporium.inventory.models import InventoryMovement
from emporium.orders.models import Order, OrderDiscount
from emporium.orders.services import order_create_from_cart
from emporium.orders.tests.fixtures import CHECKOUT, stock_of
from emporium.pricing.models import Discount, DiscountUsage

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com")


@pytest.fixture
def buy(ada, make_cart):
    """`buy({product: qty}, codes=..., customer=ada)` -> the order."""

    def run(lines, codes=(), customer=None, country=CHECKOUT["shipping_country"]):
        customer = customer or ada
        cart = make_cart(customer, lines, codes=codes)
        return order_create_from_cart(
            cart=cart,
            customer=customer,
            shipping_country=country,
            shipping_address=CHECKOUT["shipping_address"],
        )

    return run


def refused(run, *args, **kwargs):
    with pytest.raises(ApplicationError) as error:
        run(*args, **kwargs)
    return error.value


def totals(order):
    return tuple(
        str(v)
        for v in (
            order.subtotal,
            order.discount_total,
            order.shipping_total,
            order.tax_total,
            order.total,
        )
    )


def test_totals_lines_and_reservation(buy, make_product, rates):
    a = make_product(price="40.00", quantity=3)
    b = make_product(price="5.00", quantity=9)
    order = buy({a: 1, b: 2})
    assert totals(order) == ("50.00", "0.00", "4.90", "10.43", "65.33")
    lines = list(order.lines.values_list("sku", "unit_price", "quantity", "line_total"))
    assert lines == [
        (a.sku, Decimal("40.00"), 1, Decimal("40.00")),
        (b.sku, Decimal("5.00"), 2, Decimal("10.00")),
    ]
    assert (stock_of(a).reserved, stock_of(b).reserved) == (1, 2)
    moves = InventoryMovement.objects.filter(order_id=order.pk)
    assert sorted((m.reason, m.reserved_delta) for m in moves) == [("reserve", 1), ("reserve", 2)]
    assert order.stock_state == "reserved"
    assert len(order.number) == 13


def test_prices_are_the_current_ones_and_snapshotted(buy, make_product):
    product = make_product(price="10.00")
    product.price = Decimal("12.00")
    product.save()
    order = buy({product: 1})
    product.price = Decimal("99.00")
    product.save()
    line = order.lines.get()
    assert (line.unit_price, line.name, line.sku) == (Decimal("12.00"), product.name, product.sku)
    assert order.total == Decimal("12.00")


def test_percentage_discount(buy, make_product, make_discount):
    make_discount(code="TEN", kind="percentage", value="10")
    order = buy({make_product(price="25.00"): 2}, codes=["ten"])
    assert totals(order)[:2] == ("50.00", "5.00")
    assert order.total == Decimal("45.00")
    assert list(OrderDiscount.objects.values_list("code", "kind", "amount")) == [
        ("TEN", "percentage", Decimal("5.00"))
    ]


def test_fixed_amount_discount_never_exceeds_the_subtotal(buy, make_product, make_discount):
    make_discount(code="BIG", kind="fixed_amount", value="100", currency="EUR")
    order = buy({make_product(price="30.00"): 1}, codes=["BIG"])
    assert (order.discount_total, order.total) == (Decimal("30.00"), Decimal("0.00"))


def test_free_shipping_discount_waives_shipping(buy, make_product, make_discount, rates):
    make_discount(code="SHIPFREE", kind="free_shipping", value="0")
    order = buy({make_product(price="20.00"): 1}, codes=["SHIPFREE"])
    assert order.shipping_total == Decimal("0.00")
    assert order.discount_total == Decimal("0.00")
    assert order.discounts.get().amount == Decimal("4.90")


def test_stackable_discounts_combine(buy, make_product, make_discount):
    make_discount(code="A10", value="10", stackable=True, priority=2)
    make_discount(code="B5", kind="fixed_amount", value="5", currency="EUR", stackable=True)
    order = buy({make_product(price="100.00"): 1}, codes=["b5", "a10"])
    assert order.discount_total == Decimal("15.00")
    assert list(order.discounts.values_list("code", flat=True)) == ["A10", "B5"]


def test_two_non_stackable_codes_fail_the_checkout(buy, make_product, make_discount):
    make_discount(code="ONE", value="10")
    make_discount(code="TWO", value="20")
    product = make_product()
    error = refused(buy, {product: 1}, codes=["ONE", "TWO"])
    assert (error.status, error.code) == (409, "discount_not_stackable")
    assert stock_of(product).reserved == 0


def test_exclusive_discount_rejects_the_others(buy, make_product, make_discount):
    make_discount(code="VIP", value="30", exclusive=True)
    make_discount(code="A10", value="10", stackable=True)
    product = make_product()
    error = refused(buy, {product: 1}, codes=["VIP", "A10"])
    assert error.code == "discount_not_stackable"
    order = buy({product: 1}, codes=["VIP"])
    assert order.discount_total == Decimal("3.00")


def test_expired_and_not_started_discounts(buy, make_product, make_discount):
    now = timezone.now()
    make_discount(code="OLD", ends_at=now - timedelta(seconds=1))
    make_discount(code="SOON", starts_at=now + timedelta(hours=1))
    product = make_product()
    assert refused(buy, {product: 1}, codes=["OLD"]).code == "discount_expired"
    assert refused(buy, {product: 1}, codes=["SOON"]).code == "discount_not_started"
    assert Order.objects.count() == 0
    assert stock_of(product).reserved == 0


def test_minimum_subtotal(buy, make_product, make_discount):
    make_discount(code="MIN50", value="10", currency="EUR", minimum_subtotal=Decimal("50.00"))
    product = make_product(price="20.00")
    assert refused(buy, {product: 2}, codes=["MIN50"]).code == "discount_minimum_not_met"
    assert buy({product: 3}, codes=["MIN50"]).discount_total == Decimal("6.00")


def test_total_usage_limit(buy, make_user, make_product, make_discount):
    discount = make_discount(code="TWICE", usage_limit=2)
    product = make_product(quantity=10)
    for n in range(2):
        buy({product: 1}, codes=["TWICE"], customer=make_user(email=f"c{n}@example.com"))
    error = refused(buy, {product: 1}, codes=["TWICE"])
    assert (error.status, error.code) == (409, "discount_exhausted")
    discount.refresh_from_db()
    assert discount.times_used == 2
    assert stock_of(product).reserved == 2


def test_per_customer_limit(buy, ada, make_user, make_product, make_discount):
    make_discount(code="ONCEEACH", usage_limit_per_customer=1)
    product = make_product(quantity=10)
    buy({product: 1}, codes=["ONCEEACH"])
    assert refused(buy, {product: 1}, codes=["ONCEEACH"]).code == "discount_exhausted"
    other = buy({product: 1}, codes=["ONCEEACH"], customer=make_user(email="x@example.com"))
    assert other.discount_total > 0
    assert DiscountUsage.objects.count() == 2


def test_scoped_discount_only_reduces_its_products(buy, make_product, make_discount):
    target = make_product(price="50.00")
    other = make_product(price="50.00")
    make_discount(code="ONLYONE", value="10", scope="products", products=[target])
    order = buy({target: 1, other: 1}, codes=["ONLYONE"])
    amounts = dict(order.lines.values_list("product_id", "discount_amount"))
    assert amounts == {target.pk: Decimal("5.00"), other.pk: Decimal("0.00")}
    assert sum(order.lines.values_list("line_total", flat=True)) == order.subtotal - Decimal("5.00")


def test_insufficient_stock_reserves_nothing(buy, make_product, make_discount):
    make_discount(code="TEN")
    fine = make_product(quantity=5)
    short = make_product(quantity=1)
    error = refused(buy, {fine: 1, short: 2}, codes=["TEN"])
    assert (error.status, error.code) == (409, "insufficient_stock")
    assert [s["product_id"] for s in error.shortages] == [str(short.pk)]
    assert (stock_of(fine).reserved, stock_of(short).reserved) == (0, 0)
    assert not DiscountUsage.objects.exists()
    assert Discount.objects.get().times_used == 0
    assert Cart.objects.get().status == "active"


def test_a_converted_cart_cannot_be_checked_out_again(ada, make_cart, make_product):
    cart = make_cart(ada, {make_product(): 1})
    kwargs = {
        "cart": cart,
        "customer": ada,
        "shipping_country": "DE",
        "shipping_address": {"city": "Berlin"},
    }
    order_create_from_cart(**kwargs)
    error = refused(order_create_from_cart, **kwargs)
    assert (error.status, error.code) == (409, "cart_not_active")
    assert Order.objects.count() == 1


def test_someone_elses_cart_is_not_checked_out(ada, make_user, make_cart, make_product):
    cart = make_cart(make_user(email="x@example.com"), {make_product(): 1})
    error = refused(
        order_create_from_cart,
        cart=cart,
        customer=ada,
        shipping_country="DE",
        shipping_address={"city": "Berlin"},
    )
    assert error.code == "cart_empty"


def test_nothing_to_pay_marks_the_order_paid(
    buy, make_product, make_discount, fake_stripe, django_capture_on_commit_callbacks
):
    make_discount(code="ALL", kind="percentage", value="100")
    product = make_product(quantity=2)
    with django_capture_on_commit_callbacks(execute=True):
        order = buy({product: 1}, codes=["ALL"])
    order.refresh_from_db()
    assert (order.total, order.status) == (Decimal("0.00"), "paid")
    assert (stock_of(product).quantity, stock_of(product).reserved) == (1, 0)
    assert fake_stripe.requests == []
