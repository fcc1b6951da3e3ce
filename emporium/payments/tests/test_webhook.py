"""The Stripe webhook through the real endpoint, with payloads signed as Stripe signs them."""

import logging
import time

import pytest

from emporium.core.context import tenant_context
from emporium.inventory.models import InventoryMovement
from emporium.orders.models import Order
from emporium.orders.services import order_cancel
from emporium.orders.tests.fixtures import stock_of
from emporium.payments.models import Payment, Refund, StripeEvent
from emporium.payments.tests.fake_stripe import event, sign
from emporium.pricing.models import DiscountUsage
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/payments/stripe/webhook/"


def deliver(client, body, signature=None, **extra):
    headers = {"HTTP_STRIPE_SIGNATURE": signature if signature is not None else sign(body)}
    return client.post(WEBHOOK, body, content_type="application/json", **headers, **extra)


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com")


@pytest.fixture
def product(make_product):
    return make_product(quantity=5)


@pytest.fixture
def order(fake_stripe, ada, product, make_discount, place_order):
    make_discount(code="SAVE10")
    order = place_order(ada, {product: 2}, codes=["SAVE10"])
    Payment.objects.create(
        order=order,
        intent_id="pi_123",
        amount=order.total,
        currency=order.currency,
        client_secret="pi_123_secret",
    )
    return order


def intent(order, status="succeeded", intent_id="pi_123"):
    return {
        "id": intent_id,
        "object": "payment_intent",
        "status": status,
        "amount": int(order.total * 100),
        "currency": "eur",
        "metadata": {
            "order_id": str(order.pk),
            "order_number": order.number,
            "tenant_id": str(order.tenant_id),
        },
    }


def test_payment_succeeded_marks_the_order_paid_and_commits_stock(client, order, product):
    response = deliver(client, event("payment_intent.succeeded", intent(order)))
    assert response.status_code == 200
    assert response.json()["outcome"] == "processed"
    order.refresh_from_db()
    assert (order.status, order.stock_state) == ("paid", "committed")
    assert (stock_of(product).quantity, stock_of(product).reserved) == (3, 0)
    payment = Payment.objects.get()
    assert (payment.status, payment.client_secret) == ("succeeded", "")
    assert StripeEvent.objects.get().processed_at is not None


def test_a_replayed_event_changes_nothing(client, order, product):
    body = event("payment_intent.succeeded", intent(order), event_id="evt_once")
    assert deliver(client, body).json()["outcome"] == "processed"
    again = deliver(client, body)
    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert (stock_of(product).quantity, stock_of(product).reserved) == (3, 0)
    assert InventoryMovement.objects.filter(order_id=order.pk, reason="commit").count() == 1
    assert StripeEvent.objects.count() == 1


def test_a_second_success_event_does_not_commit_twice(client, order, product):
    deliver(client, event("payment_intent.succeeded", intent(order)))
    deliver(client, event("payment_intent.succeeded", intent(order)))
    assert stock_of(product).quantity == 3
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("event_type", "intent_status", "payment_status"),
    [
        ("payment_intent.payment_failed", "requires_payment_method", "failed"),
        ("payment_intent.canceled", "canceled", "canceled"),
    ],
)
def test_payment_failure_releases_stock_and_discount(
    client, order, product, event_type, intent_status, payment_status
):
    response = deliver(client, event(event_type, intent(order, status=intent_status)))
    assert response.status_code == 200
    order.refresh_from_db()
    assert (order.status, order.stock_state) == ("payment_failed", "released")
    assert (stock_of(product).quantity, stock_of(product).reserved) == (5, 0)
    assert not DiscountUsage.objects.exists()
    assert Payment.objects.get().status == payment_status


def test_a_late_failure_never_undoes_a_payment(client, order, product):
    deliver(client, event("payment_intent.succeeded", intent(order)))
    deliver(client, event("payment_intent.payment_failed", intent(order, status="failed")))
    order.refresh_from_db()
    assert order.status == "paid"
    assert (stock_of(product).quantity, stock_of(product).reserved) == (3, 0)
    assert Payment.objects.get().status == "succeeded"


