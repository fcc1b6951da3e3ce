"""Products, customers and request helpers for the cart tests."""

from decimal import Decimal
from itertools import count

import pytest

from emporium.catalog.models import Product
from emporium.inventory.models import Stock
from emporium.pricing.models import Discount

_numbers = count(1)


@pytest.fixture
def make_product(db):
    """`make_product(price="10.00", quantity=10, reserved=0, **fields)`; quantity=None: no
    Stock row."""

    def make(price="10.00", *, quantity=10, reserved=0, **fields):
        number = next(_numbers)
        fields.setdefault("name", f"Product {number}")
        fields.setdefault("slug", f"product-{number}")
        fields.setdefault("sku", f"SKU-{number}")
        product = Product.objects.create(price=Decimal(price), **fields)
        if quantity is not None:
            Stock.objects.create(product=product, quantity=quantity, reserved=reserved)
        return product

    return make


@pytest.fixture
def make_discount(db):
    def make(code="SAVE10", kind="percentage", value="10", **fields):
        return Discount.objects.create(code=code, kind=kind, value=Decimal(value), **fields)

    return make


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com")


@pytest.fixture
def bob(make_user):
    return make_user(email="bob@example.com")
