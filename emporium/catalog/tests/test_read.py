"""Public catalog reads over HTTP: categories, product list filters, visibility and detail."""

import re
from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time
from rest_framework.utils.urls import remove_query_param, replace_query_param

from emporium.catalog import services
from emporium.catalog.models import Category, Product, ProductImage, ProductSlugRedirect
from emporium.core import response_cache
from emporium.core.context import tenant_context
from emporium.inventory.models import Stock
from emporium.tenants.models import DEFAULT_TENANT_ID
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
PRODUCTS_V2 = "/api/v2/products/"
CATEGORIES = "/api/v1/categories/"
_numbers = count(1)


def make_category(slug, *, parent=None, position=0, is_active=True):
    return Category.objects.create(
        name=slug.replace("-", " ").title(),
        slug=slug,
        parent=parent,
        position=position,
        is_active=is_active,
    )


def make_product(slug=None, *, price="10.00", quantity=None, **fields):
    number = next(_numbers)
    slug = slug or f"product-{number}"
    product = Product.objects.create(
        name=fields.pop("name", slug.replace("-", " ").title()),
        slug=slug,
        sku=f"SKU-{number}",
        price=Decimal(price),
        **fields,
    )
    if quantity is not None:
        Stock.objects.create(product=product, quantity=quantity)
    return product


def make_image(product, *, position, status):
    """An image row of `product` (no file: for reads of the image metadata)."""
    return ProductImage.objects.create(
        product=product,
        position=position,
        content_type="image/png",
        size=10,
        width=1,
        height=1,
        checksum_sha256="0" * 64,
        file_path=f"products/{product.slug}/{position}.png",
        status=status,
    )


def slugs(response):
    assert response.status_code == 200, response.content
    return [item["slug"] for item in response.json()["results"]]


def problem_fields(response):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    return {error["field"] for error in body["errors"]}


@pytest.fixture
def staff_headers(make_user, bearer):
    return bearer(make_user(email="staff@example.com", is_staff=True))


# --- categories -------------------------------------------------------------------------------


@pytest.fixture
def category_tree():
    clothing = make_category("clothing", position=1)
    shirts = make_category("shirts", parent=clothing, position=2)
    make_category("hats", parent=clothing, position=1)
    make_category("polo", parent=shirts)
    books = make_category("books", position=0)
    hidden = make_category("hidden", position=5, is_active=False)
    make_category("below-hidden", parent=hidden)
    return {"clothing": clothing, "shirts": shirts, "books": books}


def test_category_list_is_flat_ordered_and_hides_inactive_subtrees(client, category_tree):
    response = client.get(CATEGORIES)
    assert response.status_code == 200
    body = response.json()
    assert [c["slug"] for c in body] == ["books", "polo", "clothing", "hats", "shirts"]
    by_slug = {c["slug"]: c for c in body}
    assert by_slug["clothing"]["parent"] is None
    assert by_slug["polo"]["parent"] == "shirts"
    assert "public" in response["Cache-Control"]


def test_category_tree_nests_children(client, category_tree):
    response = client.get(CATEGORIES, {"tree": "true"})
    assert response.status_code == 200
    roots = response.json()
    assert [root["slug"] for root in roots] == ["books", "clothing"]
    clothing = roots[1]
    assert [child["slug"] for child in clothing["children"]] == ["hats", "shirts"]
    assert [child["slug"] for child in clothing["children"][1]["children"]] == ["polo"]


def test_category_tree_flag_is_validated(client, category_tree):
    assert problem_fields(client.get(CATEGORIES, {"tree": "maybe"})) == {"tree"}


def test_staff_see_inactive_categories(client, category_tree, staff_headers):
    body = client.get(CATEGORIES, **staff_headers).json()
    assert {"hidden", "below-hidden"} <= {c["slug"] for c in body}


def test_category_detail(client, category_tree):
    response = client.get(f"{CATEGORIES}shirts/")
    assert response.status_code == 200
    assert response.json()["parent"] == "clothing"
    for slug in ("hidden", "below-hidden", "nope"):
        missing = client.get(f"{CATEGORIES}{slug}/")
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"


# --- product list: filters and ordering ---------------------------------------------------------


