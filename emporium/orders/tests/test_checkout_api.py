"""Checkout through HTTP: `POST /api/v1/orders/` and every way it can be refused."""

import pytest
from django.core import mail

from emporium.cart.models import Cart
from emporium.core.models import OutboxEvent
from emporium.inventory.models import InventoryMovement
from emporium.orders.models import Order, OrderStatusChange
from emporium.orders.tests.fixtures import CHECKOUT, stock_of
from emporium.payments.models import Payment

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


def checkout(client, headers, key="key-1", body=None, path=ORDERS):
    return client.post(
        path,
        body if body is not None else CHECKOUT,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **headers,
    )


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com")


# Committed for real: the PaymentIntent is created after commit, before the response is sent.
@pytest.mark.django_db(transaction=True)
def test_checkout_creates_a_pending_order_with_a_payment_intent(
    client, bearer, ada, make_product, make_cart, rates, fake_stripe, eager_tasks
):
    shoe = make_product(price="30.00", quantity=5, name="Shoe")
    hat = make_product(price="12.50", quantity=5, name="Hat")
    cart = make_cart(ada, {shoe: 2, hat: 1})

    response = checkout(client, bearer(ada))

    assert response.status_code == 201, response.json()
    body = response.json()
    order = Order.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/v1/orders/{order.pk}/"
    assert body["status"] == "pending_payment"
    assert body["number"] == order.number
    assert body["subtotal"] == "72.50"
    assert body["shipping_total"] == "4.90"
    assert body["tax_total"] == "14.71"  # 19 % of 77.40
    assert body["total"] == "92.11"
    assert body["currency"] == "EUR"
    assert [(line["name"], line["quantity"], line["unit_price"]) for line in body["lines"]] == [
        ("Shoe", 2, "30.00"),
        ("Hat", 1, "12.50"),
    ]
    assert body["shipping_address"] == CHECKOUT["shipping_address"]
    assert body["email"] == "ada@example.com"

    # The PaymentIntent: amount in cents, the order in its metadata, one idempotency key.
    payment = Payment.objects.get(order=order)
    assert body["payment"] == {
        "provider": "stripe",
        "status": "pending",
        "client_secret": payment.client_secret,
    }
    [request] = fake_stripe.requests
    assert request["path"] == "/v1/payment_intents"
    assert request["params"]["amount"] == "9211"
    assert request["params"]["currency"] == "eur"
    assert request["params"]["automatic_payment_methods"] == {"enabled": "true"}
    assert request["params"]["metadata"] == {
        "order_id": str(order.pk),
        "order_number": order.number,
        "tenant_id": str(order.tenant_id),
    }
    assert request["idempotency_key"] == f"order-{order.pk}-payment-intent"

    # Stock reserved, the cart converted, history, outbox and the confirmation email.
    assert (stock_of(shoe).quantity, stock_of(shoe).reserved) == (5, 2)
    assert (stock_of(hat).quantity, stock_of(hat).reserved) == (5, 1)
    cart.refresh_from_db()
    assert cart.status == Cart.Status.CONVERTED
    assert cart.converted_order_id == order.pk
    assert list(OrderStatusChange.objects.values_list("from_status", "to_status")) == [
        ("", "pending_payment")
    ]
    assert OutboxEvent.objects.filter(name="order.pending_payment").count() == 1
    [email] = mail.outbox
    assert email.to == ["ada@example.com"]
    assert order.number in email.subject
    assert "Shoe" in email.body


def test_checkout_money_is_an_object_in_v2(client, bearer, ada, make_product, make_cart, settings):
    settings.STRIPE_SECRET_KEY = None
    make_cart(ada, {make_product(price="10.00"): 3})
    response = checkout(client, bearer(ada), path="/api/v2/orders/")
    assert response.status_code == 201
    assert response.json()["total"] == {"amount": "30.00", "currency": "EUR"}
    assert response.json()["lines"][0]["unit_price"] == "10.00"


