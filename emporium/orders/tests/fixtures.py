"""Builders shared by the order and payment tests: products with stock, carts, orders."""

from decimal import Decimal
from itertools import count

import pytest

from emporium.cart.models import Cart, CartDiscount, CartLine
from emporium.catalog.models import Product
from emporium.inventory.models import Stock
from emporium.pricing.models import Discount, ShippingRate, TaxRate
from emporium.pricing.quotes import normalize_code

_numbers = count(1)

CHECKOUT = {
    "shipping_country": "DE",
    "shipping_address": {"name": "Ada Lovelace", "street": "Main St 1", "city": "Berlin"},
}


@pytest.fixture
def make_product(db):
    """`make_product(price="10.00", quantity=10)`: a visible product with a Stock row."""

    def make(*, price="10.00", quantity=10, **fields):
        number = next(_numbers)
        fields.setdefault("name", f"Product {number}")
        fields.setdefault("slug", f"order-product-{number}")
        fields.setdefault("sku", f"ORD-{number}")
        product = Product.objects.create(price=Decimal(price), **fields)
        if quantity is not None:
            Stock.objects.create(product=product, quantity=quantity)
        return product

    return make


@pytest.fixture
def make_cart(db):
    """`make_cart(user, {product: quantity}, codes=["SAVE10"])`: the user's active cart."""

    def make(user, lines, codes=(), currency="EUR"):
        # A cart left active by a refused checkout makes way for the new one.
        Cart.objects.filter(customer=user, status=Cart.Status.ACTIVE).update(
            status=Cart.Status.ABANDONED
        )
        cart = Cart.objects.create(customer=user, currency=currency)
        CartLine.objects.bulk_create(
            [
                CartLine(tenant_id=cart.tenant_id, cart=cart, product=product, quantity=quantity)
                for product, quantity in lines.items()
            ]
        )
        for code in codes:
            CartDiscount.objects.create(cart=cart, code=normalize_code(code))
        return cart

    return make


@pytest.fixture
def make_discount(db):
    def make(code="SAVE10", kind="percentage", value="10", **fields):
        fields.setdefault("name", code)
        products = fields.pop("products", ())
        discount = Discount.objects.create(code=code, kind=kind, value=Decimal(value), **fields)
        discount.products.set(products)
        return discount

    return make


@pytest.fixture
def rates(db):
    """Shipping 4.90 to DE (free from 100.00) and 19 % German tax."""
    ShippingRate.objects.create(country="DE", currency="EUR", amount=Decimal("4.90"))
    ShippingRate.objects.create(
        country="DE", currency="EUR", amount=Decimal("0.00"), min_subtotal=Decimal("100.00")
    )
    TaxRate.objects.create(country="DE", rate=Decimal("0.19"))


@pytest.fixture
def eager_tasks(settings):
    """Celery tasks run in-process."""
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def stock_of(product):
    return Stock.objects.get(product=product)


@pytest.fixture
def place_order(make_cart, settings):
    """`place_order(user, {product: quantity}, codes=())`: checkout through the service (no
    Stripe unless a test configured the fake)."""
    from emporium.orders.services import order_create_from_cart

    def place(user, lines, codes=()):
        cart = make_cart(user, lines, codes=codes)
        return order_create_from_cart(
            cart=cart,
            customer=user,
            shipping_country=CHECKOUT["shipping_country"],
            shipping_address=CHECKOUT["shipping_address"],
        )

    return place


def pay(order):
    """What a `payment_intent.succeeded` webhook does, without Stripe."""
    from emporium.orders.services import order_mark_paid

    return order_mark_paid(order_id=order.pk)
