"""Rows the review tests need: products, paid orders, and problem assertions."""

from decimal import Decimal

from emporium.catalog.models import Product
from emporium.orders.models import Order, OrderLine, OrderStatus

API = "/api/v1"
PROBLEM = "application/problem+json"


def make_product(slug="tea-pot", **fields):
    fields.setdefault("name", slug.replace("-", " ").title())
    fields.setdefault("sku", slug.upper())
    fields.setdefault("price", Decimal("19.90"))
    return Product.objects.create(slug=slug, **fields)


def make_paid_order(customer, product, status=OrderStatus.PAID):
    order = Order.objects.create(
        number=f"N-{Order.unscoped.count() + 1}",
        customer=customer,
        email=customer.email,
        status=status,
        currency="EUR",
        shipping_country="DE",
    )
    OrderLine.objects.create(
        order=order,
        product=product,
        sku=product.sku,
        name=product.name,
        unit_price=product.price,
        quantity=1,
        line_total=product.price,
    )
    return order


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code


def rating_of(product):
    product.refresh_from_db()
    return product.rating_average, product.rating_count
