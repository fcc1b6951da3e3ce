"""Write side of pricing: claiming and releasing discount uses for orders."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from emporium.pricing import errors
from emporium.pricing.calculation import AppliedDiscount
from emporium.pricing.errors import DiscountRejected
from emporium.pricing.models import Discount, DiscountUsage
from emporium.pricing.selectors import discount_uses_by_customer

CONFLICT = 409


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("discount usage must be claimed/released inside transaction.atomic()")


def discount_usage_claim(
    *, applied: Sequence[AppliedDiscount], customer_id: UUID | None, order_id: UUID
) -> None:
    """Record one use of each applied discount by the order, atomically with its limits.

    Call inside the order's transaction. Locks the discount rows in primary-key order, re-checks
    validity and the total and per-customer limits under the lock, then counts the use. Raises
    DiscountRejected (status 409, e.g. `discount_exhausted`) and writes nothing when any discount
    cannot be used. Claiming again for the same order is a no-op.
    """
    _require_transaction()
    ids = sorted({item.discount_id for item in applied})
    if not ids:
        return
    locked = {
        discount.id: discount
        for discount in Discount.objects.select_for_update().filter(id__in=ids).order_by("pk")
    }
    # Read after taking the locks, so a concurrent claim for this order is seen.
    claimed = set(
        DiscountUsage.objects.filter(order_id=order_id, discount_id__in=ids).values_list(
            "discount_id", flat=True
        )
    )
    pending = [discount_id for discount_id in ids if discount_id not in claimed]
    if not pending:
        return
    missing = [discount_id for discount_id in pending if discount_id not in locked]
    if missing:
        raise DiscountRejected(code=errors.DISCOUNT_NOT_FOUND, status=CONFLICT)
    discounts = [locked[discount_id] for discount_id in pending]
    uses_by_customer = discount_uses_by_customer(discounts=discounts, customer_id=customer_id)
    now = timezone.now()
    for discount in discounts:
        reason = _refusal_under_lock(
            discount, customer_id=customer_id, customer_uses=uses_by_customer.get(discount.id, 0)
        )
        if reason is None and discount.starts_at is not None and now < discount.starts_at:
            reason = errors.DISCOUNT_NOT_STARTED
        if reason is None and discount.ends_at is not None and now >= discount.ends_at:
            reason = errors.DISCOUNT_EXPIRED
        if reason is not None:
            raise DiscountRejected(code=reason, status=CONFLICT)
    Discount.objects.filter(id__in=pending).update(times_used=F("times_used") + 1)
    DiscountUsage.objects.bulk_create(
        [
            DiscountUsage(
                tenant_id=discount.tenant_id,
                discount_id=discount.id,
                customer_id=customer_id,
                order_id=order_id,
            )
            for discount in discounts
        ]
    )


def _refusal_under_lock(
    discount: Discount, *, customer_id: UUID | None, customer_uses: int
) -> str | None:
    if not discount.is_active:
        return errors.DISCOUNT_NOT_FOUND
    if discount.usage_limit is not None and discount.times_used >= discount.usage_limit:
        return errors.DISCOUNT_EXHAUSTED
    if discount.usage_limit_per_customer is not None:
        if customer_id is None:  # cannot be counted per customer
            return errors.DISCOUNT_NOT_APPLICABLE
        if customer_uses >= discount.usage_limit_per_customer:
            return errors.DISCOUNT_EXHAUSTED
    return None


def discount_usage_release(*, order_id: UUID) -> None:
    """Give back the uses an order claimed (cancelled or expired before payment).

    Call inside the order's transaction. Idempotent: the counters go down by the usage rows
    actually deleted, so a second release (even a concurrent one) changes nothing.
    """
    _require_transaction()
    ids = sorted(
        set(DiscountUsage.objects.filter(order_id=order_id).values_list("discount_id", flat=True))
    )
    if not ids:
        return
    # Same lock order as claims, so claims and releases cannot deadlock.
    list(Discount.objects.select_for_update().filter(id__in=ids).order_by("pk").values_list("id"))
    for discount_id in ids:
        deleted, _ = DiscountUsage.objects.filter(
            order_id=order_id, discount_id=discount_id
        ).delete()
        if deleted:
            Discount.objects.filter(id=discount_id).update(times_used=F("times_used") - deleted)
