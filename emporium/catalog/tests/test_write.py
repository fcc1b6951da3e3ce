"""Staff writes for products and categories over HTTP: permissions, validation, slugs,
soft delete and restore, the atomic batch update, categories and tenant isolation."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporium.catalog import services
from emporium.catalog.models import Category, Product, ProductSlugRedirect
from emporium.core.context import tenant_context
from emporium.inventory.models import Stock
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
CATEGORIES = "/api/v1/categories/"
BATCH = "/api/v1/products/batch/"
HOST_B = "b.shop.test"


@pytest.fixture
def staff(make_user, bearer):
    return bearer(make_user(email="staff@example.com", is_staff=True))


@pytest.fixture
def customer(make_user, bearer):
    return bearer(make_user(email="customer@example.com"))


@pytest.fixture
def kitchen():
    return services.category_create(name="Kitchen")


def make_product(**fields):
    values = {"name": "Espresso Cup", "sku": "CUP-1", "price": Decimal("12.50"), "currency": "EUR"}
    values.update(fields)
    return services.product_create(**values)


def send(client, method, url, headers, data=None, **extra):
    return getattr(client, method)(url, data, content_type="application/json", **headers, **extra)


def error_fields(response):
    return {(e["field"], e["code"]) for e in response.json()["errors"]}


# --- Permissions ---------------------------------------------------------------------------

WRITE_CALLS = [
    ("post", PRODUCTS),
    ("patch", PRODUCTS + "espresso-cup/"),
    ("put", PRODUCTS + "espresso-cup/"),
    ("delete", PRODUCTS + "espresso-cup/"),
    ("post", PRODUCTS + "espresso-cup/restore/"),
    ("patch", BATCH),
    ("post", CATEGORIES),
    ("patch", CATEGORIES + "kitchen/"),
    ("delete", CATEGORIES + "kitchen/"),
]


@pytest.mark.parametrize(("method", "url"), WRITE_CALLS)
def test_anonymous_is_401_and_customer_403(client, customer, kitchen, method, url):
    product = make_product(category="kitchen")
    anonymous = send(client, method, url, {}, {"name": "x"})
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"] == "application/problem+json"
    forbidden = send(client, method, url, customer, {"name": "x"})
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "permission_denied"
    product.refresh_from_db()
    assert product.name == "Espresso Cup"
    assert product.deleted_at is None
    assert Category.objects.filter(slug="kitchen").exists()


# --- Create --------------------------------------------------------------------------------


def test_staff_creates_product_with_stock_and_generated_slug(client, staff, kitchen):
    response = send(
        client,
        "post",
        PRODUCTS,
        staff,
        {
            "name": "Espresso Cup",
            "sku": "CUP-1",
            "price": "12.50",
            "currency": "EUR",
            "compare_at_price": "15.00",
            "category": "kitchen",
            "attributes": {"color": "white"},
            "stock_quantity": 40,
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "espresso-cup"
    assert body["price"] == "12.50"
    assert body["currency"] == "EUR"
    assert body["category"] == "kitchen"
    assert body["stock_quantity"] == 40
    product = Product.objects.get(sku="CUP-1")
    assert product.attributes == {"color": "white"}
    assert Stock.objects.get(product=product).quantity == 40


def test_v2_renders_money_objects(client, staff):
    response = send(
        client,
        "post",
        "/api/v2/products/",
        staff,
        {"name": "Cup", "sku": "CUP-1", "price": "12.5", "currency": "EUR"},
    )
    assert response.status_code == 201
    assert response.json()["price"] == {"amount": "12.50", "currency": "EUR"}


def test_generated_slugs_do_not_collide(client, staff):
    slugs = []
    for number in range(3):
        response = send(
            client,
            "post",
            PRODUCTS,
            staff,
            {"name": "Espresso Cup", "sku": f"CUP-{number}", "price": "1", "currency": "EUR"},
        )
        assert response.status_code == 201
        slugs.append(response.json()["slug"])
    assert slugs == ["espresso-cup", "espresso-cup-2", "espresso-cup-3"]


def test_slug_race_is_settled_by_the_unique_constraint(client, staff, monkeypatch):
    """Another request took the chosen slug between the check and the insert: retry."""
    make_product()
    free_slug = services._free_slug
    stale_answers = iter(["espresso-cup"])  # what a concurrent request would have seen

    def racing_free_slug(base, **kwargs):
        return next(stale_answers, None) or free_slug(base, **kwargs)

    monkeypatch.setattr(services, "_free_slug", racing_free_slug)
    response = send(
        client,
        "post",
        PRODUCTS,
        staff,
        {"name": "Espresso Cup", "sku": "CUP-2", "price": "1", "currency": "EUR"},
    )
    assert response.status_code == 201
    assert response.json()["slug"] == "espresso-cup-2"
    assert Product.objects.count() == 2


def test_slug_of_a_deleted_product_is_reused(client, staff):
    make_product().delete()
    response = send(
        client,
        "post",
        PRODUCTS,
        staff,
        {"name": "Espresso Cup", "sku": "CUP-1", "price": "1", "currency": "EUR"},
    )
    assert response.status_code == 201
    assert response.json()["slug"] == "espresso-cup"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"sku": "CUP-1"}, "sku", "unique"),
        ({"slug": "espresso-cup"}, "slug", "unique"),
        ({"slug": "batch"}, "slug", "reserved"),
        ({"currency": "eur"}, "currency", "invalid"),
        ({"currency": "EURO"}, "currency", "max_length"),
        ({"compare_at_price": "9.99"}, "compare_at_price", "lower_than_price"),
        ({"price": "-1"}, "price", "min_value"),
        ({"category": "nowhere"}, "category", "does_not_exist"),
        ({"attributes": ["not", "an", "object"]}, "attributes", "not_a_dict"),
        (
            {"publish_at": "2030-01-02T00:00:00Z", "unpublish_at": "2030-01-01T00:00:00Z"},
            "unpublish_at",
            "before_publish_at",
        ),
        ({"stock_quantity": -1}, "stock_quantity", "min_value"),
    ],
)
def test_create_validation_problems(client, staff, changes, field, code):
    make_product()
    data = {"name": "Other", "sku": "OTHER-1", "price": "10.00", "currency": "EUR"}
    data.update(changes)
    response = send(client, "post", PRODUCTS, staff, data)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert (field, code) in error_fields(response)
    assert Product.objects.count() == 1


def test_required_fields_are_reported(client, staff):
    response = send(client, "post", PRODUCTS, staff, {})
    assert response.status_code == 400
    assert {f for f, _c in error_fields(response)} == {"name", "sku", "price", "currency"}


# --- Update, rename, redirects -------------------------------------------------------------


def test_patch_changes_fields_and_stock(client, staff, kitchen):
    make_product(stock_quantity=3)
    response = send(
        client,
        "patch",
        PRODUCTS + "espresso-cup/",
        staff,
        {"price": "9.90", "category": "kitchen", "stock_quantity": 7},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["price"] == "9.90"
    assert response.json()["stock_quantity"] == 7
    product = Product.objects.get(sku="CUP-1")
    assert product.price == Decimal("9.90")
    assert product.category == kitchen
    assert product.stock.quantity == 7


def test_renaming_keeps_the_slug(client, staff):
    make_product()
    response = send(client, "patch", PRODUCTS + "espresso-cup/", staff, {"name": "Mug"})
    assert response.status_code == 200
    assert response.json()["slug"] == "espresso-cup"
    assert not ProductSlugRedirect.objects.exists()


def test_new_slug_records_a_redirect_for_the_old_one(client, staff):
    product = make_product()
    response = send(client, "patch", PRODUCTS + "espresso-cup/", staff, {"slug": "cup"})
    assert response.status_code == 200
    assert response.json()["slug"] == "cup"
    redirect = ProductSlugRedirect.objects.get(slug="espresso-cup")
    assert redirect.product_id == product.id
    assert (
        send(client, "patch", PRODUCTS + "espresso-cup/", staff, {"name": "x"}).status_code == 404
    )

    # Moving back drops the redirect that would now point at the live slug.
    back = send(client, "patch", PRODUCTS + "cup/", staff, {"slug": "espresso-cup"})
    assert back.status_code == 200
    assert list(ProductSlugRedirect.objects.values_list("slug", flat=True)) == ["cup"]


def test_reads_at_shared_addresses_reach_the_read_views(client, staff, kitchen):
    make_product(category="kitchen")
    send(client, "patch", PRODUCTS + "espresso-cup/", staff, {"slug": "cup"})

    moved = client.get(PRODUCTS + "espresso-cup/")
    assert moved.status_code == 301
    assert moved["Location"] == PRODUCTS + "cup/"
    detail = client.get(PRODUCTS + "cup/")
    assert detail.status_code == 200
    assert detail.json()["sku"] == "CUP-1"
    assert [p["slug"] for p in client.get(PRODUCTS).json()["results"]] == ["cup"]
    assert client.get(CATEGORIES + "kitchen/").status_code == 200
    assert client.get(BATCH).status_code == 404  # no product is called "batch"


def test_generated_slug_avoids_old_slugs(client, staff):
    make_product()
    send(client, "patch", PRODUCTS + "espresso-cup/", staff, {"slug": "cup"})
    response = send(
        client,
        "post",
        PRODUCTS,
        staff,
        {"name": "Espresso Cup", "sku": "CUP-2", "price": "1", "currency": "EUR"},
    )
    assert response.json()["slug"] == "espresso-cup-2"


def test_slug_taken_by_another_product_is_refused(client, staff):
    make_product()
    make_product(name="Mug", sku="MUG-1")
    response = send(client, "patch", PRODUCTS + "mug/", staff, {"slug": "espresso-cup"})
    assert response.status_code == 400
    assert ("slug", "unique") in error_fields(response)
    assert Product.objects.get(sku="MUG-1").slug == "mug"
    assert not ProductSlugRedirect.objects.exists()


def test_compare_at_price_checked_against_stored_price(client, staff):
    make_product(price=Decimal("20.00"))
    response = send(
        client, "patch", PRODUCTS + "espresso-cup/", staff, {"compare_at_price": "19.99"}
    )
    assert response.status_code == 400
    assert ("compare_at_price", "lower_than_price") in error_fields(response)
    assert Product.objects.get(sku="CUP-1").compare_at_price is None


def test_put_requires_the_core_fields(client, staff):
    make_product()
    url = PRODUCTS + "espresso-cup/"
    missing = send(client, "put", url, staff, {"name": "Mug"})
    assert missing.status_code == 400
    assert {f for f, _c in error_fields(missing)} == {"sku", "price", "currency"}
    full = send(
        client, "put", url, staff, {"name": "Mug", "sku": "MUG-1", "price": "3", "currency": "USD"}
    )
    assert full.status_code == 200
    assert Product.objects.get(slug="espresso-cup").currency == "USD"


def test_unknown_product_is_404(client, staff):
    response = send(client, "patch", PRODUCTS + "nothing/", staff, {"name": "x"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- Soft delete and restore ---------------------------------------------------------------


def test_delete_is_soft_and_restore_brings_it_back(client, staff):
    product = make_product()
    url = PRODUCTS + "espresso-cup/"
    assert send(client, "delete", url, staff).status_code == 204
    assert not Product.objects.filter(id=product.id).exists()
    assert Product.all_objects.get(id=product.id).deleted_at is not None
    assert send(client, "delete", url, staff).status_code == 404

    restored = send(client, "post", url + "restore/", staff)
    assert restored.status_code == 200
    assert restored.json()["slug"] == "espresso-cup"
    assert Product.objects.filter(id=product.id).exists()


def test_restore_of_a_live_product_is_404(client, staff):
    make_product()
    response = send(client, "post", PRODUCTS + "espresso-cup/restore/", staff)
    assert response.status_code == 404


def test_restore_refused_when_slug_was_taken(client, staff):
    old = make_product()
    old.delete()
    make_product(sku="CUP-2")  # takes the freed slug "espresso-cup"
    response = send(client, "post", PRODUCTS + "espresso-cup/restore/", staff)
    assert response.status_code == 409
    assert response.json()["code"] == "slug_taken"
    assert Product.all_objects.get(id=old.id).deleted_at is not None


def test_restore_refused_when_sku_was_taken(client, staff):
    old = make_product()
    old.delete()
    make_product(name="Mug")  # same SKU, other slug
    response = send(client, "post", PRODUCTS + "espresso-cup/restore/", staff)
    assert response.status_code == 409
    assert response.json()["code"] == "sku_taken"
    assert Product.all_objects.get(id=old.id).deleted_at is not None


# --- Batch ---------------------------------------------------------------------------------


def test_batch_updates_products_and_stock(client, staff, kitchen):
    make_product(stock_quantity=1)
    mug = make_product(name="Mug", sku="MUG-1")
    Stock.objects.filter(product=mug).delete()  # a product without a stock row gets one
    response = send(
        client,
        "patch",
        BATCH,
        staff,
        {
            "items": [
                {"sku": "CUP-1", "price": "5.00", "stock_quantity": 9, "category": "kitchen"},
                {"sku": "MUG-1", "is_active": False, "stock_quantity": 4},
            ]
        },
    )
    assert response.status_code == 200, response.json()
    assert response.json()["count"] == 2
    cup = Product.objects.get(sku="CUP-1")
    assert cup.price == Decimal("5.00")
    assert cup.category == kitchen
    assert cup.stock.quantity == 9
    mug = Product.objects.get(sku="MUG-1")
    assert mug.is_active is False
    assert mug.price == Decimal("12.50")
    assert Stock.objects.get(product=mug).quantity == 4


@pytest.mark.parametrize(
    ("bad_item", "field", "code"),
    [
        ({"sku": "P-3", "price": "abc"}, "items[3].price", "invalid"),
        ({"sku": "NOPE"}, "items[3].sku", "does_not_exist"),
        ({"sku": "P-0", "price": "2"}, "items[3].sku", "duplicate"),
        (
            {"sku": "P-3", "compare_at_price": "0.50"},
            "items[3].compare_at_price",
            "lower_than_price",
        ),
        ({"sku": "P-3", "category": "nowhere"}, "items[3].category", "does_not_exist"),
        ({"sku": "P-3", "stock_quantity": -2}, "items[3].stock_quantity", "min_value"),
    ],
)
def test_batch_with_one_invalid_item_changes_nothing(client, staff, bad_item, field, code):
    for number in range(5):
        make_product(name=f"P {number}", sku=f"P-{number}", stock_quantity=1)
    items = [{"sku": f"P-{n}", "price": "1.00", "stock_quantity": 50} for n in range(3)]
    items.append(bad_item)
    response = send(client, "patch", BATCH, staff, {"items": items})
    assert response.status_code == 400
    assert (field, code) in error_fields(response)
    assert set(Product.objects.values_list("price", flat=True)) == {Decimal("12.50")}
    assert set(Stock.objects.values_list("quantity", flat=True)) == {1}


def test_batch_limits(client, staff, settings):
    empty = send(client, "patch", BATCH, staff, {"items": []})
    assert empty.status_code == 400
    assert ("items", "empty") in error_fields(empty)
    too_many = send(client, "patch", BATCH, staff, {"items": [{"sku": "X"}] * 501})
    assert too_many.status_code == 400
    assert ("items", "max_length") in error_fields(too_many)


def test_batch_of_100_uses_as_many_queries_as_a_batch_of_1(
    client, staff, kitchen, django_assert_max_num_queries
):
    for number in range(100):
        make_product(name=f"P {number}", sku=f"P-{number}", stock_quantity=1)
    items = [
        {"sku": f"P-{n}", "price": "3.00", "stock_quantity": 5, "category": "kitchen"}
        for n in range(100)
    ]
    # Warm the per-request caches (user, rate-limit counters) with another product, then
    # measure one item whose price and stock both change.
    assert send(client, "patch", BATCH, staff, {"items": items[99:]}).status_code == 200
    with CaptureQueriesContext(connection) as one:
        assert send(client, "patch", BATCH, staff, {"items": items[:1]}).status_code == 200
    # Fetch products, fetch categories, one bulk UPDATE per table: no query per product.
    with django_assert_max_num_queries(len(one)):
        response = send(client, "patch", BATCH, staff, {"items": items})
    assert response.status_code == 200
    assert response.json()["count"] == 100
    assert Product.objects.filter(price=Decimal("3.00"), category=kitchen).count() == 100
    assert Stock.objects.filter(quantity=5).count() == 100


# --- Categories ----------------------------------------------------------------------------


def test_category_create_update_delete(client, staff):
    created = send(client, "post", CATEGORIES, staff, {"name": "Home & Garden"})
    assert created.status_code == 201
    assert created.json()["slug"] == "home-garden"
    child = send(client, "post", CATEGORIES, staff, {"name": "Tools", "parent": "home-garden"})
    assert child.json()["parent"] == "home-garden"

    renamed = send(client, "patch", CATEGORIES + "tools/", staff, {"name": "Garden tools"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Garden tools"

    assert send(client, "delete", CATEGORIES + "tools/", staff).status_code == 204
    assert send(client, "delete", CATEGORIES + "home-garden/", staff).status_code == 204
    assert not Category.objects.exists()


def test_category_slug_and_parent_validation(client, staff, kitchen):
    duplicate = send(client, "post", CATEGORIES, staff, {"name": "Kitchen"})
    assert duplicate.status_code == 400
    assert ("slug", "unique") in error_fields(duplicate)
    unknown = send(client, "post", CATEGORIES, staff, {"name": "X", "parent": "nowhere"})
    assert ("parent", "does_not_exist") in error_fields(unknown)


def test_category_cycles_are_refused(client, staff, kitchen):
    services.category_create(name="Cups", parent="kitchen")
    services.category_create(name="Espresso", parent="cups")
    for parent in ("kitchen", "espresso"):
        response = send(client, "patch", CATEGORIES + "kitchen/", staff, {"parent": parent})
        assert response.status_code == 400
        assert ("parent", "cycle") in error_fields(response)
    assert Category.objects.get(slug="kitchen").parent is None


def test_non_empty_category_cannot_be_deleted(client, staff, kitchen):
    services.category_create(name="Cups", parent="kitchen")
    with_child = send(client, "delete", CATEGORIES + "kitchen/", staff)
    assert with_child.status_code == 409
    assert with_child.json()["code"] == "category_not_empty"

    make_product(category="cups")
    with_product = send(client, "delete", CATEGORIES + "cups/", staff)
    assert with_product.status_code == 409
    assert Category.objects.count() == 2


# --- Tenant isolation ----------------------------------------------------------------------


@pytest.fixture
def shop_b_staff(settings, make_user, bearer):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST_B]
    shop_b = TenantDomainFactory(domain=HOST_B).tenant
    with tenant_context(shop_b.id):
        user = make_user(email="staff-b@example.com", is_staff=True)
        return bearer(user)


def test_another_shops_staff_cannot_touch_this_shops_products(client, shop_b_staff, kitchen):
    product = make_product()
    host = {"HTTP_HOST": HOST_B}
    url = PRODUCTS + "espresso-cup/"
    assert send(client, "patch", url, shop_b_staff, {"price": "0.01"}, **host).status_code == 404
    assert send(client, "put", url, shop_b_staff, {"name": "x"}, **host).status_code == 404
    assert send(client, "delete", url, shop_b_staff, **host).status_code == 404
    batch = send(
        client, "patch", BATCH, shop_b_staff, {"items": [{"sku": "CUP-1", "price": "0.01"}]}, **host
    )
    assert batch.status_code == 400
    assert ("items[0].sku", "does_not_exist") in error_fields(batch)
    assert send(client, "delete", CATEGORIES + "kitchen/", shop_b_staff, **host).status_code == 404
    product.refresh_from_db()
    assert product.price == Decimal("12.50")
    assert product.deleted_at is None

    # The same slug and SKU are free in shop B, and its product lands in shop B.
    created = send(
        client,
        "post",
        PRODUCTS,
        shop_b_staff,
        {"name": "Espresso Cup", "sku": "CUP-1", "price": "1", "currency": "EUR"},
        **host,
    )
    assert created.status_code == 201
    assert created.json()["slug"] == "espresso-cup"
    assert Product.unscoped.filter(sku="CUP-1").count() == 2


# --- Stock held by unpaid orders ----------------------------------------------------------------


def test_stock_edits_are_audited_and_never_drop_below_what_orders_hold(client, staff):
    from emporium.inventory.models import InventoryMovement

    make_product(stock_quantity=5)
    Stock.objects.filter(product__sku="CUP-1").update(reserved=3)

    refused = send(client, "patch", PRODUCTS + "espresso-cup/", staff, {"stock_quantity": 2})
    assert refused.status_code == 409, refused.content
    assert refused.json()["code"] == "stock_conflict"
    batch = send(client, "patch", BATCH, staff, {"items": [{"sku": "CUP-1", "stock_quantity": 1}]})
    assert batch.status_code == 400
    assert error_fields(batch) == {("items[0].stock_quantity", "below_reserved")}
    assert Stock.objects.get(product__sku="CUP-1").quantity == 5

    accepted = send(client, "patch", PRODUCTS + "espresso-cup/", staff, {"stock_quantity": 8})
    assert accepted.status_code == 200
    body = accepted.json()
    assert (body["stock_quantity"], body["available"], body["in_stock"]) == (8, 5, True)
    deltas = list(
        InventoryMovement.objects.filter(product__sku="CUP-1")
        .order_by("created_at")
        .values_list("reason", "quantity_delta")
    )
    assert deltas == [("adjust", 5), ("adjust", 3)]
