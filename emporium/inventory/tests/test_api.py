"""The availability endpoint and staff adjustments over HTTP."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporium.core.context import tenant_context
from emporium.inventory.models import InventoryMovement, Stock
from emporium.inventory.selectors import stock_available_by_sku
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

AVAILABILITY = "/api/v1/inventory/availability/"
ADJUSTMENTS = "/api/v1/inventory/adjustments/"


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_availability_answers_each_sku_in_the_order_asked(client, make_product):
    make_product(sku="MUG", quantity=5, reserved=2)
    make_product(sku="TEE", quantity=1, reserved=1)
    make_product(sku="HIDDEN", quantity=9, is_active=False)
    response = client.get(AVAILABILITY, {"skus": "TEE, MUG,UNKNOWN,HIDDEN,MUG"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "results": [
            {"sku": "TEE", "available": 0, "in_stock": False},
            {"sku": "MUG", "available": 3, "in_stock": True},
            {"sku": "UNKNOWN", "available": 0, "in_stock": False},
            {"sku": "HIDDEN", "available": 0, "in_stock": False},
        ]
    }


def test_availability_reads_stock_in_one_query(client, make_product, django_assert_num_queries):
    skus = [make_product(quantity=3).sku for _ in range(30)]
    with django_assert_num_queries(1):
        stock_available_by_sku(skus=skus)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(AVAILABILITY, {"skus": ",".join(skus)})
    assert response.status_code == 200
    assert [r["available"] for r in response.json()["results"]] == [3] * 30
    inventory = [
        q["sql"]
        for q in captured.captured_queries
        if "inventory_stock" in q["sql"] or "catalog_product" in q["sql"]
    ]
    assert len(inventory) == 1


def test_availability_refuses_no_skus_and_more_than_a_hundred(client):
    problem(client.get(AVAILABILITY), 400, "required")
    problem(client.get(AVAILABILITY, {"skus": " , ,"}), 400, "required")
    many = ",".join(f"S{n}" for n in range(101))
    problem(client.get(AVAILABILITY, {"skus": many}), 400, "too_many_skus")
    hundred = ",".join(f"S{n}" for n in range(100))
    assert client.get(AVAILABILITY, {"skus": hundred}).status_code == 200


def test_availability_of_another_shop_is_not_visible(client, make_product, settings):
    host = "other.shop.test"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    other = TenantDomainFactory(domain=host).tenant
    make_product(sku="OURS", quantity=4)
    with tenant_context(other.id):
        make_product(sku="THEIRS", quantity=6)
    ours = client.get(AVAILABILITY, {"skus": "OURS,THEIRS"}).json()["results"]
    assert [r["available"] for r in ours] == [4, 0]
    theirs = client.get(AVAILABILITY, {"skus": "OURS,THEIRS"}, HTTP_HOST=host).json()["results"]
    assert [r["available"] for r in theirs] == [0, 6]


class TestAdjustments:
    @pytest.fixture
    def staff(self, make_user, bearer):
        return bearer(make_user(email="staff@example.com", is_staff=True))

    def test_staff_adjust_stock_and_a_movement_is_recorded(
        self, client, staff, make_product, django_capture_on_commit_callbacks
    ):
        product = make_product(sku="MUG", quantity=5, reserved=2)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                ADJUSTMENTS, {"sku": "MUG", "delta": -1}, content_type="application/json", **staff
            )
        assert response.status_code == 201, response.content
        assert response.json() == {"sku": "MUG", "quantity": 4, "reserved": 2, "available": 2}
        movement = InventoryMovement.objects.get(product=product)
        assert (movement.reason, movement.quantity_delta) == ("adjust", -1)

    def test_quantity_cannot_drop_below_reserved(self, client, staff, make_product):
        product = make_product(sku="MUG", quantity=5, reserved=4)
        response = client.post(
            ADJUSTMENTS, {"sku": "MUG", "delta": -2}, content_type="application/json", **staff
        )
        problem(response, 409, "stock_conflict")
        assert Stock.objects.get(product=product).quantity == 5
        assert not InventoryMovement.objects.exists()

    def test_bad_input_and_unknown_sku(self, client, staff, make_product):
        make_product(sku="MUG")
        zero = client.post(
            ADJUSTMENTS, {"sku": "MUG", "delta": 0}, content_type="application/json", **staff
        )
        problem(zero, 400, "validation_error")
        unknown = client.post(
            ADJUSTMENTS, {"sku": "NOPE", "delta": 1}, content_type="application/json", **staff
        )
        problem(unknown, 404, "not_found")
        assert not InventoryMovement.objects.exists()

    def test_customers_and_anonymous_callers_may_not_adjust(
        self, client, make_user, bearer, make_product
    ):
        make_product(sku="MUG", quantity=5)
        body = {"sku": "MUG", "delta": 5}
        anonymous = client.post(ADJUSTMENTS, body, content_type="application/json")
        assert anonymous.status_code == 401
        customer = client.post(
            ADJUSTMENTS, body, content_type="application/json", **bearer(make_user())
        )
        problem(customer, 403, "permission_denied")
        assert not InventoryMovement.objects.exists()
