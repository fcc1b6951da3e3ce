"""Stripe payments: one PaymentIntent per order, its refunds, and the webhook events seen."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from emporium.core.models import BaseModel, TenantOwnedModel

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2}


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # created, waiting for the customer to pay
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    REFUNDED = "refunded", "Refunded"


class Payment(TenantOwnedModel):
    """A PaymentIntent created for an order."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=20, default="stripe")
    intent_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    # Kept while the order awaits payment (the storefront confirms the payment with it), cleared
    # once the payment is settled either way.
    client_secret = models.CharField(max_length=255, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "order"], name="payments_p_order")]

    def __str__(self) -> str:
        return self.intent_id


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"  # recorded, not yet accepted by Stripe
    PENDING = "pending", "Pending"  # accepted by Stripe, not final yet
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(TenantOwnedModel):
    """Money given back for a payment; requested in the cancelling transaction, sent by a task."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    reason = models.CharField(max_length=200, blank=True)
    provider_refund_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider_refund_id"],
                condition=Q(provider_refund_id__isnull=False),
                name="payments_refund_provider_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.status})"


class StripeEvent(BaseModel):
    """A webhook event handled (or deliberately skipped); its id makes a replay a no-op.

    Stored in the transaction that handles the event. Not tenant-owned: the Stripe account is the
    platform's, and the tenant comes from the event itself (`tenant_id` is for operators).
    """

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    tenant_id = models.UUIDField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
