"""Adding to the cart over HTTP: the answer, the limits and what a refused add leaves alone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from emporium.cart.models import Cart, CartLine
from emporium.cart.tests.helpers import CART, add, item, problem, token_header
from emporium.catalog.models import ProductImage
from emporium.catalog.tests.test_read import make_image
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_added_line_reads_as_the_cart_shows_it(client, make_product, version):
    mug = make_product("12.50", quantity=4, reserved=1, sku="MUG", name="Mug", slug="mug")
    make_image(mug, position=1, status=ProductImage.Status.READY)
    make_image(mug, position=0, status=ProductImage.Status.PENDING)
    tee = make_product("3.33", quantity=10, sku="TEE")
    token = add(client, tee, 1, version=version).json()["token"]

    created = add(client, mug, 1, version=version, **token_header(token))
    more = add(client, mug, 2, version=version, **token_header(token))

    assert (created.status_code, more.status_code) == (201, 200)
    cart = client.get(f"/api/{version}/cart/", **token_header(token)).json()
    shown = next(line for line in cart["lines"] if line["product"]["sku"] == "MUG")
    body = more.json()
    assert body.pop("cart_id") == cart["id"]
    assert body.pop("token") == token
    assert body == shown
    assert body["quantity"] == 3
    assert body["product"]["image"].startswith("http://testserver/")
    assert body["product"]["image"].endswith("/display.webp")
    assert created.json()["id"] == body["id"]


def test_a_full_cart_still_takes_more_units_of_its_lines(client, make_product, settings):
    settings.CART_MAX_LINES = 2
    mug, tee = make_product(quantity=10), make_product(quantity=10)
    token = add(client, mug).json()["token"]
    add(client, tee, **token_header(token))
    more = add(client, mug, 3, **token_header(token))
    assert more.status_code == 200, more.content
    assert more.json()["quantity"] == 4
    problem(add(client, make_product(), **token_header(token)), 409, "too_many_lines")
    assert CartLine.objects.count() == 2


def test_an_emptied_cart_takes_the_currency_of_its_next_product(client, make_product):
    body = add(client, make_product(currency="EUR")).json()
    client.delete(item(body["id"]), **token_header(body["token"]))
    dollars = add(client, make_product("5.00", currency="USD"), **token_header(body["token"]))
    assert dollars.status_code == 201, dollars.content
    assert dollars.json()["currency"] == "USD"
    assert dollars.json()["cart_id"] == body["cart_id"]
    assert Cart.objects.get().currency == "USD"
    assert client.get(CART, **token_header(body["token"])).json()["total"] == "5.00"


def test_a_line_whose_product_changed_currency_still_grows(client, make_product):
    mug = make_product(currency="EUR", quantity=10)
    token = add(client, mug).json()["token"]
    mug.currency = "USD"
    mug.save()
    more = add(client, mug, **token_header(token))
    assert more.status_code == 200, more.content
    assert more.json()["quantity"] == 2
    assert more.json()["problems"] == [{"code": "currency_mismatch"}]


def test_an_add_moves_last_activity_and_a_refused_one_does_not(client, make_product, settings):
    settings.CART_LINE_MAX_QUANTITY = 3
    mug = make_product(quantity=10)
    token = add(client, mug).json()["token"]
    long_ago = timezone.now() - timedelta(days=3)
    Cart.objects.update(last_activity_at=long_ago)

    problem(add(client, mug, 3, **token_header(token)), 400, "quantity_exceeds_maximum")
    problem(add(client, make_product(quantity=0), **token_header(token)), 409, "insufficient_stock")
    assert Cart.objects.get().last_activity_at == long_ago
    assert CartLine.objects.get().quantity == 1

    assert add(client, mug, 2, **token_header(token)).status_code == 200
    assert Cart.objects.get().last_activity_at > long_ago + timedelta(days=2)


def test_an_add_with_another_shops_token_starts_a_cart_in_this_shop(client, make_product, settings):
    host = "other.shop.test"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    other = TenantDomainFactory(domain=host).tenant
    mug = make_product(quantity=10)
    ours = add(client, mug, 2).json()
    long_ago = timezone.now() - timedelta(days=3)
    Cart.objects.update(last_activity_at=long_ago)
    from emporium.core.context import tenant_context

    with tenant_context(other.id):
        theirs = make_product(quantity=10)
    response = add(client, theirs, 1, HTTP_HOST=host, **token_header(ours["token"]))

    assert response.status_code == 201, response.content
    assert response.json()["token"] != ours["token"]
    assert response.json()["cart_id"] != ours["cart_id"]
    mine = Cart.objects.get(pk=ours["cart_id"])
    assert mine.last_activity_at == long_ago
    assert list(CartLine.unscoped.filter(cart=mine).values_list("quantity", flat=True)) == [2]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 1}, "product"),
        ({"product": "not-a-uuid"}, "product"),
        ({"product": "01900000-0000-7000-8000-000000000000", "quantity": "x"}, "quantity"),
    ],
)
def test_bad_bodies_are_validation_errors(client, body, field):
    response = client.post("/api/v1/cart/items/", body, content_type="application/json")
    data = problem(response, 400, "validation_error")
    assert [error["field"] for error in data["errors"]] == [field]
    assert not Cart.objects.exists()


def test_a_body_that_is_not_an_object_is_a_validation_error(client):
    response = client.post("/api/v1/cart/items/", [1, 2], content_type="application/json")
    problem(response, 400, "validation_error")
    assert not Cart.objects.exists()
