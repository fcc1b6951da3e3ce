"""Claiming and releasing discount uses for orders, including under real concurrency."""

import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from emporium.core.context import tenant_context
from emporium.pricing.models import Discount, DiscountUsage
from emporium.pricing.quotes import (
    AppliedDiscount,
    DiscountRejected,
    discount_usage_claim,
    discount_usage_release,
)
from emporium.tenants.models import DEFAULT_TENANT_ID


def applied_of(discount):
    return AppliedDiscount(
        discount_id=discount.id, code=discount.code, kind=discount.kind, amount=Decimal("1.00")
    )


def claim(discount, order_id, customer_id=None):
    with transaction.atomic():
        discount_usage_claim(
            applied=[applied_of(discount)], customer_id=customer_id, order_id=order_id
        )


@pytest.mark.django_db
def test_claim_counts_and_release_gives_back_once(make_discount, make_user):
    ada = make_user()
    first = make_discount("FIRST", usage_limit=5)
    second = make_discount("SECOND", stackable=True)
    order_id = uuid.uuid4()
    with transaction.atomic():
        discount_usage_claim(
            applied=[applied_of(first), applied_of(second)], customer_id=ada.id, order_id=order_id
        )
    claim(first, order_id, ada.id)  # the same order again: nothing more
    first.refresh_from_db()
    assert first.times_used == 1
    assert DiscountUsage.objects.filter(order_id=order_id, customer=ada).count() == 2
    for _ in range(2):
        with transaction.atomic():
            discount_usage_release(order_id=order_id)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.times_used, second.times_used) == (0, 0)
    assert not DiscountUsage.objects.filter(order_id=order_id).exists()


@pytest.mark.django_db
def test_total_limit_is_a_conflict(make_discount):
    discount = make_discount("TWICE", usage_limit=2)
    claim(discount, uuid.uuid4())
    claim(discount, uuid.uuid4())
    with pytest.raises(DiscountRejected) as caught:
        claim(discount, uuid.uuid4())
    assert (caught.value.code, caught.value.status) == ("discount_exhausted", 409)
    discount.refresh_from_db()
    assert discount.times_used == 2


@pytest.mark.django_db
def test_per_customer_limit_is_a_conflict(make_discount, make_user):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    discount = make_discount("WELCOME", usage_limit_per_customer=1)
    claim(discount, uuid.uuid4(), ada.id)
    with pytest.raises(DiscountRejected) as caught:
        claim(discount, uuid.uuid4(), ada.id)
    assert (caught.value.code, caught.value.status) == ("discount_exhausted", 409)
    with pytest.raises(DiscountRejected) as caught:
        claim(discount, uuid.uuid4(), None)  # anonymous uses cannot be counted per customer
    assert caught.value.code == "discount_not_applicable"
    claim(discount, uuid.uuid4(), bob.id)
    discount.refresh_from_db()
    assert discount.times_used == 2


@pytest.mark.django_db
def test_a_failed_claim_writes_nothing(make_discount):
    fine = make_discount("FINE", stackable=True)
    used_up = make_discount("USEDUP", usage_limit=1, stackable=True)
    claim(used_up, uuid.uuid4())
    order_id = uuid.uuid4()
    with pytest.raises(DiscountRejected), transaction.atomic():
        discount_usage_claim(
            applied=[applied_of(fine), applied_of(used_up)], customer_id=None, order_id=order_id
        )
    fine.refresh_from_db()
    assert fine.times_used == 0
    assert not DiscountUsage.objects.filter(order_id=order_id).exists()


@pytest.mark.django_db
def test_deactivated_or_expired_discount_cannot_be_claimed(make_discount):
    inactive = make_discount("OFF", is_active=False)
    with pytest.raises(DiscountRejected) as caught:
        claim(inactive, uuid.uuid4())
    assert (caught.value.code, caught.value.status) == ("discount_not_found", 409)
    expired = make_discount("PAST", ends_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(DiscountRejected) as caught:
        claim(expired, uuid.uuid4())
    assert (caught.value.code, caught.value.status) == ("discount_expired", 409)


@pytest.mark.django_db(transaction=True)
def test_claim_outside_a_transaction_is_refused(make_discount):
    discount = make_discount("SAVE")
    with pytest.raises(RuntimeError):
        discount_usage_claim(
            applied=[applied_of(discount)], customer_id=None, order_id=uuid.uuid4()
        )


def _race(discount, customer_ids):
    """Each thread claims for its own order in its own transaction; returns the outcomes."""
    outcomes = []
    lock = threading.Lock()
    start = threading.Barrier(len(customer_ids))

    def worker(customer_id):
        try:
            with tenant_context(DEFAULT_TENANT_ID):
                start.wait(timeout=30)
                try:
                    claim(discount, uuid.uuid4(), customer_id)
                    outcome = "ok"
                except DiscountRejected as exc:
                    outcome = exc.code
                with lock:
                    outcomes.append(outcome)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(cid,)) for cid in customer_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are only meaningful on PostgreSQL")


@pytest.mark.django_db(transaction=True)
def test_total_limit_holds_under_concurrency(make_discount):
    _postgresql_only()
    discount = make_discount("FIVE", usage_limit=5)
    outcomes = _race(discount, [None] * 20)
    assert sorted(outcomes) == ["discount_exhausted"] * 15 + ["ok"] * 5
    discount.refresh_from_db()
    assert discount.times_used == 5
    assert DiscountUsage.objects.filter(discount=discount).count() == 5


@pytest.mark.django_db(transaction=True)
def test_per_customer_limit_holds_under_concurrency(make_discount, make_user):
    _postgresql_only()
    ada = make_user()
    discount = make_discount("TWICEEACH", usage_limit_per_customer=2)
    outcomes = _race(discount, [ada.id] * 20)
    assert sorted(outcomes) == ["discount_exhausted"] * 18 + ["ok"] * 2
    discount.refresh_from_db()
    assert discount.times_used == 2
    assert DiscountUsage.objects.filter(discount=discount, customer=ada).count() == 2
    assert Discount.objects.get(id=discount.id).times_used == 2