def test_without_stripe_the_order_waits_without_a_payment(
    client, bearer, ada, make_product, make_cart, settings, django_capture_on_commit_callbacks
):
    settings.STRIPE_SECRET_KEY = None
    make_cart(ada, {make_product(): 1})
    with django_capture_on_commit_callbacks(execute=True):
        response = checkout(client, bearer(ada))
    assert response.status_code == 201
    assert response.json()["status"] == "pending_payment"
    assert response.json()["payment"] is None


@pytest.mark.django_db(transaction=True)
def test_stripe_down_still_answers_with_the_order_and_retries_later(
    client, bearer, ada, make_product, make_cart, fake_stripe, monkeypatch
):
    from emporium.payments import tasks

    queued = []
    monkeypatch.setattr(tasks.create_payment_intent, "delay", queued.append)
    fake_stripe.fail_next(3)  # the first try and both of the client's retries
    make_cart(ada, {make_product(): 1})
    response = checkout(client, bearer(ada))
    assert response.status_code == 201
    assert response.json()["payment"] is None
    assert queued == [response.json()["id"]]

    tasks.create_payment_intent(response.json()["id"])  # what the worker does next
    detail = client.get(f"{ORDERS}{response.json()['id']}/", **bearer(ada)).json()
    assert detail["payment"]["client_secret"].startswith("pi_")


def test_anonymous_caller_gets_401(client, make_product):
    response = checkout(client, {})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert Order.objects.count() == 0


def test_idempotency_key_is_required(client, bearer, ada, make_product, make_cart):
    make_cart(ada, {make_product(): 1})
    response = client.post(ORDERS, CHECKOUT, content_type="application/json", **bearer(ada))
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert Order.objects.count() == 0


def test_a_retried_checkout_replays_the_first_answer(
    client, bearer, ada, make_product, make_cart, settings
):
    settings.STRIPE_SECRET_KEY = None
    product = make_product(quantity=5)
    make_cart(ada, {product: 2})
    headers = bearer(ada)  # the same token: keys are scoped by caller
    first = checkout(client, headers, key="same")
    again = checkout(client, headers, key="same")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1
    assert stock_of(product).reserved == 2


def test_a_second_checkout_with_a_new_key_finds_the_cart_gone(
    client, bearer, ada, make_product, make_cart, settings
):
    settings.STRIPE_SECRET_KEY = None
    make_cart(ada, {make_product(): 1})
    assert checkout(client, bearer(ada), key="one").status_code == 201
    response = checkout(client, bearer(ada), key="two")
    assert response.status_code == 400
    assert response.json()["code"] == "cart_empty"
    assert Order.objects.count() == 1


def test_empty_cart_is_refused(client, bearer, ada, make_cart):
    make_cart(ada, {})
    response = checkout(client, bearer(ada))
    assert response.status_code == 400
    assert response.json()["code"] == "cart_empty"
    assert Order.objects.count() == 0


def test_no_cart_at_all_is_an_empty_cart(client, bearer, ada):
    response = checkout(client, bearer(ada))
    assert response.status_code == 400
    assert response.json()["code"] == "cart_empty"


def test_invalid_body_names_the_fields(client, bearer, ada, make_product, make_cart):
    make_cart(ada, {make_product(): 1})
    response = checkout(client, bearer(ada), body={"shipping_country": "Germany"})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {
        "shipping_country",
        "shipping_address",
    }


def test_out_of_stock_is_a_409_listing_the_shortages_and_nothing_is_held(
    client, bearer, ada, make_product, make_cart
):
    plenty = make_product(quantity=10)
    scarce = make_product(quantity=1, sku="SCARCE")
    cart = make_cart(ada, {plenty: 2, scarce: 3})

    response = checkout(client, bearer(ada))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock"
    assert body["shortages"] == [
        {"product_id": str(scarce.pk), "sku": "SCARCE", "requested": 3, "available": 1}
    ]
    assert stock_of(plenty).reserved == 0
    assert stock_of(scarce).reserved == 0
    assert not InventoryMovement.objects.exists()
    cart.refresh_from_db()
    assert cart.status == Cart.Status.ACTIVE
    assert Order.objects.count() == 0


