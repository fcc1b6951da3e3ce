"""Query counts of the hot cart endpoints, and the purge of inactive carts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emporium.cart import tasks
from emporium.cart.models import Cart
from emporium.cart.services import cart_purge_inactive
from emporium.cart.tests.helpers import CART, add, token_header
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def production_like_cache(settings):
    """Rate-limit counters, signed-in users and tenants come from the cache, as in production
    with Redis (the embedded database cache would add its own SQL to every request)."""
    if settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.TENANT_CACHE_SECONDS = 30


def fill(client, make_product, headers, count):
    for _ in range(count):
        assert add(client, make_product(quantity=50), 1, **headers).status_code == 201


@pytest.mark.parametrize("lines", [1, 20])
def test_add_to_cart_costs_at_most_eight_queries_whatever_the_line_count(
    client, make_product, ada, bearer, production_like_cache, django_assert_max_num_queries, lines
):
    headers = bearer(ada)
    fill(client, make_product, headers, lines)
    new, existing = make_product(quantity=50), make_product(quantity=50)
    add(client, existing, 1, **headers)
    with django_assert_max_num_queries(8):
        assert add(client, new, 2, **headers).status_code == 201
    with django_assert_max_num_queries(8):
        assert add(client, existing, 2, **headers).status_code == 200


def test_anonymous_add_to_cart_costs_at_most_eight_queries(
    client, make_product, production_like_cache, django_assert_max_num_queries
):
    first, following = make_product(quantity=5), make_product(quantity=5)
    with django_assert_max_num_queries(8):
        token = add(client, first).json()["token"]
    fill(client, make_product, token_header(token), 10)
    with django_assert_max_num_queries(8):
        assert add(client, following, **token_header(token)).status_code == 201


def test_an_anonymous_add_to_an_existing_cart_costs_five_queries(
    client, make_product, production_like_cache
):
    """The product; then, in one transaction, the cart locked and touched and the line
    upserted (BEGIN and COMMIT count as queries)."""
    mug, tee = make_product(quantity=5), make_product(quantity=5)
    token = add(client, mug).json()["token"]
    for product, status in ((tee, 201), (tee, 200), (mug, 200)):
        with CaptureQueriesContext(connection) as captured:
            assert add(client, product, **token_header(token)).status_code == status
        assert len(captured.captured_queries) == 5, captured.captured_queries


def test_reading_the_cart_costs_the_same_for_1_and_20_lines(
    client, make_product, ada, bearer, production_like_cache
):
    headers = bearer(ada)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(CART, {"country": "DE"}, **headers)
        assert response.status_code == 200
        return len(captured.captured_queries), len(response.json()["lines"])

    fill(client, make_product, headers, 1)
    one = queries()
    fill(client, make_product, headers, 19)
    twenty = queries()
    assert (one[1], twenty[1]) == (1, 20)
    assert one[0] == twenty[0]


# --- purge -------------------------------------------------------------------------------------


def test_purge_soft_deletes_carts_inactive_beyond_the_retention(
    client, make_product, ada, bearer, settings
):
    settings.CART_RETENTION = timedelta(days=30)
    mug = make_product(quantity=10)
    stale_token = add(client, mug).json()["token"]
    fresh_token = add(client, mug).json()["token"]
    add(client, mug, **bearer(ada))
    old = timezone.now() - timedelta(days=31)
    Cart.objects.filter(token=stale_token).update(last_activity_at=old)
    Cart.objects.filter(customer=ada).update(last_activity_at=old)

    assert tasks.purge_inactive.apply().get() == 2

    stale = Cart.all_objects.get(token=stale_token)
    assert stale.is_deleted
    assert stale.status == Cart.Status.ABANDONED
    assert Cart.objects.get(token=fresh_token).status == Cart.Status.ACTIVE
    assert client.get(CART, **token_header(stale_token)).json()["id"] is None
    assert client.get(CART, **bearer(ada)).json()["id"] is None
    # A purged customer cart frees the customer for a new one.
    assert add(client, mug, **bearer(ada)).status_code == 201
    # Running again finds nothing.
    assert tasks.purge_inactive.apply().get() == 0


def test_purge_covers_every_shop_in_batches(make_product, settings):
    settings.CART_RETENTION = timedelta(days=1)
    other = TenantDomainFactory(domain="other.shop.test").tenant
    old = timezone.now() - timedelta(days=2)
    for _ in range(3):
        Cart.objects.create(last_activity_at=old)
    with tenant_context(other.id):
        Cart.objects.create(last_activity_at=old)
        Cart.objects.create(last_activity_at=old, status=Cart.Status.MERGED)
    assert cart_purge_inactive(batch_size=2) == 5
    assert Cart.unscoped.filter(deleted_at__isnull=True).count() == 0
    merged = Cart.unscoped.get(status=Cart.Status.MERGED)
    assert merged.is_deleted
