"""The hand-written SQL of an add selects exactly what the ORM selects, with the same values, on
this database (SQLite embedded, PostgreSQL in CI)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from emporium.cart import queries, selectors
from emporium.cart.models import Cart
from emporium.cart.tests.helpers import add, token_header
from emporium.catalog.models import Product, ProductImage
from emporium.catalog.selectors import product_visible_q
from emporium.catalog.tests.test_read import make_image
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db


def _orm_sellable(product_id, now):
    """What the ORM selectors say about a product an add names (the reference)."""
    product = (
        Product.objects.filter(product_visible_q(now=now), pk=product_id)
        .select_related("stock")
        .first()
    )
    if product is None:
        return None
    stock = selectors.stock_of(product)
    image = selectors.first_images([product.pk]).get(product.pk)
    return {
        "fields": (
            product.id,
            product.slug,
            product.name,
            product.sku,
            product.price,
            product.currency,
            stock.available if stock is not None else 0,
        ),
        "image": _image_values(image),
    }


def _sql_sellable(product_id, now):
    found = queries.sellable_product(product_id, now=now)
    if found is None:
        return None
    return {
        "fields": (
            found.id,
            found.slug,
            found.name,
            found.sku,
            found.price,
            found.currency,
            found.available,
        ),
        "image": _image_values(found.image),
    }


def _image_values(image):
    if image is None:
        return None
    return {field.attname: getattr(image, field.attname) for field in ProductImage._meta.fields}


def test_sellable_product_matches_the_orm(make_product):
    now = timezone.now()
    products = [
        make_product("12.50", quantity=5, reserved=2),
        make_product("0.99", quantity=None),
        make_product("3.00", quantity=0),
        make_product("4.00", quantity=4, reserved=4),
        make_product("7.00", currency="USD"),
        make_product(is_active=False),
        make_product(publish_at=now + timedelta(days=1)),
        make_product(publish_at=now - timedelta(days=1), unpublish_at=now + timedelta(days=1)),
        make_product(unpublish_at=now - timedelta(seconds=1)),
        make_product(unpublish_at=now),  # the window closes exactly now
        make_product(publish_at=now),  # and opens exactly now
    ]
    deleted = make_product()
    deleted.delete()
    products.append(deleted)
    with_images = products[0]
    make_image(with_images, position=2, status=ProductImage.Status.READY)
    make_image(with_images, position=1, status=ProductImage.Status.READY)
    make_image(with_images, position=0, status=ProductImage.Status.PENDING)
    make_image(products[1], position=0, status=ProductImage.Status.FAILED)
    tie = products[2]
    make_image(tie, position=0, status=ProductImage.Status.READY)
    make_image(tie, position=0, status=ProductImage.Status.READY)
    other = TenantDomainFactory(domain="other.shop.test").tenant
    with tenant_context(other.id):
        theirs = make_product(quantity=3)
        make_image(theirs, position=0, status=ProductImage.Status.READY)
    products.append(theirs)

    results = [(_sql_sellable(p.id, now), _orm_sellable(p.id, now)) for p in products]

    for sql, orm in results:
        assert sql == orm
    sellable = [sql for sql, _orm in results if sql is not None]
    assert len(sellable) == 7  # the first five and the two open windows
    assert results[0][0]["fields"][6] == 3
    assert results[0][0]["image"]["position"] == 1
    assert results[2][0]["image"] is not None
    assert results[1][0]["image"] is None  # a failed image is not shown


def test_cart_lock_and_touch_finds_what_the_orm_finds(make_product, ada, bob):
    def make(**fields):
        return Cart.objects.create(**fields)

    anonymous = make()
    converted = make(status=Cart.Status.CONVERTED)
    merged = make(status=Cart.Status.MERGED)
    deleted = make()
    deleted.delete()
    adas = make(customer=ada, currency="USD")
    make(customer=ada, status=Cart.Status.CONVERTED)
    other = TenantDomainFactory(domain="other.shop.test").tenant
    with tenant_context(other.id):
        foreign = make()
    now = timezone.now()
    callers = [
        *((None, cart.token) for cart in (anonymous, converted, merged, deleted, foreign, adas)),
        (None, None),
        (None, ""),
        (None, "x" * 65),
        (ada.id, None),
        (ada.id, anonymous.token),
        (bob.id, None),
    ]
    for customer_id, token in callers:
        with transaction.atomic():
            found = queries.cart_lock_and_touch(customer_id=customer_id, token=token, now=now)
            if customer_id is not None:
                expected = Cart.objects.filter(customer_id=customer_id, status="active").first()
            else:
                expected = Cart.objects.filter(
                    token=token or "", customer__isnull=True, status="active"
                ).first()
            if expected is None:
                assert found is None, (customer_id, token)
                continue
            assert found == queries.LockedCart(
                id=expected.id,
                currency=expected.currency,
                token=expected.token if customer_id is None else None,
            )
            assert expected.last_activity_at == now
    assert Cart.all_objects.get(pk=deleted.pk).last_activity_at < now
    assert Cart.objects.get(pk=converted.pk).last_activity_at < now


def test_line_state_counts_the_cart_lines(client, make_product):
    mug, tee, cap = make_product(), make_product(), make_product()
    token = add(client, mug, 2).json()["token"]
    add(client, tee, 1, **token_header(token))
    add(client, mug, 1, HTTP_HOST="127.0.0.1")  # another cart
    cart = Cart.objects.get(token=token)
    assert queries.line_state(cart_id=cart.id, product_id=mug.id) == queries.LineState(2, 2)
    assert queries.line_state(cart_id=cart.id, product_id=cap.id) == queries.LineState(2, None)