def test_product_without_stock_row_is_out_of_stock(client, bearer, ada, make_product, make_cart):
    make_cart(ada, {make_product(quantity=None): 1})
    response = checkout(client, bearer(ada))
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"


def test_product_deleted_since_it_was_added_is_refused(
    client, bearer, ada, make_product, make_cart
):
    product = make_product()
    make_cart(ada, {product: 1})
    product.delete()
    response = checkout(client, bearer(ada))
    assert response.status_code == 409
    assert response.json()["code"] == "product_unavailable"
    assert Order.objects.count() == 0


def test_expired_discount_fails_the_checkout(
    client, bearer, ada, make_product, make_cart, make_discount
):
    from django.utils import timezone

    make_discount(code="OLD", ends_at=timezone.now() - timezone.timedelta(minutes=1))
    product = make_product()
    make_cart(ada, {product: 1}, codes=["old"])
    response = checkout(client, bearer(ada))
    assert response.status_code == 409
    assert response.json()["code"] == "discount_expired"
    assert stock_of(product).reserved == 0
    assert Order.objects.count() == 0


def test_exhausted_discount_fails_the_checkout(
    client, bearer, ada, make_user, make_product, make_cart, make_discount, settings
):
    settings.STRIPE_SECRET_KEY = None
    make_discount(code="ONCE", usage_limit=1)
    grace = make_user(email="grace@example.com")
    make_cart(grace, {make_product(): 1}, codes=["ONCE"])
    assert checkout(client, bearer(grace)).status_code == 201

    product = make_product()
    make_cart(ada, {product: 1}, codes=["once"])
    response = checkout(client, bearer(ada))
    assert response.status_code == 409
    assert response.json()["code"] == "discount_exhausted"
    assert stock_of(product).reserved == 0
    assert Order.objects.count() == 1


def test_discount_is_snapshotted_on_the_order(
    client, bearer, ada, make_product, make_cart, make_discount, settings
):
    settings.STRIPE_SECRET_KEY = None
    make_discount(code="SAVE10", kind="percentage", value="10")
    make_cart(ada, {make_product(price="20.00"): 2}, codes=["save10"])
    body = checkout(client, bearer(ada)).json()
    assert body["discount_total"] == "4.00"
    assert body["total"] == "36.00"
    assert body["discounts"] == [{"code": "SAVE10", "kind": "percentage", "amount": "4.00"}]
    assert body["lines"][0]["discount_amount"] == "4.00"
    assert body["lines"][0]["line_total"] == "36.00"


def test_query_count_does_not_grow_with_the_number_of_lines(
    ada, make_product, make_cart, make_discount, settings, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from emporium.orders.services import order_create_from_cart

    settings.STRIPE_SECRET_KEY = None
    make_discount(code="SAVE10")
    counts = []
    for size in (1, 10):
        cart = make_cart(ada, {make_product(): 1 for _ in range(size)}, codes=["SAVE10"])
        with CaptureQueriesContext(connection) as queries:
            order_create_from_cart(
                cart=cart,
                customer=ada,
                shipping_country="DE",
                shipping_address={"city": "Berlin"},
            )
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_checkouts_count_against_the_checkout_rate_limit_and_reads_do_not(
    client, bearer, ada, make_product, make_cart, settings
):
    settings.STRIPE_SECRET_KEY = None
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "checkout": "1/min"}
    headers = bearer(ada)
    make_cart(ada, {make_product(): 1})
    assert checkout(client, headers, key="a").status_code == 201
    make_cart(ada, {make_product(): 1})
    limited = checkout(client, headers, key="b")
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert Order.objects.count() == 1
    for _ in range(3):
        assert client.get(ORDERS, **headers).status_code == 200