def test_category_filter_includes_descendants(client, category_tree):
    make_product("shirt", category=category_tree["shirts"])
    make_product("jacket", category=category_tree["clothing"])
    make_product("novel", category=category_tree["books"])
    make_product("loose")
    polo = Category.objects.get(slug="polo")
    make_product("polo-shirt", category=polo)

    assert sorted(slugs(client.get(PRODUCTS, {"category": "clothing"}))) == [
        "jacket",
        "polo-shirt",
        "shirt",
    ]
    assert sorted(slugs(client.get(PRODUCTS, {"category": "shirts"}))) == ["polo-shirt", "shirt"]
    assert slugs(client.get(PRODUCTS, {"category": "unknown"})) == []


def test_products_of_hidden_categories_are_not_found_by_category(client, category_tree):
    below = Category.objects.get(slug="below-hidden")
    make_product("secret", category=below)
    assert slugs(client.get(PRODUCTS, {"category": "hidden"})) == []
    assert slugs(client.get(PRODUCTS, {"category": "below-hidden"})) == []


def test_price_filters(client):
    for price in ("5.00", "10.00", "15.50", "20.00"):
        make_product(f"p-{price.replace('.', '-')}", price=price)
    result = slugs(client.get(PRODUCTS, {"min_price": "10", "max_price": "15.50"}))
    assert sorted(result) == ["p-10-00", "p-15-50"]
    assert slugs(client.get(PRODUCTS, {"min_price": "20.01"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "cheap"}, "min_price"),
        ({"max_price": "-1"}, "max_price"),
        ({"max_price": "1.234"}, "max_price"),
        ({"min_price": "10", "max_price": "5"}, "max_price"),
        ({"in_stock": "yes"}, "in_stock"),
        ({"ordering": "popularity"}, "ordering"),
    ],
)
def test_invalid_filters_are_400_problems_naming_the_field(client, params, field):
    assert problem_fields(client.get(PRODUCTS, params)) == {field}


def test_in_stock_filter(client):
    make_product("plenty", quantity=3)
    make_product("sold-out", quantity=0)
    make_product("never-stocked")
    assert slugs(client.get(PRODUCTS, {"in_stock": "true"})) == ["plenty"]
    assert sorted(slugs(client.get(PRODUCTS, {"in_stock": "false"}))) == [
        "never-stocked",
        "sold-out",
    ]


def test_orderings(client):
    now = timezone.now()
    make_product("banana", price="3.00", rating_average=Decimal("4.50"), created_at=now)
    make_product(
        "apple",
        price="1.00",
        rating_average=Decimal("3.00"),
        created_at=now - timedelta(days=2),
    )
    make_product(
        "cherry",
        price="2.00",
        rating_average=Decimal("5.00"),
        created_at=now - timedelta(days=1),
    )
    assert slugs(client.get(PRODUCTS)) == ["banana", "cherry", "apple"]
    assert slugs(client.get(PRODUCTS, {"ordering": "price"})) == ["apple", "cherry", "banana"]
    assert slugs(client.get(PRODUCTS, {"ordering": "-price"})) == ["banana", "cherry", "apple"]
    assert slugs(client.get(PRODUCTS, {"ordering": "name"})) == ["apple", "banana", "cherry"]
    assert slugs(client.get(PRODUCTS, {"ordering": "-rating"})) == ["cherry", "banana", "apple"]


# --- pagination -------------------------------------------------------------------------------


