"""The admin site for discounts and rate tables, through HTTP as a staff superuser."""

import uuid
from decimal import Decimal

import pytest

from emporium.pricing.models import Discount, DiscountUsage, TaxRate

pytestmark = pytest.mark.django_db

URL = "/admin/pricing/discount/"


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("root@example.com", is_staff=True, is_superuser=True))
    return client


def form(**overrides):
    data = {
        "code": "SPRING",
        "name": "Spring sale",
        "is_active": "on",
        "kind": "percentage",
        "value": "10",
        "currency": "",
        "minimum_subtotal": "0",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "scope": "all",
        "products": "",
        "priority": "0",
        "usage_limit": "",
        "usage_limit_per_customer": "",
    }
    data.update(overrides)
    return data


def test_list_with_filter_search_and_usage(staff_client, make_discount):
    summer = make_discount("SUMMER", "percentage", "15", usage_limit=5)
    make_discount("SUMMERSHIP", "free_shipping", "0")
    make_discount("WINTER", "percentage", "5")
    DiscountUsage.objects.create(discount=summer, order_id=uuid.uuid4())
    Discount.objects.filter(id=summer.id).update(times_used=1)
    response = staff_client.get(URL, {"kind__exact": "percentage", "q": "summ"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "SUMMER" in content
    assert "1 / 5" in content
    assert "SUMMERSHIP" not in content
    assert "WINTER" not in content


def test_add_normalises_the_code(staff_client):
    response = staff_client.post(f"{URL}add/", form(code="  spring-24 "))
    assert response.status_code == 302
    assert Discount.objects.get().code == "SPRING-24"


def test_duplicate_code_in_another_case_is_a_form_error(staff_client, make_discount):
    make_discount("SUMMER")
    response = staff_client.post(f"{URL}add/", form(code="summer"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "already exists" in str(errors["code"])
    assert Discount.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"value": "150"}, "value"),
        ({"kind": "fixed_amount", "value": "5", "currency": ""}, "currency"),
        ({"kind": "free_shipping", "value": "3"}, "value"),
        (
            {
                "starts_at_0": "2030-06-02",
                "starts_at_1": "00:00:00",
                "ends_at_0": "2030-06-01",
                "ends_at_1": "00:00:00",
            },
            "ends_at",
        ),
        ({"scope": "categories"}, "categories"),
        ({"code": "no spaces"}, "code"),
    ],
)
def test_invalid_rules_are_form_errors(staff_client, overrides, field):
    response = staff_client.post(f"{URL}add/", form(**overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Discount.objects.exists()


def test_usage_limit_cannot_drop_below_uses(staff_client, make_discount):
    discount = make_discount("USED", usage_limit=5)
    Discount.objects.filter(id=discount.id).update(times_used=3)
    response = staff_client.post(f"{URL}{discount.id}/change/", form(code="USED", usage_limit="2"))
    assert response.status_code == 200
    assert "usage_limit" in response.context["adminform"].form.errors


def test_tax_and_shipping_admins(staff_client):
    response = staff_client.post(
        "/admin/pricing/taxrate/add/", {"country": "de", "rate": "0.19", "name": "VAT"}
    )
    assert response.status_code == 302
    assert TaxRate.objects.get().country == "DE"
    duplicate = staff_client.post(
        "/admin/pricing/taxrate/add/", {"country": "DE", "rate": "0.07", "name": "reduced"}
    )
    assert duplicate.status_code == 200
    assert "country" in duplicate.context["adminform"].form.errors
    assert TaxRate.objects.get().rate == Decimal("0.1900")
    response = staff_client.post(
        "/admin/pricing/shippingrate/add/",
        {
            "name": "Germany",
            "country": "de",
            "currency": "eur",
            "min_subtotal": "0",
            "amount": "4.90",
        },
    )
    assert response.status_code == 302
    assert staff_client.get("/admin/pricing/shippingrate/").status_code == 200


def test_customers_cannot_open_the_admin(client, make_user):
    client.force_login(make_user())
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
