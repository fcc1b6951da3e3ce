"""Admin for discount rules and the shipping and tax rate tables of the shop."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from emporium.core.context import require_current_tenant_id
from emporium.pricing.models import (
    Discount,
    DiscountUsage,
    ShippingRate,
    TaxRate,
    normalize_discount_code,
)


class ShopModelForm(forms.ModelForm):  # type: ignore[type-arg]
    """Puts the shop on a new row before validation, so per-shop unique constraints are checked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.tenant_id is None:
            self.instance.tenant_id = require_current_tenant_id()


class DiscountForm(ShopModelForm):
    # `categories` and `products` are added by the admin at request time: building their choices
    # needs the shop in context, which an import does not have.
    class Meta:
        model = Discount
        fields = [
            "code",
            "name",
            "is_active",
            "kind",
            "value",
            "currency",
            "minimum_subtotal",
            "starts_at",
            "ends_at",
            "scope",
            "stackable",
            "exclusive",
            "priority",
            "usage_limit",
            "usage_limit_per_customer",
        ]

    def clean_code(self) -> str:
        code = normalize_discount_code(self.cleaned_data.get("code") or "")
        duplicates = Discount.objects.filter(code=code).exclude(pk=self.instance.pk)
        if code and duplicates.exists():
            raise forms.ValidationError(
                _("A discount with the code %(code)s already exists (codes ignore case)."),
                code="duplicate_code",
                params={"code": code},
            )
        return code

    def clean_currency(self) -> str:
        return str(self.cleaned_data.get("currency") or "").strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, value = data.get("kind"), data.get("value")
        if value is not None:
            if kind == Discount.Kind.PERCENTAGE and not 0 < value <= 100:
                self.add_error("value", _("A percentage must be more than 0 and at most 100."))
            elif kind == Discount.Kind.FIXED_AMOUNT and value <= 0:
                self.add_error("value", _("A fixed amount must be more than 0."))
            elif kind == Discount.Kind.FREE_SHIPPING and value != 0:
                self.add_error("value", _("Free shipping takes no value: enter 0."))
        if not data.get("currency") and (
            kind == Discount.Kind.FIXED_AMOUNT or (data.get("minimum_subtotal") or 0) > 0
        ):
            self.add_error("currency", _("A fixed amount or a minimum subtotal needs a currency."))
        starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", _("The end must be after the start."))
        limit = data.get("usage_limit")
        if limit is not None and limit < self.instance.times_used:
            self.add_error(
                "usage_limit",
                _("The limit cannot be below the %(used)s uses already made.")
                % {"used": self.instance.times_used},
            )
        scope = data.get("scope")
        if scope == Discount.Scope.CATEGORIES and not data.get("categories"):
            self.add_error("categories", _("Choose at least one category for this scope."))
        if scope == Discount.Scope.PRODUCTS and not data.get("products"):
            self.add_error("products", _("Choose at least one product for this scope."))
        return data


@admin.register(Discount)
class DiscountAdmin(admin.ModelAdmin[Discount]):
    form = DiscountForm
    list_display = ["code", "name", "kind", "value", "active_window", "usage", "is_active"]
    list_filter = ["kind", "is_active", "stackable", "exclusive", "scope"]
    search_fields = ["code", "name"]
    ordering = ["code"]
    readonly_fields = ["times_used", "created_at", "updated_at"]
    filter_horizontal = ["categories"]
    # No product admin to search in: products are picked by id.
    raw_id_fields = ["products"]
    fieldsets = (
        (None, {"fields": ("code", "name", "is_active")}),
        (_("Amount"), {"fields": ("kind", "value", "currency", "minimum_subtotal")}),
        (_("Validity"), {"fields": ("starts_at", "ends_at")}),
        (_("Scope"), {"fields": ("scope", "categories", "products")}),
        (_("Combining"), {"fields": ("stackable", "exclusive", "priority")}),
        (
            _("Usage"),
            {"fields": ("usage_limit", "usage_limit_per_customer", "times_used")},
        ),
        (_("Dates"), {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description=_("Active window"))
    def active_window(self, obj: Discount) -> str:
        start = formats.localize(obj.starts_at) if obj.starts_at else "..."
        end = formats.localize(obj.ends_at) if obj.ends_at else "..."
        return f"{start} to {end}"

    @admin.display(description=_("Used / limit"), ordering="times_used")
    def usage(self, obj: Discount) -> str:
        limit = str(obj.usage_limit) if obj.usage_limit is not None else gettext("unlimited")
        return f"{obj.times_used} / {limit}"


_USAGE_FIELDS: tuple[str, ...] = ("discount", "order_id", "customer", "created_at")


@admin.register(DiscountUsage)
class DiscountUsageAdmin(admin.ModelAdmin[DiscountUsage]):
    """Read-only: uses are written by checkout and released by cancellation."""

    list_display = ["discount", "order_id", "customer", "created_at"]
    list_select_related = ["discount", "customer"]
    search_fields = ["discount__code", "order_id"]
    ordering = ["-created_at"]
    fields = readonly_fields = _USAGE_FIELDS

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: object = None) -> bool:
        return False


class ShippingRateForm(ShopModelForm):
    class Meta:
        model = ShippingRate
        fields = ["name", "country", "currency", "min_subtotal", "amount"]

    def clean_country(self) -> str:
        return str(self.cleaned_data.get("country") or "").strip().upper()

    def clean_currency(self) -> str:
        return str(self.cleaned_data.get("currency") or "").strip().upper()


@admin.register(ShippingRate)
class ShippingRateAdmin(admin.ModelAdmin[ShippingRate]):
    form = ShippingRateForm
    list_display = ["name", "country", "currency", "min_subtotal", "amount"]
    list_filter = ["currency", "country"]
    search_fields = ["name", "country"]


class TaxRateForm(ShopModelForm):
    class Meta:
        model = TaxRate
        fields = ["country", "rate", "name"]

    def clean_country(self) -> str:
        country = str(self.cleaned_data.get("country") or "").strip().upper()
        if TaxRate.objects.filter(country=country).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(
                _("This country already has a tax rate."), code="duplicate_country"
            )
        return country


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin[TaxRate]):
    form = TaxRateForm
    list_display = ["country", "rate", "name"]
    search_fields = ["country", "name"]
