"""Discount codes on the cart, merging an anonymous cart at sign-in, and other shops' carts."""

from decimal import Decimal

import pytest
from django.utils import timezone

from emporium.cart.models import Cart, CartDiscount, CartLine
from emporium.cart.services import cart_merge_for_login
from emporium.cart.tests.helpers import (
    CART,
    add,
    discount,
    enter_code,
    item,
    patch,
    problem,
    token_header,
)
from emporium.core.context import tenant_context
from emporium.pricing.models import ShippingRate, TaxRate
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db


# --- discount codes ----------------------------------------------------------------------------


@pytest.fixture
def cart_token(client, make_product):
    return add(client, make_product("50.00", quantity=10), 2).json()["token"]


def test_a_code_is_entered_in_any_case_and_stored_normalised(client, cart_token, make_discount):
    make_discount("SAVE10", value="10")
    response = enter_code(client, " save10 ", **token_header(cart_token))
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["discounts"] == [{"code": "SAVE10", "kind": "percentage", "amount": "10.00"}]
    assert (data["subtotal"], data["discount_total"], data["total"]) == (
        "100.00",
        "10.00",
        "90.00",
    )
    assert list(CartDiscount.objects.values_list("code", flat=True)) == ["SAVE10"]
    # Entering it again changes nothing.
    assert enter_code(client, "Save10", **token_header(cart_token)).status_code == 200
    assert CartDiscount.objects.count() == 1


def test_refused_codes_are_400_with_the_reason(client, cart_token, make_discount):
    make_discount("OLD", ends_at=timezone.now() - timezone.timedelta(days=1))
    make_discount("BIG", minimum_subtotal=Decimal("500"), currency="EUR")
    problem(enter_code(client, "NOPE", **token_header(cart_token)), 400, "discount_not_found")
    problem(enter_code(client, "old", **token_header(cart_token)), 400, "discount_expired")
    problem(enter_code(client, "BIG", **token_header(cart_token)), 400, "discount_minimum_not_met")
    assert not CartDiscount.objects.exists()


def test_code_needs_a_cart_and_a_code(client, make_discount, cart_token):
    make_discount("SAVE10")
    problem(enter_code(client, "SAVE10"), 404, "cart_not_found")
    problem(enter_code(client, "", **token_header(cart_token)), 400, "validation_error")


def test_removing_a_code_is_case_insensitive(client, cart_token, make_discount):
    make_discount("SAVE10")
    enter_code(client, "SAVE10", **token_header(cart_token))
    problem(
        client.delete(discount("OTHER"), **token_header(cart_token)), 404, "discount_not_on_cart"
    )
    response = client.delete(discount("save10"), **token_header(cart_token))
    assert response.status_code == 204
    assert not CartDiscount.objects.exists()
    assert client.get(CART, **token_header(cart_token)).json()["discount_total"] == "0.00"
    problem(client.delete(discount("save10")), 404, "cart_not_found")


def test_a_code_that_stopped_applying_is_listed_as_rejected(client, cart_token, make_discount):
    code = make_discount("SAVE10")
    enter_code(client, "SAVE10", **token_header(cart_token))
    code.is_active = False
    code.save()
    data = client.get(CART, **token_header(cart_token)).json()
    assert data["discounts"] == []
    assert [r["code"] for r in data["rejected_discounts"]] == ["SAVE10"]
    assert data["total"] == "100.00"


def test_shipping_and_tax_follow_the_country(client, cart_token):
    ShippingRate.objects.create(country="DE", currency="EUR", amount=Decimal("4.90"))
    TaxRate.objects.create(country="DE", rate=Decimal("0.19"))
    data = client.get(CART, {"country": "de"}, **token_header(cart_token)).json()
    assert data["shipping_total"] == "4.90"
    assert Decimal(data["tax_total"]) > 0
    assert Decimal(data["total"]) == Decimal(data["subtotal"]) + Decimal(
        data["shipping_total"]
    ) + Decimal(data["tax_total"]) - Decimal(data["discount_total"])


# --- merge -------------------------------------------------------------------------------------


