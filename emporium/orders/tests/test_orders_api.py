"""Orders after checkout through HTTP: lists, detail, cancellation, shipping, staff tools."""

from datetime import timedelta

import pytest
from django.utils import timezone

from emporium.core.context import tenant_context
from emporium.core.models import OutboxEvent
from emporium.inventory.models import InventoryMovement
from emporium.orders.models import Order, OrderStatusChange
from emporium.orders.tests.fixtures import pay, stock_of
from emporium.payments.models import Payment, Refund
from emporium.pricing.models import DiscountUsage
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com")


@pytest.fixture
def grace(make_user):
    return make_user(email="grace@example.com")


@pytest.fixture
def staff(make_user):
    return make_user(email="staff@example.com", is_staff=True)


def post(client, path, headers, body=None):
    return client.post(path, body or {}, content_type="application/json", **headers)


# --- reading ----------------------------------------------------------------------------------


def test_customer_lists_own_orders_newest_first(
    client, bearer, ada, grace, make_product, place_order
):
    first = place_order(ada, {make_product(): 1})
    second = place_order(ada, {make_product(): 2})
    place_order(grace, {make_product(): 1})

    response = client.get(f"{ORDERS}?page_size=1", **bearer(ada))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [o["id"] for o in body["results"]] == [str(second.pk)]
    page2 = client.get(f"{ORDERS}?page_size=1&page=2", **bearer(ada)).json()
    assert [o["id"] for o in page2["results"]] == [str(first.pk)]


def test_list_query_count_does_not_grow_with_orders(
    client, bearer, ada, make_product, place_order, django_assert_max_num_queries
):
    headers = bearer(ada)
    place_order(ada, {make_product(): 1})
    client.get(ORDERS, **headers)  # warm caches (tenant, user)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(ORDERS, **headers)
    for _ in range(5):
        place_order(ada, {make_product(): 1, make_product(): 2})
    with CaptureQueriesContext(connection) as six:
        client.get(ORDERS, **headers)
    assert len(six) == len(one)


def test_another_customers_order_is_a_404(client, bearer, ada, grace, make_product, place_order):
    order = place_order(grace, {make_product(): 1})
    for method, path in [
        ("get", f"{ORDERS}{order.pk}/"),
        ("post", f"{ORDERS}{order.pk}/cancel/"),
    ]:
        response = getattr(client, method)(path, content_type="application/json", **bearer(ada))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_owner_sees_the_order_and_client_secret_only_while_pending(
    client, bearer, ada, staff, make_product, place_order
):
    order = place_order(ada, {make_product(): 1})
    Payment.objects.create(
        order=order, intent_id="pi_1", amount=order.total, currency="EUR", client_secret="sec"
    )
    detail = client.get(f"{ORDERS}{order.pk}/", **bearer(ada)).json()
    assert detail["payment"] == {"provider": "stripe", "status": "pending", "client_secret": "sec"}
    staff_view = client.get(f"{ORDERS}{order.pk}/", **bearer(staff)).json()
    assert staff_view["payment"]["client_secret"] is None
    pay(order)
    detail = client.get(f"{ORDERS}{order.pk}/", **bearer(ada)).json()
    assert detail["status"] == "paid"
    assert detail["payment"]["client_secret"] is None


