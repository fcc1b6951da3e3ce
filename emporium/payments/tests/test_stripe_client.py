"""The Stripe client against a local Stripe-compatible server: amounts, idempotency, retries."""

from decimal import Decimal

import pytest
import stripe

from emporium.core.tasks import TransientError
from emporium.payments.models import Payment, Refund
from emporium.payments.services import payment_intent_create, refund_send
from emporium.payments.stripe_client import from_minor_units, to_minor_units

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.34", "EUR", 1234),
        ("12.345", "eur", 1235),  # ROUND_HALF_UP at the boundary
        ("0.005", "USD", 1),
        ("1500", "JPY", 1500),  # zero-decimal: whole units
        ("1500.5", "JPY", 1501),
        ("1.234", "KWD", 1230),  # three decimals, multiples of ten
        ("1.235", "KWD", 1240),
    ],
)
def test_amounts_cross_to_minor_units(amount, currency, minor):
    assert to_minor_units(Decimal(amount), currency) == minor


def test_minor_units_come_back_as_decimals():
    assert from_minor_units(1235, "EUR") == Decimal("12.35")
    assert from_minor_units(1500, "JPY") == Decimal("1500.00")


@pytest.fixture
def order(make_user, make_product, place_order):
    return place_order(make_user(), {make_product(price="19.99"): 2})


def test_payment_intent_is_created_once_per_order(order, fake_stripe):
    payment = payment_intent_create(order=order)
    assert payment.amount == Decimal("39.98")
    assert payment.client_secret.startswith(payment.intent_id)
    [request] = fake_stripe.requests
    assert request["authorization"] == "Bearer sk_test_emporium_fake"
    assert request["params"]["amount"] == "3998"

    # Our row lost (a crash after Stripe answered): a retry gets the same intent back.
    Payment.objects.all().delete()
    again = payment_intent_create(order=order)
    assert again.intent_id == payment.intent_id
    assert len(fake_stripe.intents) == 1
    assert {r["idempotency_key"] for r in fake_stripe.requests} == {
        f"order-{order.pk}-payment-intent"
    }


def test_server_errors_are_retried_with_the_same_key(order, fake_stripe):
    fake_stripe.fail_next(2)
    payment = payment_intent_create(order=order)
    assert fake_stripe.paths() == ["/v1/payment_intents"] * 3
    assert len({r["idempotency_key"] for r in fake_stripe.requests}) == 1
    assert len(fake_stripe.intents) == 1
    assert Payment.objects.get().intent_id == payment.intent_id


def test_giving_up_after_the_retries_raises_and_records_nothing(order, fake_stripe):
    fake_stripe.fail_next(3)
    with pytest.raises(stripe.APIError):
        payment_intent_create(order=order)
    assert len(fake_stripe.requests) == 3
    assert not Payment.objects.exists()


def test_refund_is_sent_once_and_recorded(order, fake_stripe):
    payment = Payment.objects.create(
        order=order, intent_id="pi_x", amount=order.total, currency="EUR", status="succeeded"
    )
    refund = Refund.objects.create(payment=payment, amount=order.total, currency="EUR")
    sent = refund_send(refund_id=refund.pk)
    assert sent.status == "succeeded"
    assert sent.provider_refund_id.startswith("re_")
    assert refund_send(refund_id=refund.pk).status == "succeeded"  # a second run sends nothing
    assert len(fake_stripe.requests) == 1


def test_refund_failing_transiently_is_left_for_the_task_retry(order, fake_stripe):
    payment = Payment.objects.create(
        order=order, intent_id="pi_x", amount=order.total, currency="EUR", status="succeeded"
    )
    refund = Refund.objects.create(payment=payment, amount=order.total, currency="EUR")
    fake_stripe.fail_next(3)
    with pytest.raises(TransientError):
        refund_send(refund_id=refund.pk)
    refund.refresh_from_db()
    assert (refund.status, refund.last_error) == ("requested", "APIError")
    assert refund_send(refund_id=refund.pk).status == "succeeded"  # the retry
    assert len(fake_stripe.refunds) == 1


def test_refund_refused_by_stripe_is_marked_failed(order, fake_stripe):
    payment = Payment.objects.create(
        order=order, intent_id="pi_x", amount=order.total, currency="EUR", status="succeeded"
    )
    refund = Refund.objects.create(payment=payment, amount=order.total, currency="EUR")
    fake_stripe.refuse_refunds = True
    assert refund_send(refund_id=refund.pk).status == "failed"
    refund.refresh_from_db()
    assert refund.last_error == "charge_already_refunded"


def test_refund_task_retries_on_transient_errors():
    from emporium.payments.tasks import send_refund

    assert TransientError in send_refund.autoretry_for
    assert send_refund.max_retries > 0
