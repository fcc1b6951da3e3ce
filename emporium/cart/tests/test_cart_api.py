"""The cart over HTTP: anonymous and customer carts, quantities, stock, visibility, money."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from emporium.cart.models import Cart, CartLine
from emporium.cart.tests.helpers import (
    CART,
    add,
    item,
    patch,
    problem,
    token_header,
)
from emporium.inventory.models import Stock

pytestmark = pytest.mark.django_db


def lines(response):
    assert response.status_code == 200, response.content
    return [(line["product"]["sku"], line["quantity"]) for line in response.json()["lines"]]


# --- anonymous carts ---------------------------------------------------------------------------


def test_first_anonymous_add_creates_a_cart_and_returns_its_token(client, make_product):
    mug = make_product("12.50", quantity=5, sku="MUG", name="Mug", slug="mug")
    response = add(client, mug, 2)
    assert response.status_code == 201, response.content
    body = response.json()
    token = body["token"]
    assert response["X-Cart-Token"] == token
    assert len(token) >= 40
    assert body["product"] == {
        "id": str(mug.id),
        "slug": "mug",
        "name": "Mug",
        "sku": "MUG",
        "image": None,
    }
    assert (body["quantity"], body["unit_price"], body["line_total"]) == (2, "12.50", "25.00")
    assert (body["currency"], body["available"], body["problems"]) == ("EUR", True, [])

    cart = client.get(CART, **token_header(token))
    assert cart["Cache-Control"] == "private, no-store"
    data = cart.json()
    assert data["id"] == body["cart_id"]
    assert data["token"] == token
    assert lines(cart) == [("MUG", 2)]
    assert (data["subtotal"], data["discount_total"], data["total"]) == ("25.00", "0.00", "25.00")
    assert data["last_activity_at"].endswith("Z")


def test_without_a_cart_get_answers_an_empty_cart(client, make_product):
    empty = {
        "id": None,
        "currency": "EUR",
        "lines": [],
        "discounts": [],
        "rejected_discounts": [],
        "subtotal": "0.00",
        "discount_total": "0.00",
        "shipping_total": "0.00",
        "tax_total": "0.00",
        "total": "0.00",
        "last_activity_at": None,
    }
    assert client.get(CART).json() == empty
    assert client.get(CART, **token_header("made-up")).json() == empty
    assert not Cart.objects.exists()


def test_adding_the_same_product_again_increases_its_line(client, make_product):
    mug = make_product(quantity=10)
    first = add(client, mug, 2)
    token = first.json()["token"]
    again = add(client, mug, 3, **token_header(token))
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["quantity"] == 5
    assert "X-Cart-Token" in again
    assert CartLine.objects.get().quantity == 5


def test_a_stale_token_on_add_starts_a_new_cart(client, make_product):
    mug = make_product()
    old = add(client, mug).json()
    Cart.objects.filter(id=old["cart_id"]).update(status=Cart.Status.CONVERTED)
    fresh = add(client, mug, **token_header(old["token"]))
    assert fresh.status_code == 201
    assert fresh.json()["token"] != old["token"]
    assert fresh.json()["cart_id"] != old["cart_id"]
    # The converted cart is no longer reachable.
    assert client.get(CART, **token_header(old["token"])).json()["id"] is None
    unknown = add(client, mug, **token_header("unknown-token"))
    assert unknown.status_code == 201
    assert Cart.objects.count() == 3


def test_lines_change_and_go(client, make_product):
    mug, tee = make_product(quantity=10, sku="MUG"), make_product(quantity=10, sku="TEE")
    token = add(client, mug, 1).json()["token"]
    tee_line = add(client, tee, 1, **token_header(token)).json()["id"]
    changed = patch(client, tee_line, 4, **token_header(token))
    assert changed.status_code == 200
    assert changed.json()["quantity"] == 4
    removed = client.delete(item(tee_line), **token_header(token))
    assert removed.status_code == 204
    assert lines(client.get(CART, **token_header(token))) == [("MUG", 1)]
    problem(client.delete(item(tee_line), **token_header(token)), 404, "cart_line_not_found")


def test_writes_without_a_cart_are_404(client, make_product):
    line = add(client, make_product()).json()["id"]
    problem(patch(client, line, 2), 404, "cart_not_found")
    problem(client.delete(item(line)), 404, "cart_not_found")
    problem(patch(client, line, 2, **token_header("unknown")), 404, "cart_not_found")
    assert CartLine.objects.get().quantity == 1


def test_last_activity_moves_on_every_write(client, make_product):
    mug = make_product(quantity=10)
    body = add(client, mug).json()
    long_ago = timezone.now() - timedelta(days=3)
    Cart.objects.filter(id=body["cart_id"]).update(last_activity_at=long_ago)
    patch(client, body["id"], 2, **token_header(body["token"]))
    assert Cart.objects.get().last_activity_at > long_ago + timedelta(days=2)


# --- quantities, stock and visibility ----------------------------------------------------------


def test_quantity_is_checked_against_availability(client, make_product):
    mug = make_product(quantity=5, reserved=2)
    body = problem(add(client, mug, 4), 409, "insufficient_stock")
    assert (body["available"], body["requested"]) == (3, 4)
    assert not Cart.objects.exists()

    token = add(client, mug, 2).json()["token"]
    more = problem(add(client, mug, 2, **token_header(token)), 409, "insufficient_stock")
    assert more["available"] == 3
    assert CartLine.objects.get().quantity == 2


def test_product_without_stock_row_is_out_of_stock(client, make_product):
    problem(add(client, make_product(quantity=None)), 409, "insufficient_stock")


@pytest.mark.parametrize("quantity", [0, -3])
def test_quantity_below_one_is_invalid(client, make_product, quantity):
    body = problem(add(client, make_product(), quantity), 400, "invalid")
    assert body["errors"][0]["field"] == "quantity"
    assert not Cart.objects.exists()


def test_quantity_must_be_a_number(client, make_product):
    problem(add(client, make_product(), "many"), 400, "validation_error")


def test_quantity_above_the_line_maximum(client, make_product, settings):
    settings.CART_LINE_MAX_QUANTITY = 5
    mug = make_product(quantity=100)
    assert problem(add(client, mug, 6), 400, "quantity_exceeds_maximum")["maximum"] == 5
    token = add(client, mug, 5).json()["token"]
    problem(add(client, mug, 1, **token_header(token)), 400, "quantity_exceeds_maximum")
    line = CartLine.objects.get()
    problem(patch(client, line.id, 6, **token_header(token)), 400, "quantity_exceeds_maximum")
    assert CartLine.objects.get().quantity == 5


def test_cart_holds_at_most_cart_max_lines(client, make_product, settings):
    settings.CART_MAX_LINES = 2
    token = add(client, make_product()).json()["token"]
    add(client, make_product(), **token_header(token))
    problem(add(client, make_product(), **token_header(token)), 409, "too_many_lines")
    assert CartLine.objects.count() == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"is_active": False},
        {"publish_at": timezone.now() + timedelta(days=1)},
        {"unpublish_at": timezone.now() - timedelta(days=1)},
    ],
)
def test_invisible_products_cannot_be_added(client, make_product, fields):
    problem(add(client, make_product(**fields)), 404, "product_not_found")
    assert not Cart.objects.exists()


def test_deleted_and_unknown_products_cannot_be_added(client, make_product):
    gone = make_product()
    gone.delete()
    problem(add(client, gone), 404, "product_not_found")
    response = client.post(
        "/api/v1/cart/items/",
        {"product": "01900000-0000-7000-8000-000000000000"},
        content_type="application/json",
    )
    problem(response, 404, "product_not_found")


def test_products_in_another_currency_do_not_mix(client, make_product):
    token = add(client, make_product(currency="EUR")).json()["token"]
    body = problem(
        add(client, make_product(currency="USD"), **token_header(token)), 409, "currency_mismatch"
    )
    assert body["currency"] == "EUR"


def test_prices_are_current_and_problems_are_flagged_not_dropped(client, make_product):
    mug = make_product("10.00", quantity=10, sku="MUG")
    tee = make_product("20.00", quantity=10, sku="TEE")
    cap = make_product("5.00", quantity=10, sku="CAP")
    token = add(client, mug, 2).json()["token"]
    add(client, tee, 3, **token_header(token))
    add(client, cap, 1, **token_header(token))

    mug.price = Decimal("11.00")
    mug.save()
    Stock.objects.filter(product=tee).update(quantity=2)
    cap.is_active = False
    cap.save()

    data = client.get(CART, **token_header(token)).json()
    by_sku = {line["product"]["sku"]: line for line in data["lines"]}
    assert [line["product"]["sku"] for line in data["lines"]] == ["MUG", "TEE", "CAP"]
    assert (by_sku["MUG"]["unit_price"], by_sku["MUG"]["line_total"]) == ("11.00", "22.00")
    assert by_sku["MUG"]["available"] is True
    assert by_sku["TEE"]["available"] is False
    assert by_sku["TEE"]["problems"] == [{"code": "insufficient_stock", "available": 2}]
    assert by_sku["CAP"]["available"] is False
    assert by_sku["CAP"]["problems"] == [{"code": "product_unavailable"}]
    # The hidden product is not charged; the short line is (checkout reserves or refuses).
    assert data["subtotal"] == "82.00"

    # Lowering a flagged line works; raising one whose product is hidden does not.
    cap_line = by_sku["CAP"]["id"]
    problem(patch(client, cap_line, 2, **token_header(token)), 404, "product_not_found")
    tee_line = by_sku["TEE"]["id"]
    assert patch(client, tee_line, 2, **token_header(token)).status_code == 200
    problem(patch(client, tee_line, 3, **token_header(token)), 409, "insufficient_stock")


def test_v2_shows_money_objects(client, make_product):
    mug = make_product("12.50", quantity=5)
    created = add(client, mug, 2, version="v2")
    assert created.status_code == 201
    assert created.json()["unit_price"] == {"amount": "12.50", "currency": "EUR"}
    assert "currency" not in created.json()
    data = client.get("/api/v2/cart/", **token_header(created.json()["token"])).json()
    assert data["lines"][0]["line_total"] == {"amount": "25.00", "currency": "EUR"}
    assert data["total"] == {"amount": "25.00", "currency": "EUR"}
    assert data["currency"] == "EUR"


def test_country_must_be_two_letters(client):
    problem(client.get(CART, {"country": "Germany"}), 400, "validation_error")


# --- customers ---------------------------------------------------------------------------------


def test_a_customer_has_one_active_cart(client, make_product, ada, bearer):
    mug, tee = make_product(sku="MUG"), make_product(sku="TEE")
    first = add(client, mug, **bearer(ada))
    assert first.status_code == 201
    assert "token" not in first.json()
    assert "X-Cart-Token" not in first
    add(client, tee, **bearer(ada))
    assert Cart.objects.filter(customer=ada).count() == 1
    data = client.get(CART, **bearer(ada)).json()
    assert "token" not in data
    assert [line["product"]["sku"] for line in data["lines"]] == ["MUG", "TEE"]


def test_one_active_cart_per_customer_is_a_database_rule(ada):
    from django.db import IntegrityError, transaction

    Cart.objects.create(customer=ada)
    with pytest.raises(IntegrityError), transaction.atomic():
        Cart.objects.create(customer=ada)
    Cart.objects.create(customer=ada, status=Cart.Status.CONVERTED)  # history is fine


def test_after_conversion_the_next_add_starts_a_new_cart(client, make_product, ada, bearer):
    import uuid

    from emporium.cart.services import cart_mark_converted

    mug = make_product()
    cart_id = add(client, mug, **bearer(ada)).json()["cart_id"]
    order_id = uuid.uuid4()
    cart_mark_converted(cart=Cart.objects.get(id=cart_id), order_id=order_id)
    converted = Cart.objects.get(id=cart_id)
    assert (converted.status, converted.converted_order_id) == ("converted", order_id)
    assert client.get(CART, **bearer(ada)).json()["id"] is None
    again = add(client, mug, **bearer(ada))
    assert again.status_code == 201
    assert again.json()["cart_id"] != cart_id


def test_customers_only_reach_their_own_cart(client, make_product, ada, bob, bearer):
    mug = make_product(quantity=10)
    adas_line = add(client, mug, 2, **bearer(ada)).json()
    adas_cart = Cart.objects.get(id=adas_line["cart_id"])
    # Bob with Ada's line id, and with Ada's cart token: neither reaches her cart.
    problem(patch(client, adas_line["id"], 5, **bearer(bob)), 404, "cart_not_found")
    add(client, mug, 1, **bearer(bob))
    problem(patch(client, adas_line["id"], 5, **bearer(bob)), 404, "cart_line_not_found")
    problem(client.delete(item(adas_line["id"]), **bearer(bob)), 404, "cart_line_not_found")
    bobs = client.get(CART, **bearer(bob), **token_header(adas_cart.token)).json()
    assert [line["quantity"] for line in bobs["lines"]] == [1]
    # Anonymous callers cannot use a customer's cart token either.
    assert client.get(CART, **token_header(adas_cart.token)).json()["id"] is None
    problem(
        patch(client, adas_line["id"], 5, **token_header(adas_cart.token)), 404, "cart_not_found"
    )
    assert CartLine.objects.get(id=adas_line["id"]).quantity == 2
    assert Cart.objects.get(id=adas_cart.id).customer == ada


def test_staff_use_their_own_cart_like_customers(client, make_product, make_user, ada, bearer):
    staff = make_user(email="staff@example.com", is_staff=True)
    line = add(client, make_product(), **bearer(ada)).json()["id"]
    problem(patch(client, line, 2, **bearer(staff)), 404, "cart_not_found")
    assert client.get(CART, **bearer(staff)).json()["id"] is None


def test_writes_count_against_the_cart_write_limit(client, make_product, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "cart_write": "2/min"}
    mug = make_product(quantity=10)
    token = add(client, mug).json()["token"]
    assert add(client, mug, **token_header(token)).status_code == 200
    limited = add(client, mug, **token_header(token))
    problem(limited, 429, "rate_limited")
    assert "Retry-After" in limited
    # Reads are not counted against it.
    assert client.get(CART, **token_header(token)).status_code == 200
    assert CartLine.objects.get().quantity == 2
