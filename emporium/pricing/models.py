"""Discount rules, their recorded uses, and the shipping and tax rate tables of a shop."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from emporium.core.models import TenantOwnedModel

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2}
# Codes are upper-case ASCII so "normalised" means the same in Python, SQLite and PostgreSQL.
CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]*\Z"
CODE_MAX_LENGTH = 64
COUNTRY_PATTERN = r"^[A-Z]{2}\Z"


def normalize_discount_code(code: str) -> str:
    """Stripped and upper-cased: the form codes are stored and compared in."""
    return code.strip().upper()


class Discount(TenantOwnedModel):
    """A discount code with its kind, scope, validity window, limits and stacking rules."""

    class Kind(models.TextChoices):
        PERCENTAGE = "percentage", _("Percentage")
        FIXED_AMOUNT = "fixed_amount", _("Fixed amount")
        FREE_SHIPPING = "free_shipping", _("Free shipping")

    class Scope(models.TextChoices):
        ALL = "all", _("Whole order")
        CATEGORIES = "categories", _("Categories (and their subcategories)")
        PRODUCTS = "products", _("Products")

    code = models.CharField(
        max_length=CODE_MAX_LENGTH,
        validators=[
            RegexValidator(
                CODE_PATTERN,
                _("Use letters A-Z, digits, '-' and '_' only (case does not matter)."),
            )
        ],
        help_text=_("Stored upper-case; customers may type it in any case."),
    )
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.DecimalField(
        **MONEY,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Percent (0-100] for percentage, an amount for fixed amount, 0 for free shipping."
        ),
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        help_text=_("Required for fixed amounts and minimum subtotals; blank = any currency."),
    )
    minimum_subtotal = models.DecimalField(
        **MONEY, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    usage_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Total uses; blank = unlimited.")
    )
    usage_limit_per_customer = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Uses per customer; blank = unlimited.")
    )
    # Changed only under the row lock in discount_usage_claim / discount_usage_release.
    times_used = models.PositiveIntegerField(default=0, editable=False)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    categories = models.ManyToManyField("catalog.Category", blank=True, related_name="+")
    products = models.ManyToManyField("catalog.Product", blank=True, related_name="+")
    stackable = models.BooleanField(default=False, help_text=_("Combines with other discounts."))
    priority = models.IntegerField(default=0, help_text=_("Higher applies first."))
    exclusive = models.BooleanField(
        default=False, help_text=_("When it applies, no other discount applies.")
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-priority", "code"]
        constraints = [
            models.UniqueConstraint(
                "tenant", Upper("code"), name="pricing_discount_code_per_tenant"
            ),
            models.CheckConstraint(
                condition=Q(code=Upper("code")) & ~Q(code=""), name="pricing_discount_code_upper"
            ),
            models.CheckConstraint(
                condition=Q(kind="percentage", value__gt=0, value__lte=100)
                | Q(kind="fixed_amount", value__gt=0)
                | Q(kind="free_shipping", value=0),
                name="pricing_discount_value_range",
            ),
            models.CheckConstraint(
                condition=~Q(kind="fixed_amount", currency=""),
                name="pricing_discount_fixed_amount_currency",
            ),
            models.CheckConstraint(
                condition=Q(minimum_subtotal=0) | (Q(minimum_subtotal__gt=0) & ~Q(currency="")),
                name="pricing_discount_minimum_currency",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="pricing_discount_window",
            ),
            models.CheckConstraint(
                condition=Q(usage_limit__isnull=True) | Q(times_used__lte=F("usage_limit")),
                name="pricing_discount_times_used_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.code = normalize_discount_code(self.code or "")
        self.currency = (self.currency or "").strip().upper()
        super().save(*args, **kwargs)


class DiscountUsage(TenantOwnedModel):
    """One use of a discount by an order; deleting it gives the use back."""

    discount = models.ForeignKey(Discount, on_delete=models.PROTECT, related_name="usages")
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # No foreign key: orders depend on pricing, not the reverse.
    order_id = models.UUIDField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["discount", "order_id"], name="pricing_usage_discount_order"
            ),
        ]
        indexes = [
            models.Index(fields=["discount", "customer"], name="pricing_usage_customer"),
            models.Index(fields=["tenant", "order_id"], name="pricing_usage_order"),
        ]

    def __str__(self) -> str:
        return f"{self.discount_id} for order {self.order_id}"


class ShippingRate(TenantOwnedModel):
    """A shipping price for a country ("" = any) and currency from a minimum subtotal on."""

    country = models.CharField(
        max_length=2,
        blank=True,
        validators=[RegexValidator(COUNTRY_PATTERN, _("An ISO 3166 alpha-2 code, e.g. DE."))],
        help_text=_("ISO 3166 alpha-2; blank = every country."),
    )
    currency = models.CharField(max_length=3)
    min_subtotal = models.DecimalField(
        **MONEY, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["country", "currency", "min_subtotal"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(min_subtotal__gte=0),
                name="pricing_shipping_amounts_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(country=Upper("country")), name="pricing_shipping_country_upper"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "currency", "country"], name="pricing_shipping_lookup")
        ]

    def __str__(self) -> str:
        return self.name or f"{self.country or '*'} {self.currency} {self.amount}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.country = (self.country or "").strip().upper()
        self.currency = (self.currency or "").strip().upper()
        super().save(*args, **kwargs)


class TaxRate(TenantOwnedModel):
    """The tax rate of a country (0.1900 = 19 %), charged on top of tax-exclusive prices."""

    country = models.CharField(
        max_length=2,
        validators=[RegexValidator(COUNTRY_PATTERN, _("An ISO 3166 alpha-2 code, e.g. DE."))],
    )
    rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text=_("A fraction: 0.1900 for 19 %."),
    )
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["country"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "country"], name="pricing_tax_country"),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lte=1), name="pricing_tax_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(country=Upper("country")) & ~Q(country=""),
                name="pricing_tax_country_upper",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.country} {self.rate}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.country = (self.country or "").strip().upper()
        super().save(*args, **kwargs)
