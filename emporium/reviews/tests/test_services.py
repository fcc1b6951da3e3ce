"""Typed references, reconciliation, anonymisation and the management commands."""

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from emporium.catalog.models import Product
from emporium.core.context import tenant_context
from emporium.reviews import services
from emporium.reviews.documents import Review
from emporium.reviews.fields import references_resolve
from emporium.reviews.tests.helpers import make_product, rating_of
from emporium.tenants.models import DEFAULT_TENANT_ID
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    return make_product()


@pytest.fixture
def ada(make_user):
    return make_user("ada@example.com", first_name="Ada")


def test_reference_stores_the_uuid_and_dereferences_to_the_model(product, ada):
    review = services.review_create(product=product, user=ada, rating=4)
    raw = Review._get_collection().find_one({"_id": review.id})
    assert raw["product"] == product.pk
    assert raw["user"] == ada.pk
    loaded = Review.objects.get(id=review.id)
    assert isinstance(loaded.product, Product)
    assert loaded.product.pk == product.pk
    assert loaded.user == ada
    assert Review.objects(product=product).count() == 1


@pytest.mark.parametrize("missing", ["product", "user"])
def test_reference_to_a_missing_row_is_rejected(product, ada, missing):
    fields = {"product": product, "user": ada, missing: uuid.uuid4()}
    review = Review(tenant_id=DEFAULT_TENANT_ID, rating=3, **fields)
    with pytest.raises(services.InvalidReview):
        services._save(review)
    assert Review.objects.count() == 0


def test_reference_to_another_shops_rows_is_rejected(product, ada):
    from emporium.accounts.models import User

    other = TenantFactory()
    with tenant_context(other.id):
        foreign_product = make_product("foreign")
        foreign_user = User.objects.create_user(
            "eve@example.com", "a-long-and-unusual-passphrase-42"
        )
    for fields in (
        {"product": foreign_product, "user": ada},
        {"product": product, "user": foreign_user},
    ):
        with pytest.raises(services.InvalidReview):
            services._save(Review(tenant_id=DEFAULT_TENANT_ID, rating=3, **fields))
    # Nor may a document of another shop be saved from this one.
    with pytest.raises(services.InvalidReview):
        services._save(Review(tenant_id=other.id, rating=3, product=product, user=ada))
    assert Review.objects.count() == 0


def test_bulk_resolution_is_one_query_per_model(product, make_user, django_assert_num_queries):
    for i in range(6):
        Review(
            tenant_id=DEFAULT_TENANT_ID,
            product=product,
            user=make_user(f"u{i}@example.com"),
            rating=3,
        ).save()
    reviews = list(Review.objects.order_by("created_at"))
    with django_assert_num_queries(2):
        references_resolve(reviews, "product", "user")
        names = [review.user.email for review in reviews]
        slugs = {review.product.slug for review in reviews}
    assert names == [f"u{i}@example.com" for i in range(6)]
    assert slugs == {product.slug}


def test_reconcile_repairs_injected_drift(product, ada, make_user):
    services.review_create(product=product, user=ada, rating=5)
    services.review_create(product=product, user=make_user("bob@example.com"), rating=2)
    untouched = make_product("untouched")
    Product.objects.filter(pk=product.pk).update(rating_average=Decimal("1.00"), rating_count=9)
    Product.objects.filter(pk=untouched.pk).update(rating_average=Decimal("4.00"), rating_count=1)

    report = services.reviews_reconcile()

    assert {d.product_id for d in report.repaired} == {product.pk, untouched.pk}
    assert report.products_checked >= 2
    assert rating_of(product) == (Decimal("3.50"), 2)
    assert rating_of(untouched) == (Decimal("0.00"), 0)
    assert services.reviews_reconcile().repaired == []


def test_reconcile_command_and_task_report_the_repairs(product, ada):
    from emporium.reviews.tasks import reconcile_ratings

    services.review_create(product=product, user=ada, rating=4)
    Product.objects.filter(pk=product.pk).update(rating_count=0)
    out = StringIO()
    call_command("reviews_reconcile", stdout=out)
    assert f"product={product.pk}: 4.00/0 -> 4.00/1" in out.getvalue()
    assert "repaired 1." in out.getvalue()
    Product.objects.filter(pk=product.pk).update(rating_average=Decimal("0.00"))
    assert reconcile_ratings.apply().get()["repaired"] == 1
    assert rating_of(product) == (Decimal("4.00"), 1)


def test_reconcile_covers_every_shop(ada):
    other = TenantFactory()
    with tenant_context(other.id):
        from emporium.accounts.models import User

        product = make_product("elsewhere")
        eve = User.objects.create_user("eve@example.com", "a-long-and-unusual-passphrase-42")
        services.review_create(product=product, user=eve, rating=2)
        Product.objects.filter(pk=product.pk).update(rating_count=5)
    report = services.reviews_reconcile()
    assert [(d.tenant_id, d.count) for d in report.repaired] == [(other.id, 1)]


def test_anonymise_detaches_the_author_and_keeps_ratings(product, ada, make_user):
    second = make_product("second")
    bob = make_user("bob@example.com")
    mine = services.review_create(product=product, user=ada, rating=5)
    services.review_create(product=second, user=ada, rating=1)
    bobs = services.review_create(product=product, user=bob, rating=3)
    services.review_mark_helpful(review=bobs, user=ada)

    assert services.reviews_anonymise_for_user(user_id=ada.pk) == 2
    assert services.reviews_anonymise_for_user(user_id=ada.pk) == 0  # idempotent

    mine.reload()
    assert mine.user is None
    assert mine.anonymised_at is not None
    assert Review.objects(user=ada).count() == 0
    bobs.reload()
    assert bobs.helpful_count == 1
    assert bobs.helpful_voters == []
    assert rating_of(product) == (Decimal("4.00"), 2)
    # The account's email may register again and review the same product.
    services.review_create(product=product, user=make_user("ada2@example.com"), rating=2)
    services.product_rating_refresh(product_id=product.pk)
    assert rating_of(product) == (Decimal("3.33"), 3)


def test_account_deletion_queues_the_anonymisation(
    ada, product, django_capture_on_commit_callbacks
):
    from emporium.accounts.services_lifecycle import account_anonymisers

    services.review_create(product=product, user=ada, rating=5)
    with django_capture_on_commit_callbacks() as callbacks:
        account_anonymisers()["reviews"](ada)
    assert len(callbacks) == 1
    from emporium.reviews.tasks import anonymise_user_reviews

    assert anonymise_user_reviews.apply(args=[str(ada.pk)]).get() == 1
    assert Review.objects.get().user is None


def test_ensure_indexes_command(mongo):
    out = StringIO()
    call_command("mongo_ensure_indexes", stdout=out)
    names = set(Review._get_collection().index_information())
    assert {"reviews_one_per_customer", "reviews_product_status_created", "reviews_user"} <= names
    assert f"{mongo}.reviews:" in out.getvalue()