def test_payment_for_a_cancelled_order_is_refunded(
    client, order, ada, product, fake_stripe, eager_tasks, django_capture_on_commit_callbacks
):
    order_cancel(order=order, actor=ada)
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, event("payment_intent.succeeded", intent(order)))
    assert response.status_code == 200
    order.refresh_from_db()
    assert (order.status, order.stock_state) == ("cancelled", "released")
    assert (stock_of(product).quantity, stock_of(product).reserved) == (5, 0)
    [refund] = Refund.objects.all()
    assert refund.status == "succeeded"
    assert fake_stripe.paths() == ["/v1/refunds"]


def test_charge_refunded_records_the_refund(client, order, ada):
    deliver(client, event("payment_intent.succeeded", intent(order)))
    order_cancel(order=order, actor=ada)  # requests the refund
    [requested] = Refund.objects.all()
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_123",
        "amount": int(order.total * 100),
        "amount_refunded": int(order.total * 100),
        "refunded": True,
        "metadata": {},
    }
    assert deliver(client, event("charge.refunded", charge)).status_code == 200
    requested.refresh_from_db()
    assert requested.status == "succeeded"
    assert Payment.objects.get().status == "refunded"
    assert Refund.objects.count() == 1


def test_refund_made_in_the_stripe_dashboard_is_recorded(client, order):
    deliver(client, event("payment_intent.succeeded", intent(order)))
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_123",
        "amount": int(order.total * 100),
        "amount_refunded": 500,
        "refunded": False,
    }
    deliver(client, event("charge.refunded", charge))
    [refund] = Refund.objects.all()
    assert (str(refund.amount), refund.status) == ("5.00", "succeeded")
    assert Payment.objects.get().status == "succeeded"  # partly refunded


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "t=1,v1=deadbeef",
        sign('{"other": "payload"}'),
        sign("x", secret="whsec_wrong"),
    ],
)
def test_bad_signatures_are_refused_and_nothing_is_stored(client, order, signature):
    body = event("payment_intent.succeeded", intent(order))
    response = deliver(client, body, signature=signature)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists()
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_a_signature_older_than_the_tolerance_is_refused(client, order, settings):
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    body = event("payment_intent.succeeded", intent(order))
    stale = sign(body, timestamp=int(time.time()) - 301)
    response = deliver(client, body, signature=stale)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert not StripeEvent.objects.exists()


def test_missing_signature_header_is_refused(client, order):
    response = client.post(
        WEBHOOK, event("payment_intent.succeeded", intent(order)), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"


def test_unhandled_event_types_are_acknowledged_and_logged(client, order, caplog):
    body = event("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_cus")
    with caplog.at_level(logging.INFO):
        response = deliver(client, body)
    assert response.status_code == 200
    assert response.json()["outcome"] in {"unhandled", "unknown_tenant"}
    assert "customer.created" in caplog.text
    assert "evt_cus" in caplog.text


def test_event_of_an_unknown_shop_is_acknowledged_without_changes(client, order):
    foreign = intent(order, intent_id="pi_elsewhere")
    foreign["metadata"] = {"tenant_id": "00000000-0000-7000-8000-00000000dead"}
    response = deliver(client, event("payment_intent.succeeded", foreign))
    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown_tenant"
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_the_events_shop_is_used_whatever_host_stripe_calls(
    client, make_user, make_product, place_order, fake_stripe
):
    shop_b = TenantFactory()
    with tenant_context(shop_b.id):
        customer = make_user(email="b@example.com")
        product = make_product(quantity=3)
        order_b = place_order(customer, {product: 1})
        Payment.objects.create(
            order=order_b, intent_id="pi_b", amount=order_b.total, currency="EUR"
        )
    response = deliver(client, event("payment_intent.succeeded", intent(order_b, intent_id="pi_b")))
    assert response.status_code == 200
    with tenant_context(shop_b.id):
        assert Order.objects.get(pk=order_b.pk).status == "paid"


def test_webhook_not_configured_is_a_503(client, order, settings):
    settings.STRIPE_WEBHOOK_SECRET = None
    response = deliver(client, event("payment_intent.succeeded", intent(order)))
    assert response.status_code == 503
    assert response.json()["code"] == "webhook_not_configured"
