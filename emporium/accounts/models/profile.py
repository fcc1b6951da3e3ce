"""A customer's address book and avatar (the rest of the profile lives on `User`)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from emporium.core.models import TenantOwnedModel

__all__ = ["Address", "Avatar"]


class Address(TenantOwnedModel):
    """A postal address of one user; at most one default shipping and one default billing."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(max_length=64, blank=True, help_text="e.g. Home, Office.")
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company = models.CharField(max_length=150, blank=True)
    line1 = models.CharField(max_length=255)
    line2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=128)
    postal_code = models.CharField(max_length=32, blank=True)
    region = models.CharField(max_length=128, blank=True, help_text="State, province, county.")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. DE.")
    phone = models.CharField(max_length=16, blank=True, help_text="E.164, e.g. +4930123456.")
    is_default_shipping = models.BooleanField(default=False)
    is_default_billing = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_default_shipping=True),
                name="accounts_address_one_default_shipping",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(is_default_billing=True),
                name="accounts_address_one_default_billing",
            ),
        ]

    def __str__(self) -> str:
        return self.label or f"{self.line1}, {self.city}"


class Avatar(TenantOwnedModel):
    """Where a user's re-encoded avatar and its thumbnail are stored (default storage paths)."""

    user = models.OneToOneField("accounts.User", on_delete=models.CASCADE, related_name="avatar")
    image_path = models.CharField(max_length=255)
    thumbnail_path = models.CharField(max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.image_path