def test_page_size_defaults_to_20_and_is_clamped_to_100(client):
    tenant_id = make_product("seed").tenant_id
    Product.objects.bulk_create(
        Product(name=f"P {i}", slug=f"p-{i}", sku=f"S-{i}", price=1, tenant_id=tenant_id)
        for i in range(105)
    )
    first = client.get(PRODUCTS).json()
    assert (first["count"], first["page_size"], len(first["results"])) == (106, 20, 20)
    clamped = client.get(PRODUCTS, {"page_size": "500"}).json()
    assert (clamped["page_size"], len(clamped["results"])) == (100, 100)
    assert clamped["next"] is not None
    last = client.get(PRODUCTS, {"page_size": "100", "page": "2"}).json()
    assert (last["page_size"], len(last["results"]), last["next"]) == (100, 6, None)
    small = client.get(PRODUCTS, {"page_size": "7"}).json()
    assert (small["page_size"], len(small["results"])) == (7, 7)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "ordering=name",
        "utm=a&utm=b&empty=&ordering=-price",
        "q2=caf%C3%A9+cr%C3%A8me&plus=a%2Bb&space=a%20b&amp=a%26b",
        "page_size=1&z=1&a=2",
        "%C3%A9t%C3%A9=%E2%82%AC&flag",
    ],
)
@pytest.mark.parametrize("as_staff", [False, True])  # the fast reader, and the view
def test_page_links_are_drfs(client, staff_headers, query, as_staff):
    for number in range(4):
        make_product(f"linked-{number}")
    url = f"{PRODUCTS}?{query}&page=2&page_size=1" if query else f"{PRODUCTS}?page=2&page_size=1"
    body = client.get(url, **(staff_headers if as_staff else {})).json()
    requested = f"http://testserver{url}"
    assert body["next"] == replace_query_param(requested, "page", 3)
    assert body["previous"] == remove_query_param(requested, "page")


