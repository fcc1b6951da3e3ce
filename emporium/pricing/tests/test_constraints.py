"""Database constraints hold even for raw ORM writes that skip the model's normalisation."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from emporium.core.context import tenant_context
from emporium.pricing.models import Discount, TaxRate
from emporium.tenants.models import DEFAULT_TENANT_ID
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def raw_discount(code, **fields):
    """A row written without Discount.save() (no normalisation)."""
    fields = {"kind": "percentage", "value": Decimal("10"), "tenant_id": DEFAULT_TENANT_ID} | fields
    return Discount.objects.bulk_create([Discount(code=code, **fields)])[0]


def test_save_normalises_the_code(make_discount):
    assert make_discount(" summer ").code == "SUMMER"


def test_codes_differing_in_case_cannot_coexist(make_discount):
    make_discount("SUMMER")
    with pytest.raises(IntegrityError), transaction.atomic():
        Discount.objects.create(code="summer", kind="percentage", value=Decimal("5"))


def test_raw_lower_case_code_is_refused(make_discount):
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_discount("summer")
    discount = make_discount("WINTER")
    with pytest.raises(IntegrityError), transaction.atomic():
        Discount.objects.filter(id=discount.id).update(code="Winter")


def test_same_code_in_another_shop_is_fine(make_discount):
    make_discount("SUMMER")
    with tenant_context(TenantFactory().id):
        make_discount("SUMMER")
    assert Discount.unscoped.filter(code="SUMMER").count() == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "percentage", "value": Decimal("100.01")},
        {"kind": "percentage", "value": Decimal("0")},
        {"kind": "fixed_amount", "value": Decimal("0"), "currency": "EUR"},
        {"kind": "fixed_amount", "value": Decimal("5"), "currency": ""},
        {"kind": "free_shipping", "value": Decimal("1")},
        {"minimum_subtotal": Decimal("10"), "currency": ""},
        {"usage_limit": 1, "times_used": 2},
    ],
)
def test_value_rules_are_enforced_by_the_database(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        raw_discount("BAD", **fields)


def test_one_tax_rate_per_country():
    TaxRate.objects.create(country="de", rate=Decimal("0.19"))
    with pytest.raises(IntegrityError), transaction.atomic():
        TaxRate.objects.create(country="DE", rate=Decimal("0.07"))