def test_staff_list_all_orders_with_filters(
    client, bearer, ada, grace, staff, make_product, place_order
):
    a = place_order(ada, {make_product(): 1})
    g = place_order(grace, {make_product(): 1})
    pay(g)
    headers = bearer(staff)

    everything = client.get(ORDERS, **headers).json()
    assert {o["id"] for o in everything["results"]} == {str(a.pk), str(g.pk)}
    paid = client.get(f"{ORDERS}?status=paid", **headers).json()
    assert [o["id"] for o in paid["results"]] == [str(g.pk)]
    by_customer = client.get(f"{ORDERS}?customer={ada.pk}", **headers).json()
    assert [o["id"] for o in by_customer["results"]] == [str(a.pk)]
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get(ORDERS, {"created_after": later}, **headers).json()["count"] == 0
    assert client.get(ORDERS, {"created_before": later}, **headers).json()["count"] == 2
    bad = client.get(f"{ORDERS}?status=lost", **headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "status"


def test_customer_cannot_see_other_orders_through_staff_filters(
    client, bearer, ada, grace, make_product, place_order
):
    place_order(grace, {make_product(): 1})
    body = client.get(f"{ORDERS}?customer={grace.pk}", **bearer(ada)).json()
    assert body["count"] == 0


def test_orders_of_another_shop_are_invisible(
    client, bearer, ada, make_product, place_order, settings
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "b.shop.test"]
    order = place_order(ada, {make_product(): 1})
    shop_b = TenantDomainFactory(domain="b.shop.test").tenant
    with tenant_context(shop_b.id):
        from emporium.accounts.models import User

        bob = User.objects.create_user("bob@example.com", "a-long-and-unusual-passphrase-42")
        staff_b = User.objects.create_user(
            "staff-b@example.com", "a-long-and-unusual-passphrase-42", is_staff=True
        )
        headers_bob, headers_staff = bearer(bob), bearer(staff_b)
    for headers in (headers_bob, headers_staff):
        assert client.get(ORDERS, HTTP_HOST="b.shop.test", **headers).json()["count"] == 0
        response = client.get(f"{ORDERS}{order.pk}/", HTTP_HOST="b.shop.test", **headers)
        assert response.status_code == 404
    response = post(
        client, f"{ORDERS}{order.pk}/cancel/", {"HTTP_HOST": "b.shop.test", **headers_staff}
    )
    assert response.status_code == 404
    order.refresh_from_db()
    assert order.status == "pending_payment"


# --- cancellation -----------------------------------------------------------------------------


def test_cancel_pending_releases_stock_and_discount_once(
    client, bearer, ada, make_product, make_discount, place_order
):
    product = make_product(quantity=5)
    discount = make_discount(code="SAVE10", usage_limit=10)
    order = place_order(ada, {product: 2}, codes=["SAVE10"])
    assert stock_of(product).reserved == 2
    discount.refresh_from_db()
    assert discount.times_used == 1

    response = post(client, f"{ORDERS}{order.pk}/cancel/", bearer(ada), {"reason": "changed mind"})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert (stock_of(product).quantity, stock_of(product).reserved) == (5, 0)
    discount.refresh_from_db()
    assert discount.times_used == 0
    assert not DiscountUsage.objects.exists()
    change = OrderStatusChange.objects.filter(order=order).last()
    assert (change.from_status, change.to_status, change.reason, change.actor) == (
        "pending_payment",
        "cancelled",
        "changed mind",
        ada,
    )
    assert OutboxEvent.objects.filter(name="order.cancelled").count() == 1

    again = post(client, f"{ORDERS}{order.pk}/cancel/", bearer(ada))
    assert again.status_code == 409
    assert again.json()["code"] == "order_already_cancelled"
    assert (stock_of(product).quantity, stock_of(product).reserved) == (5, 0)
    assert InventoryMovement.objects.filter(order_id=order.pk, reason="release").count() == 1


def test_cancel_paid_restocks_once_and_refunds_through_stripe(
    client,
    bearer,
    ada,
    make_product,
    place_order,
    fake_stripe,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    product = make_product(quantity=5)
    order = place_order(ada, {product: 2})
    payment = Payment.objects.create(
        order=order, intent_id="pi_paid", amount=order.total, currency="EUR", status="succeeded"
    )
    pay(order)
    assert (stock_of(product).quantity, stock_of(product).reserved) == (3, 0)

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"{ORDERS}{order.pk}/cancel/", bearer(ada))
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert (stock_of(product).quantity, stock_of(product).reserved) == (5, 0)
    [refund] = Refund.objects.filter(payment=payment)
    assert refund.status == "succeeded"
    assert refund.amount == order.total
    assert refund.provider_refund_id in fake_stripe.refunds
    [request] = fake_stripe.requests
    assert request["path"] == "/v1/refunds"
    assert request["params"]["payment_intent"] == "pi_paid"
    assert request["params"]["amount"] == str(int(order.total * 100))
    assert request["idempotency_key"] == f"refund-{refund.pk}"

    again = post(client, f"{ORDERS}{order.pk}/cancel/", bearer(ada))
    assert again.status_code == 409
    assert again.json()["code"] == "order_already_cancelled"
    assert stock_of(product).quantity == 5
    assert Refund.objects.count() == 1


def test_staff_cancel_any_order_of_the_shop(client, bearer, ada, staff, make_product, place_order):
    order = place_order(ada, {make_product(): 1})
    response = post(client, f"{ORDERS}{order.pk}/cancel/", bearer(staff))
    assert response.status_code == 200
    assert OrderStatusChange.objects.filter(order=order).last().actor == staff


def test_shipped_order_cannot_be_cancelled(client, bearer, ada, staff, make_product, place_order):
    product = make_product(quantity=5)
    order = place_order(ada, {product: 1})
    pay(order)
    shipped = post(client, f"{ORDERS}{order.pk}/ship/", bearer(staff))
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"

    for who in (ada, staff):
        response = post(client, f"{ORDERS}{order.pk}/cancel/", bearer(who))
        assert response.status_code == 409
        assert response.json()["code"] == "order_already_shipped"
    assert stock_of(product).quantity == 4
    order.refresh_from_db()
    assert order.status == "shipped"


def test_only_staff_ship_and_only_paid_orders(
    client, bearer, ada, staff, make_product, place_order
):
    order = place_order(ada, {make_product(): 1})
    assert post(client, f"{ORDERS}{order.pk}/ship/", bearer(ada)).status_code == 403
    response = post(client, f"{ORDERS}{order.pk}/ship/", bearer(staff))
    assert response.status_code == 409
    assert response.json()["code"] == "order_not_paid"


def test_expired_or_failed_orders_cannot_be_cancelled(
    client, bearer, ada, make_product, place_order
):
    from emporium.orders.services import order_mark_payment_failed

    order = place_order(ada, {make_product(): 1})
    order_mark_payment_failed(order_id=order.pk)
    response = post(client, f"{ORDERS}{order.pk}/cancel/", bearer(ada))
    assert response.status_code == 409
    assert response.json()["code"] == "order_not_cancellable"


# --- staff soft delete ------------------------------------------------------------------------


def test_staff_delete_and_restore(client, bearer, ada, staff, make_product, place_order):
    order = place_order(ada, {make_product(): 1})
    path = f"{ORDERS}{order.pk}/"
    assert client.delete(path, **bearer(ada)).status_code == 403
    assert client.delete(path, **bearer(staff)).status_code == 204
    assert client.get(path, **bearer(ada)).status_code == 404
    assert client.get(ORDERS, **bearer(ada)).json()["count"] == 0
    assert client.get(path, **bearer(staff)).json()["deleted_at"] is not None

    restored = post(client, f"{path}restore/", bearer(staff))
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert client.get(path, **bearer(ada)).status_code == 200


# --- expiry -----------------------------------------------------------------------------------


def test_unpaid_orders_expire_and_release_their_stock(
    ada, make_product, make_discount, place_order, settings
):
    from emporium.orders.tasks import expire_pending_orders

    settings.ORDER_PAYMENT_TIMEOUT = timedelta(minutes=30)
    product = make_product(quantity=5)
    discount = make_discount(code="SAVE10")
    old = place_order(ada, {product: 2}, codes=["SAVE10"])
    fresh = place_order(ada, {product: 1})
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=31))

    with tenant_context(None):  # the scheduler runs outside any shop
        assert expire_pending_orders() == 1
        assert expire_pending_orders() == 0

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == "expired"
    assert fresh.status == "pending_payment"
    assert stock_of(product).reserved == 1
    discount.refresh_from_db()
    assert discount.times_used == 0
    assert OrderStatusChange.objects.filter(order=old, to_status="expired").count() == 1