def test_page_beyond_the_end_is_404(client):
    make_product()
    response = client.get(PRODUCTS, {"page": "9"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


# --- visibility -------------------------------------------------------------------------------


def test_inactive_and_deleted_products_are_hidden_from_customers(client):
    make_product("visible")
    make_product("inactive", is_active=False)
    make_product("deleted").delete()
    assert slugs(client.get(PRODUCTS)) == ["visible"]
    assert slugs(client.get(PRODUCTS, {"include_deleted": "true"})) == ["visible"]
    assert client.get(f"{PRODUCTS}inactive/").status_code == 404
    assert client.get(f"{PRODUCTS}deleted/").status_code == 404


def test_staff_see_everything_and_deleted_on_request(client, staff_headers):
    make_product("visible")
    make_product("inactive", is_active=False)
    make_product("later", publish_at=timezone.now() + timedelta(days=1))
    make_product("deleted").delete()
    assert sorted(slugs(client.get(PRODUCTS, **staff_headers))) == ["inactive", "later", "visible"]
    everything = client.get(PRODUCTS, {"include_deleted": "true"}, **staff_headers)
    assert sorted(slugs(everything)) == ["deleted", "inactive", "later", "visible"]
    assert client.get(f"{PRODUCTS}later/", **staff_headers).status_code == 200
    assert client.get(f"{PRODUCTS}deleted/", **staff_headers).status_code == 404


def test_publish_window_boundaries(client):
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    end = start + timedelta(days=1)
    make_product("scheduled", publish_at=start, unpublish_at=end)
    make_product("always")

    def visible_at(moment):
        with freeze_time(moment):
            listed = "scheduled" in slugs(client.get(PRODUCTS))
            detail = client.get(f"{PRODUCTS}scheduled/").status_code
        assert detail == (200 if listed else 404)
        return listed

    assert not visible_at(start - timedelta(seconds=1))
    assert visible_at(start)
    assert visible_at(end - timedelta(seconds=1))
    assert not visible_at(end)


# --- money shapes -----------------------------------------------------------------------------


def test_v1_money_is_flat_and_v2_money_is_an_object(client, category_tree):
    make_product(
        "shoe",
        price="12.50",
        compare_at_price=Decimal("15.00"),
        currency="EUR",
        category=category_tree["clothing"],
        quantity=4,
        attributes={"size": "42"},
    )
    make_product("plain", price="3.00", currency="USD")

    v1 = client.get(f"{PRODUCTS}shoe/").json()
    assert (v1["price"], v1["compare_at_price"], v1["currency"]) == ("12.50", "15.00", "EUR")
    assert (v1["category"], v1["in_stock"], v1["stock_quantity"]) == ("clothing", True, 4)
    assert v1["attributes"] == {"size": "42"}

    v2 = client.get(f"{PRODUCTS_V2}shoe/").json()
    assert v2["price"] == {"amount": "12.50", "currency": "EUR"}
    assert v2["compare_at_price"] == {"amount": "15.00", "currency": "EUR"}
    assert "currency" not in v2

    listed = {p["slug"]: p for p in client.get(PRODUCTS_V2).json()["results"]}
    assert listed["plain"]["price"] == {"amount": "3.00", "currency": "USD"}
    assert listed["plain"]["compare_at_price"] is None
    assert (listed["plain"]["in_stock"], listed["plain"]["category"]) == (False, None)


# --- detail: redirects, caching ---------------------------------------------------------------


def test_old_slug_redirects_permanently_keeping_the_version(client):
    product = make_product("new-name")
    ProductSlugRedirect.objects.create(product=product, slug="old-name")
    for base in (PRODUCTS, PRODUCTS_V2):
        response = client.get(f"{base}old-name/")
        assert response.status_code == 301
        assert response["Location"] == f"{base}new-name/"


def test_old_slug_of_a_hidden_product_is_404(client):
    product = make_product("gone-now", is_active=False)
    ProductSlugRedirect.objects.create(product=product, slug="gone-before")
    response = client.get(f"{PRODUCTS}gone-before/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unknown_product_is_404_problem(client):
    response = client.get(f"{PRODUCTS}nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_detail_etag_answers_304_and_changes_with_stock(client, django_capture_on_commit_callbacks):
    product = make_product("lamp", quantity=2)
    first = client.get(f"{PRODUCTS}lamp/")
    assert first.status_code == 200
    assert "public" in first["Cache-Control"]
    etag = first["ETag"]
    again = client.get(f"{PRODUCTS}lamp/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""

    # Through the service, as every stock write must: it invalidates the cached page.
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product=product, data={"stock_quantity": 0})
    changed = client.get(f"{PRODUCTS}lamp/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["in_stock"] is False
    assert changed["ETag"] != etag


def test_staff_responses_are_private(client, staff_headers):
    make_product("lamp")
    response = client.get(PRODUCTS, **staff_headers)
    assert "private" in response["Cache-Control"]
    assert "public" in client.get(PRODUCTS)["Cache-Control"]


# --- query counts -----------------------------------------------------------------------------


# Tenant resolution and the rate limiter (database cache in embedded mode) add queries of their
# own to every request; these tests count the ones this endpoint makes.
CATALOG_TABLES = re.compile(r'"(catalog|inventory|accounts)_')


def catalog_queries(client, path, params=None, **headers):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params or {}, **headers)
    assert response.status_code in (200, 301), response.content
    return [q["sql"] for q in captured.captured_queries if CATALOG_TABLES.search(q["sql"])]


def test_list_query_count_is_constant(client, category_tree, staff_headers):
    def add(number):
        for _ in range(number):
            make_product(category=category_tree["shirts"], quantity=1)

    params = {"category": "clothing", "page_size": "100"}
    # Measured right after a write, the worst case: what it invalidated is recomputed.
    after_product_write = ["catalog", "catalog-schedule"]
    after_category_write = ["catalog", "categories"]
    client.get(PRODUCTS, params)  # a shop that has served pages before
    counts = []
    for number, namespaces in ((5, after_product_write), (45, after_category_write)):
        add(number)
        response_cache.bump(DEFAULT_TENANT_ID, namespaces)
        queries = catalog_queries(client, PRODUCTS, params)
        counts.append(len(queries))
        assert len(queries) <= 4, "\n".join(queries)
    assert counts[0] == counts[1]
    assert len(client.get(PRODUCTS, params).json()["results"]) == 50
    v2_staff = catalog_queries(
        client, PRODUCTS_V2, {**params, "in_stock": "true", "ordering": "price"}, **staff_headers
    )
    assert len(v2_staff) <= 4, "\n".join(v2_staff)


def test_detail_query_count(client, category_tree):
    product = make_product("desk", category=category_tree["shirts"], quantity=1)
    ProductSlugRedirect.objects.create(product=product, slug="old-desk")
    assert len(catalog_queries(client, f"{PRODUCTS}desk/")) <= 4
    assert len(catalog_queries(client, f"{PRODUCTS}old-desk/")) <= 4


def test_category_list_query_count(client, category_tree):
    # One query for the whole tree, then every category read comes from the cached tree.
    assert len(catalog_queries(client, CATEGORIES, {"tree": "true"})) == 1
    assert len(catalog_queries(client, f"{CATEGORIES}polo/")) == 0
    assert len(catalog_queries(client, CATEGORIES, {"tree": "true"}, HTTP_IF_NONE_MATCH="x")) == 0


# --- tenant isolation -------------------------------------------------------------------------

OTHER_HOST = "other.shop.test"


@pytest.fixture
def other_shop(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, OTHER_HOST]
    return TenantDomainFactory(domain=OTHER_HOST).tenant


def test_another_shops_catalog_is_invisible(client, other_shop):
    make_product("ours")
    make_category("our-category")
    with tenant_context(other_shop.id):
        theirs = make_product("theirs")
        ProductSlugRedirect.objects.create(product=theirs, slug="their-old-slug")
        make_category("their-category")

    assert slugs(client.get(PRODUCTS)) == ["ours"]
    assert client.get(f"{PRODUCTS}theirs/").status_code == 404
    assert client.get(f"{PRODUCTS}their-old-slug/").status_code == 404
    assert client.get(f"{CATEGORIES}their-category/").status_code == 404
    assert [c["slug"] for c in client.get(CATEGORIES).json()] == ["our-category"]

    assert slugs(client.get(PRODUCTS, HTTP_HOST=OTHER_HOST)) == ["theirs"]
    assert client.get(f"{PRODUCTS}ours/", HTTP_HOST=OTHER_HOST).status_code == 404
    their_categories = client.get(CATEGORIES, HTTP_HOST=OTHER_HOST).json()
    assert [c["slug"] for c in their_categories] == ["their-category"]


# --- the hand-built product body --------------------------------------------------------------


@pytest.mark.parametrize("path", [PRODUCTS, PRODUCTS_V2])
def test_list_and_detail_bodies_match_the_declared_serializer_fields(
    client, path, settings, tmp_path, django_capture_on_commit_callbacks
):
    """Lists and details build product bodies directly from rows; they must be exactly what
    the declared serializer fields (the OpenAPI schema) produce, in every field and format."""
    import io

    from PIL import Image

    from emporium.catalog import services_images
    from emporium.catalog.selectors import product_base_queryset
    from emporium.catalog.serializers import ProductSerializer, ProductV2Serializer

    settings.MEDIA_ROOT = tmp_path
    shirts = make_category("shirts")
    now = timezone.now()
    product = make_product(
        "linen-shirt",
        price="49.5",
        compare_at_price=Decimal("59.99"),
        category=shirts,
        quantity=7,
        publish_at=now - timedelta(days=1, microseconds=123),
        unpublish_at=now + timedelta(days=3),
        attributes={"colour": "blue", "sizes": ["S", "M"]},
        description="Cool in summer.",
    )
    make_product("plain-mug", price="5")  # no category, no stock, no images
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, "PNG")
    with django_capture_on_commit_callbacks(execute=True):
        buffer.seek(0)
        services_images.product_image_create(product=product, file=buffer, alt_text="Front")

    listed = client.get(path).json()["results"]
    detail = client.get(f"{path}linen-shirt/").json()
    serializer_class = ProductV2Serializer if path == PRODUCTS_V2 else ProductSerializer
    request = client.get(path).wsgi_request
    for item in listed:
        instance = product_base_queryset(staff=False).get(slug=item["slug"])
        expected = serializer_class(context={"request": request}).field_by_field_representation(
            instance
        )
        assert item == expected
        assert list(item) == list(expected)  # same field order too
    assert detail == next(item for item in listed if item["slug"] == "linen-shirt")
    assert detail["images"][0]["alt_text"] == "Front"
    assert detail["compare_at_price"] in ("59.99", {"amount": "59.99", "currency": "EUR"})


def test_units_held_by_unpaid_orders_are_not_in_stock(client):
    held = make_product("all-held", quantity=4)
    Stock.objects.filter(product=held).update(reserved=4)
    make_product("some-left", quantity=4)
    Stock.objects.filter(product__slug="some-left").update(reserved=1)

    body = client.get(f"{PRODUCTS}all-held/").json()
    assert (body["stock_quantity"], body["available"], body["in_stock"]) == (4, 0, False)
    assert slugs(client.get(PRODUCTS, {"in_stock": "true"})) == ["some-left"]
    assert slugs(client.get(PRODUCTS, {"in_stock": "false"})) == ["all-held"]
    listed = {item["slug"]: item["available"] for item in client.get(PRODUCTS).json()["results"]}
    assert listed == {"all-held": 0, "some-left": 3}
