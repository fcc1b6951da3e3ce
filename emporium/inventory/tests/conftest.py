"""Products with stock for the inventory tests."""

from decimal import Decimal
from itertools import count

import pytest

from emporium.catalog.models import Product
from emporium.inventory.models import Stock

_numbers = count(1)


@pytest.fixture
def make_product(db):
    """`make_product(quantity=5, reserved=0, **fields)`; quantity=None creates no Stock row."""

    def make(*, quantity=10, reserved=0, **fields):
        number = next(_numbers)
        fields.setdefault("name", f"Product {number}")
        fields.setdefault("slug", f"product-{number}")
        fields.setdefault("sku", f"SKU-{number}")
        fields.setdefault("price", Decimal("10.00"))
        product = Product.objects.create(**fields)
        if quantity is not None:
            Stock.objects.create(product=product, quantity=quantity, reserved=reserved)
        return product

    return make
