"""Checkout, discounts and cancellation under real concurrency (PostgreSQL, threads)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from conftest import service_unavailable
from emporium.core.context import tenant_context
from emporium.core.errors import ApplicationError
from emporium.inventory.models import InventoryMovement, Stock
from emporium.orders.models import Order
from emporium.orders.services import order_cancel, order_create_from_cart
from emporium.orders.tests.fixtures import CHECKOUT
from emporium.payments.models import Payment, Refund
from emporium.payments.services import stripe_event_process
from emporium.pricing.models import Discount, DiscountUsage
from emporium.tenants.models import DEFAULT_TENANT_ID

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL")


def run_together(jobs):
    """Run callables in threads released at once; returns their results (or exceptions)."""
    barrier = threading.Barrier(len(jobs), timeout=60)
    results = [None] * len(jobs)

    def work(index, job):
        try:
            with tenant_context(DEFAULT_TENANT_ID):
                barrier.wait()
                results[index] = job()
        except Exception as error:  # compared by the test
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert all(not thread.is_alive() for thread in threads)
    return results


def checkout_job(cart, customer):
    def job():
        return order_create_from_cart(
            cart=cart,
            customer=customer,
            shipping_country=CHECKOUT["shipping_country"],
            shipping_address=CHECKOUT["shipping_address"],
        )

    return job


def codes_of(results):
    return [r.code for r in results if isinstance(r, ApplicationError)]


def test_fifty_checkouts_for_ten_units_make_exactly_ten_orders(
    make_user, make_product, make_cart, settings, eager_tasks
):
    settings.STRIPE_SECRET_KEY = None
    product = make_product(quantity=10)
    customers = [make_user(email=f"c{n}@example.com") for n in range(50)]
    jobs = [checkout_job(make_cart(c, {product: 1}), c) for c in customers]

    results = run_together(jobs)

    orders = [r for r in results if isinstance(r, Order)]
    assert len(orders) == 10, results
    assert codes_of(results) == ["insufficient_stock"] * 40
    assert Order.objects.count() == 10
    stock = Stock.objects.get(product=product)
    assert (stock.quantity, stock.reserved) == (10, 10)
    moves = InventoryMovement.objects.filter(product=product)
    assert sum(m.reserved_delta for m in moves) == stock.reserved
    assert sum(m.quantity_delta for m in moves) == 0
    assert {m.order_id for m in moves} == {o.pk for o in orders}


def test_a_discount_limited_to_five_uses_is_used_five_times(
    make_user, make_product, make_cart, make_discount, settings, eager_tasks
):
    settings.STRIPE_SECRET_KEY = None
    discount = make_discount(code="FIVE", value="10", usage_limit=5)
    product = make_product(quantity=100)
    customers = [make_user(email=f"d{n}@example.com") for n in range(20)]
    jobs = [checkout_job(make_cart(c, {product: 1}, codes=["FIVE"]), c) for c in customers]

    results = run_together(jobs)

    orders = [r for r in results if isinstance(r, Order)]
    assert len(orders) == 5, results
    assert codes_of(results) == ["discount_exhausted"] * 15
    discount = Discount.objects.get(pk=discount.pk)
    assert discount.times_used == 5
    assert DiscountUsage.objects.count() == 5
    assert all(o.discount_total == Decimal("1.00") for o in orders)
    # The refused checkouts held nothing back.
    assert Stock.objects.get(product=product).reserved == 5


def test_cancel_racing_the_payment_webhook_ends_cancelled_restocked_and_refunded(
    make_user, make_product, place_order, fake_stripe, eager_tasks
):
    customer = make_user()
    product = make_product(quantity=20)
    rounds = 6
    orders = []
    for _ in range(rounds):
        orders.append(place_order(customer, {product: 2}))  # its intent is created on commit

    for n, order in enumerate(orders):
        intent_id = Payment.objects.get(order=order).intent_id
        succeeded = {
            "id": f"evt_race_{n}",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "status": "succeeded",
                    "metadata": {"order_id": str(order.pk), "tenant_id": str(order.tenant_id)},
                }
            },
        }
        jobs = [
            lambda order=order: order_cancel(order=order, actor=customer),
            lambda succeeded=succeeded: stripe_event_process(event=succeeded),
        ]
        results = run_together(jobs)
        assert not any(isinstance(r, Exception) for r in results), results

    # Cancellation wins whichever came first: released (cancel first, the late payment is
    # refunded) or committed then restocked (payment first, the cancel refunds it).
    for order in orders:
        order.refresh_from_db()
        assert order.status == "cancelled"
        assert order.stock_state in {"released", "restocked"}
        payment = Payment.objects.get(order=order)
        assert payment.status == "succeeded"
        [refund] = Refund.objects.filter(payment=payment)
        assert refund.status == "succeeded"
        assert refund.amount == order.total
    stock = Stock.objects.get(product=product)
    assert (stock.quantity, stock.reserved) == (20, 0)
    moves = InventoryMovement.objects.filter(product=product)
    assert sum(m.quantity_delta for m in moves) == 0
    assert sum(m.reserved_delta for m in moves) == 0
    assert len(fake_stripe.refunds) == rounds
