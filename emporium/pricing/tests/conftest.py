"""Builders for pricing tests: discounts, categories, products and quote lines."""

from decimal import Decimal
from itertools import count

import pytest

from emporium.catalog.models import Category, Product
from emporium.pricing.models import Discount
from emporium.pricing.quotes import QuoteLine

_numbers = count(1)


@pytest.fixture
def make_discount(db):
    def make(code="SAVE10", kind="percentage", value="10", **fields):
        fields.setdefault("name", code)
        categories = fields.pop("categories", ())
        products = fields.pop("products", ())
        discount = Discount.objects.create(code=code, kind=kind, value=Decimal(value), **fields)
        discount.categories.set(categories)
        discount.products.set(products)
        return discount

    return make


@pytest.fixture
def make_category(db):
    def make(name="Shoes", parent=None):
        number = next(_numbers)
        return Category.objects.create(name=name, slug=f"{name.lower()}-{number}", parent=parent)

    return make


@pytest.fixture
def make_product(db):
    def make(price="10.00", category=None, currency="EUR"):
        number = next(_numbers)
        return Product.objects.create(
            name=f"Product {number}",
            slug=f"product-{number}",
            sku=f"SKU-{number}",
            price=Decimal(price),
            currency=currency,
            category=category,
        )

    return make


def line(product, quantity=1, price=None):
    """A quote line for a product at its current (or the given) price."""
    return QuoteLine(
        product_id=product.id,
        category_id=product.category_id,
        unit_price=Decimal(price if price is not None else product.price),
        quantity=quantity,
    )