def test_sign_in_merges_the_anonymous_cart(
    client, make_product, make_discount, ada, bearer, settings
):
    settings.CART_LINE_MAX_QUANTITY = 6
    make_discount("SAVE10")
    mug = make_product(quantity=4, sku="MUG")
    tee = make_product(quantity=50, sku="TEE")
    cap = make_product(quantity=50, sku="CAP")
    add(client, mug, 1, **bearer(ada))
    add(client, tee, 4, **bearer(ada))
    token = add(client, mug, 4).json()["token"]
    add(client, tee, 5, **token_header(token))
    add(client, cap, 2, **token_header(token))
    enter_code(client, "save10", **token_header(token))
    anonymous = Cart.objects.get(token=token)

    merged = cart_merge_for_login(user=ada, token=token)

    assert merged is not None
    assert merged.customer_id == ada.id
    quantities = dict(CartLine.objects.filter(cart=merged).values_list("product__sku", "quantity"))
    # Summed, then clamped to availability (MUG: 4) and to the line maximum (TEE: 6).
    assert quantities == {"MUG": 4, "TEE": 6, "CAP": 2}
    assert list(CartDiscount.objects.filter(cart=merged).values_list("code", flat=True)) == [
        "SAVE10"
    ]
    anonymous.refresh_from_db()
    assert anonymous.status == Cart.Status.MERGED
    assert client.get(CART, **token_header(token)).json()["id"] is None
    # Merging twice changes nothing.
    assert cart_merge_for_login(user=ada, token=token) is None
    assert cart_merge_for_login(user=ada, token=None) is None


def test_a_customer_without_a_cart_takes_over_the_anonymous_one(client, make_product, ada):
    token = add(client, make_product(), 3).json()["token"]
    merged = cart_merge_for_login(user=ada, token=token)
    assert merged is not None
    assert merged.token == token
    assert merged.customer_id == ada.id
    assert Cart.objects.count() == 1
    assert client.get(CART, **token_header(token)).json()["id"] is None


def test_a_signed_in_request_with_a_cart_token_merges_lazily(client, make_product, ada, bearer):
    mug, tee = make_product(sku="MUG"), make_product(sku="TEE")
    add(client, mug, 1, **bearer(ada))
    token = add(client, tee, 2).json()["token"]
    response = client.get(CART, **bearer(ada), **token_header(token))
    assert [(line["product"]["sku"], line["quantity"]) for line in response.json()["lines"]] == [
        ("MUG", 1),
        ("TEE", 2),
    ]
    assert Cart.objects.get(token=token).status == Cart.Status.MERGED
    # A write works the same way.
    other = add(client, mug, 1).json()["token"]
    line = add(client, tee, 1, **bearer(ada), **token_header(other))
    assert line.json()["quantity"] == 3
    assert Cart.objects.get(token=other).status == Cart.Status.MERGED


def test_merge_keeps_a_sold_out_line_flagged_instead_of_dropping_it(client, make_product, ada):
    mug = make_product(quantity=2, sku="MUG")
    token = add(client, mug, 2).json()["token"]
    from emporium.inventory.models import Stock

    Stock.objects.filter(product=mug).update(quantity=0)
    merged = cart_merge_for_login(user=ada, token=token)
    assert merged is not None
    assert CartLine.objects.get(cart=merged).quantity == 2


# --- other shops ---------------------------------------------------------------------------------

OTHER_HOST = "other.shop.test"


@pytest.fixture
def other_shop(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, OTHER_HOST]
    return TenantDomainFactory(domain=OTHER_HOST).tenant


def test_a_cart_token_does_not_work_in_another_shop(client, make_product, other_shop):
    body = add(client, make_product(quantity=10), 2).json()
    token, line = body["token"], body["id"]
    host = {"HTTP_HOST": OTHER_HOST}
    assert client.get(CART, **host, **token_header(token)).json()["id"] is None
    problem(patch(client, line, 5, **host, **token_header(token)), 404, "cart_not_found")
    problem(client.delete(item(line), **host, **token_header(token)), 404, "cart_not_found")
    problem(enter_code(client, "X", **host, **token_header(token)), 404, "cart_not_found")
    assert CartLine.objects.get().quantity == 2


def test_products_of_another_shop_cannot_be_added(client, make_product, other_shop):
    with tenant_context(other_shop.id):
        theirs = make_product(quantity=10)
    problem(add(client, theirs), 404, "product_not_found")
    created = add(client, theirs, HTTP_HOST=OTHER_HOST)
    assert created.status_code == 201
    with tenant_context(other_shop.id):
        assert Cart.objects.count() == 1
    assert Cart.objects.count() == 0


def test_signing_in_with_the_cart_token_merges_through_the_login_endpoint(
    client, make_product, make_user
):
    ada = make_user(email="ada.login@example.com", password="a-long-password-1")
    mug = make_product(sku="MUG-LOGIN")
    token = add(client, mug, 2).json()["token"]

    signed_in = client.post(
        "/api/v1/auth/token/",
        {"email": "ada.login@example.com", "password": "a-long-password-1"},
        content_type="application/json",
        **token_header(token),
    )

    assert signed_in.status_code == 200, signed_in.content
    access = signed_in.json()["access"]
    cart = client.get(CART, HTTP_AUTHORIZATION=f"Bearer {access}").json()
    assert [(line["product"]["sku"], line["quantity"]) for line in cart["lines"]] == [
        ("MUG-LOGIN", 2)
    ]
    assert Cart.objects.get(token=token).customer_id == ada.id
