"""Reviews over HTTP: create, edit, delete, moderation and the exact rating after each."""

from decimal import Decimal

import pytest

from emporium.reviews.documents import Review
from emporium.reviews.tests.helpers import (
    API,
    assert_problem,
    make_paid_order,
    make_product,
    rating_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    return make_product()


@pytest.fixture
def ada(make_user):
    return make_user("ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def bob(make_user):
    return make_user("bob@example.com", first_name="Bob")


@pytest.fixture
def staff(make_user):
    return make_user("staff@example.com", is_staff=True)


def post(client, url, data, **headers):
    return client.post(f"{API}/{url}", data, content_type="application/json", **headers)


def patch(client, url, data, **headers):
    return client.patch(f"{API}/{url}", data, content_type="application/json", **headers)


def create(client, bearer, user, product, rating, **fields):
    response = post(
        client, f"products/{product.slug}/reviews/", {"rating": rating, **fields}, **bearer(user)
    )
    assert response.status_code == 201, response.content
    return response.json()


def listing(client, product, **params):
    response = client.get(f"{API}/products/{product.slug}/reviews/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_create_sets_the_exact_rating_and_lists_the_review(client, bearer, product, ada, bob):
    body = create(
        client, bearer, ada, product, 5, title="<b>Great</b> pot", body="Pours <i>well</i>"
    )
    assert body["rating"] == 5
    assert body["title"] == "Great pot"
    assert body["body"] == "Pours well"
    assert body["author_name"] == "Ada L."
    assert body["status"] == "published"
    assert body["verified_purchase"] is False
    assert rating_of(product) == (Decimal("5.00"), 1)

    create(client, bearer, bob, product, 4)
    assert rating_of(product) == (Decimal("4.50"), 2)

    data = listing(client, product)
    assert data["count"] == 2
    assert data["rating"] == {
        "average": "4.50",
        "count": 2,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1},
    }
    assert [r["author_name"] for r in data["results"]] == ["Bob", "Ada L."]


def test_average_rounds_half_up_to_two_places(client, bearer, product, make_user):
    for i, rating in enumerate([5, 4, 4]):  # 13 / 3 = 4.333...
        create(client, bearer, make_user(f"u{i}@example.com"), product, rating)
    assert rating_of(product) == (Decimal("4.33"), 3)
    create(client, bearer, make_user("u9@example.com"), product, 5)  # 18 / 4 = 4.5
    create(client, bearer, make_user("u10@example.com"), product, 2)  # 20 / 5 = 4.0
    create(client, bearer, make_user("u11@example.com"), product, 1)  # 21 / 6 = 3.5
    create(client, bearer, make_user("u12@example.com"), product, 2)  # 23 / 7 = 3.2857
    assert rating_of(product) == (Decimal("3.29"), 7)


def test_verified_purchase_needs_a_paid_order(client, bearer, product, ada, bob):
    from emporium.orders.models import OrderStatus

    make_paid_order(ada, product)
    make_paid_order(bob, product, status=OrderStatus.PENDING_PAYMENT)
    assert create(client, bearer, ada, product, 4)["verified_purchase"] is True
    assert create(client, bearer, bob, product, 4)["verified_purchase"] is False


def test_one_review_per_customer_and_product(client, bearer, product, ada):
    create(client, bearer, ada, product, 5)
    response = post(client, f"products/{product.slug}/reviews/", {"rating": 1}, **bearer(ada))
    assert_problem(response, 409, "review_exists")
    assert Review.objects.count() == 1
    assert rating_of(product) == (Decimal("5.00"), 1)


def test_update_by_author_recomputes(client, bearer, product, ada, bob):
    review = create(client, bearer, ada, product, 5)
    create(client, bearer, bob, product, 3)
    response = patch(
        client, f"reviews/{review['id']}/", {"rating": 1, "body": "<p>Cracked</p>"}, **bearer(ada)
    )
    assert response.status_code == 200, response.content
    assert response.json()["rating"] == 1
    assert response.json()["body"] == "Cracked"
    assert rating_of(product) == (Decimal("2.00"), 2)


def test_update_or_delete_by_someone_else_changes_nothing(client, bearer, product, ada, bob):
    review = create(client, bearer, ada, product, 5)
    url = f"reviews/{review['id']}/"
    assert_problem(patch(client, url, {"rating": 1}), 401, "not_authenticated")
    assert_problem(patch(client, url, {"rating": 1}, **bearer(bob)), 403, "not_review_author")
    assert_problem(client.delete(f"{API}/{url}", **bearer(bob)), 403, "not_review_author")
    assert Review.objects.get().rating == 5
    assert rating_of(product) == (Decimal("5.00"), 1)


def test_delete_last_review_resets_rating(client, bearer, product, ada, bob):
    first = create(client, bearer, ada, product, 5)
    second = create(client, bearer, bob, product, 2)
    assert client.delete(f"{API}/reviews/{first['id']}/", **bearer(ada)).status_code == 204
    assert rating_of(product) == (Decimal("2.00"), 1)
    assert client.delete(f"{API}/reviews/{second['id']}/", **bearer(bob)).status_code == 204
    assert rating_of(product) == (Decimal("0.00"), 0)
    data = listing(client, product)
    assert data["count"] == 0
    assert data["rating"]["average"] is None
    assert data["rating"]["count"] == 0


def test_moderation_by_staff_only_and_rating_follows(client, bearer, product, ada, bob, staff):
    review = create(client, bearer, ada, product, 5)
    create(client, bearer, bob, product, 1)
    url = f"reviews/{review['id']}/moderate/"
    assert_problem(post(client, url, {"status": "rejected"}), 401, "not_authenticated")
    assert_problem(
        post(client, url, {"status": "rejected"}, **bearer(bob)), 403, "permission_denied"
    )
    assert_problem(
        post(client, url, {"status": "rejected"}, **bearer(ada)), 403, "permission_denied"
    )
    assert rating_of(product) == (Decimal("3.00"), 2)

    response = post(client, url, {"status": "rejected"}, **bearer(staff))
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    assert rating_of(product) == (Decimal("1.00"), 1)
    # Hidden from customers and anonymous callers, visible to its author and staff.
    assert [r["rating"] for r in listing(client, product)["results"]] == [1]
    assert_problem(client.get(f"{API}/reviews/{review['id']}/"), 404, "not_found")
    assert_problem(client.get(f"{API}/reviews/{review['id']}/", **bearer(bob)), 404, "not_found")
    assert client.get(f"{API}/reviews/{review['id']}/", **bearer(ada)).status_code == 200

    post(client, url, {"status": "pending"}, **bearer(staff))
    assert rating_of(product) == (Decimal("1.00"), 1)
    post(client, url, {"status": "published"}, **bearer(staff))
    assert rating_of(product) == (Decimal("3.00"), 2)
    assert_problem(
        post(client, url, {"status": "deleted"}, **bearer(staff)), 400, "validation_error"
    )


def test_staff_can_delete_any_review(client, bearer, product, ada, staff):
    review = create(client, bearer, ada, product, 4)
    assert client.delete(f"{API}/reviews/{review['id']}/", **bearer(staff)).status_code == 204
    assert rating_of(product) == (Decimal("0.00"), 0)


def test_ordering_and_pagination(client, bearer, product, make_user):
    ratings = [3, 5, 1, 4, 2, 5, 3, 4, 1, 2, 5, 3]
    ids = [
        create(client, bearer, make_user(f"c{i}@example.com"), product, rating)["id"]
        for i, rating in enumerate(ratings)
    ]
    newest = listing(client, product)
    assert newest["count"] == 12
    assert [r["id"] for r in newest["results"]] == ids[::-1][:10]
    assert newest["next"] is not None
    page_two = listing(client, product, page=2)
    assert [r["id"] for r in page_two["results"]] == ids[::-1][10:]
    oldest = listing(client, product, ordering="oldest", page_size=5)
    assert [r["id"] for r in oldest["results"]] == ids[:5]
    highest = listing(client, product, ordering="highest", page_size=50)
    assert [r["rating"] for r in highest["results"]] == sorted(ratings, reverse=True)
    # Ties: newest first.
    assert [r["id"] for r in highest["results"][:3]] == [ids[10], ids[5], ids[1]]
    lowest = listing(client, product, ordering="lowest", page_size=50)
    assert [r["rating"] for r in lowest["results"]] == sorted(ratings)
    assert len(listing(client, product, page_size=500)["results"]) == 12  # capped at 50
    response = client.get(f"{API}/products/{product.slug}/reviews/", {"ordering": "random"})
    assert_problem(response, 400, "validation_error")


def test_page_size_is_capped_at_fifty(client, bearer, product, make_user):
    for i in range(52):
        Review(
            tenant_id=product.tenant_id,
            product=product,
            user=make_user(f"p{i}@example.com"),
            rating=4,
        ).save()
    data = listing(client, product, page_size=100)
    assert data["count"] == 52
    assert len(data["results"]) == 50


def test_most_helpful_ordering_and_one_vote_per_user(client, bearer, product, ada, bob, make_user):
    first = create(client, bearer, ada, product, 4)
    second = create(client, bearer, bob, product, 2)
    carol = make_user("carol@example.com")
    response = post(client, f"reviews/{first['id']}/helpful/", {}, **bearer(carol))
    assert response.status_code == 200, response.content
    assert response.json()["helpful_count"] == 1
    assert_problem(
        post(client, f"reviews/{first['id']}/helpful/", {}, **bearer(carol)), 409, "already_voted"
    )
    assert_problem(
        post(client, f"reviews/{first['id']}/helpful/", {}, **bearer(ada)), 400, "own_review"
    )
    assert_problem(post(client, f"reviews/{first['id']}/helpful/", {}), 401, "not_authenticated")
    assert Review.objects.get(id=first["id"]).helpful_count == 1
    data = listing(client, product, ordering="most_helpful")
    assert [r["id"] for r in data["results"]] == [first["id"], second["id"]]


def test_validation_errors_change_nothing(client, bearer, product, ada):
    url = f"products/{product.slug}/reviews/"
    for payload, field in [
        ({}, "rating"),
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": 3, "title": "x" * 121}, "title"),
        ({"rating": 3, "body": "y" * 5001}, "body"),
    ]:
        response = post(client, url, payload, **bearer(ada))
        assert_problem(response, 400, "validation_error")
        assert [e["field"] for e in response.json()["errors"]] == [field]
    # Markup does not count towards the limit.
    ok = create(client, bearer, ada, product, 3, title="<em>" + "x" * 120 + "</em>")
    assert ok["title"] == "x" * 120
    assert Review.objects.count() == 1


def test_anonymous_cannot_create_and_unknown_product_is_404(client, bearer, product, ada):
    response = post(client, f"products/{product.slug}/reviews/", {"rating": 5})
    assert_problem(response, 401, "not_authenticated")
    response = post(client, "products/nope/reviews/", {"rating": 5}, **bearer(ada))
    assert_problem(response, 404, "not_found")
    assert_problem(client.get(f"{API}/products/nope/reviews/"), 404, "not_found")
    assert Review.objects.count() == 0


def test_inactive_product_cannot_be_reviewed_by_customers(client, bearer, ada):
    hidden = make_product("hidden", is_active=False)
    response = post(client, f"products/{hidden.slug}/reviews/", {"rating": 5}, **bearer(ada))
    assert_problem(response, 404, "not_found")


def test_creating_is_throttled_per_user(client, bearer, ada, bob, settings):
    # The test profile lifts every limit; restore the production default of this scope.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "review_create": "5/hour"}
    products = [make_product(f"p-{i}") for i in range(6)]
    for product in products[:5]:
        create(client, bearer, ada, product, 4)
    response = post(client, f"products/{products[5].slug}/reviews/", {"rating": 4}, **bearer(ada))
    assert_problem(response, 429, "rate_limited")
    assert "Retry-After" in response
    assert Review.objects.count() == 5
    assert rating_of(products[5]) == (Decimal("0.00"), 0)
    # Per user: another customer is not affected, nor are reads.
    create(client, bearer, bob, products[5], 4)
    assert (
        client.get(f"{API}/products/{products[5].slug}/reviews/", **bearer(ada)).status_code == 200
    )


def _queries_of(call):
    from django.db import connection

    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        result = call()
    # Only the domain tables: cache and rate-limit bookkeeping varies (culling).
    return [
        sql for sql in statements if "emporium_cache" not in sql and "SAVEPOINT" not in sql
    ], result


def test_list_resolves_users_in_bulk(client, bearer, product, make_user):
    create(client, bearer, make_user("one@example.com"), product, 4)
    with_one, _ = _queries_of(lambda: listing(client, product))
    for i in range(8):
        create(client, bearer, make_user(f"many{i}@example.com", first_name=f"N{i}"), product, 3)
    with_nine, data = _queries_of(lambda: listing(client, product))
    assert len(with_nine) == len(with_one)
    assert sum('"accounts_user"' in sql for sql in with_nine) == 1
    assert len(data["results"]) == 9
    assert {r["author_name"] for r in data["results"]} >= {"N0", "N7"}


def test_reviews_of_another_shop_are_invisible(client, bearer, ada, settings):
    from emporium.accounts.models import User
    from emporium.core.context import tenant_context
    from tests.factories import TenantDomainFactory

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "b.shop.test"]
    other = TenantDomainFactory(domain="b.shop.test").tenant
    with tenant_context(other.id):
        other_product = make_product()  # same slug as the default shop may use
        other_user = User.objects.create_user("eve@example.com", "a-long-and-unusual-passphrase-42")
        review = Review(tenant_id=other.id, product=other_product, user=other_user, rating=1)
        review.save()
    own_product = make_product()
    assert listing(client, own_product)["count"] == 0
    assert_problem(client.get(f"{API}/reviews/{review.id}/"), 404, "not_found")
    assert_problem(
        post(client, f"reviews/{review.id}/helpful/", {}, **bearer(ada)), 404, "not_found"
    )
    staff = User.objects.create_user(
        "boss@example.com", "a-long-and-unusual-passphrase-42", is_staff=True
    )
    assert_problem(
        post(client, f"reviews/{review.id}/moderate/", {"status": "rejected"}, **bearer(staff)),
        404,
        "not_found",
    )
    assert_problem(client.delete(f"{API}/reviews/{review.id}/", **bearer(staff)), 404, "not_found")
    with tenant_context(other.id):
        other_review = Review.objects.get(id=review.id)
        assert other_review.status == "published"
    response = client.get(f"{API}/products/{other_product.slug}/reviews/", HTTP_HOST="b.shop.test")
    assert response.json()["count"] == 1
