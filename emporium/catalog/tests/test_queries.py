"""The hand-written catalog reads select exactly what the ORM selectors select, with the same
values, on this database (SQLite embedded, PostgreSQL in CI)."""

from dataclasses import asdict
from datetime import timedelta
from decimal import Decimal
from itertools import product as combinations

import pytest
from django.utils import timezone

from emporium.catalog import queries, selectors
from emporium.catalog.models import Product, ProductImage
from emporium.catalog.tests.test_read import make_category, make_image, make_product
from emporium.core.context import tenant_context
from emporium.inventory.models import Stock
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    now = timezone.now()
    clothing = make_category("clothing")
    shirts = make_category("shirts", parent=clothing)
    books = make_category("books")
    make_product("plain", price="5.00", quantity=3, category=books, attributes={"pages": 100})
    make_product("shirt-a", price="19.99", quantity=0, category=shirts, name="Alpha")
    make_product("shirt-b", price="19.99", category=shirts, name="Beta")
    make_product("coat", price="120.00", quantity=8, category=clothing, rating_average="4.50")
    make_product("free", price="0.00", quantity=1, rating_average="4.50", rating_count=2)
    make_product("inactive", price="7.00", quantity=5, is_active=False)
    make_product("later", price="8.00", quantity=5, publish_at=now + timedelta(days=1))
    make_product("gone", price="9.00", quantity=5, unpublish_at=now - timedelta(seconds=1))
    make_product("window", price="10.00", unpublish_at=now + timedelta(days=1))
    deleted = make_product("deleted", price="11.00", quantity=5, category=books)
    deleted.delete()
    held = make_product("held", price="12.00", category=books)
    Stock.objects.create(product=held, quantity=2, reserved=2)
    return {"clothing": clothing, "shirts": shirts, "books": books}


def _filters(catalog):
    clothing_tree = frozenset({catalog["clothing"].id, catalog["shirts"].id})
    for staff, include_deleted, categories, low, high, in_stock, ordering in combinations(
        (False, True),
        (False, True),
        (None, clothing_tree, frozenset({catalog["books"].id}), frozenset()),
        (None, Decimal("5.00")),
        (None, Decimal("19.99")),
        (None, True, False),
        tuple(selectors.PRODUCT_ORDERINGS),
    ):
        if include_deleted and not staff:
            continue
        yield queries.ProductFilter(
            staff=staff,
            include_deleted=include_deleted,
            category_ids=categories,
            min_price=low,
            max_price=high,
            in_stock=in_stock,
            ordering=ordering,
        )


def _without_images(row):
    return {key: value for key, value in row.items() if key not in {"images", "source"}}


def test_pages_and_counts_match_the_orm_for_every_filter(catalog):
    checked = 0
    for product_filter in _filters(catalog):
        expected = list(selectors.product_rows(selectors.product_list(**asdict(product_filter))))
        page = queries.product_page(product_filter, offset=0, limit=100)
        assert [_without_images(row) for row in page] == expected, product_filter
        assert queries.product_count(product_filter) == len(expected), product_filter
        checked += 1
    # (customer, staff, staff with deleted) x categories x bounds x stock x orderings
    assert checked == 3 * 4 * 2 * 2 * 3 * 5


def test_rows_carry_typed_values(catalog):
    rows = queries.product_page(queries.ProductFilter(ordering="price"), offset=0, limit=100)
    assert [row["slug"] for row in rows] == [
        "free",
        "plain",
        "window",
        "held",
        "shirt-a",
        "shirt-b",
        "coat",
    ]
    plain = rows[1]
    assert plain["price"] == Decimal("5.00")
    assert isinstance(plain["price"], Decimal)
    assert plain["attributes"] == {"pages": 100}
    assert plain["is_active"] is True
    assert plain["category_slug"] == "books"
    assert (plain["on_hand"], plain["available"]) == (3, 3)
    assert plain["created_at"].tzinfo is not None
    assert plain["id"] == Product.objects.get(slug="plain").id
    held = rows[3]
    assert (held["on_hand"], held["available"]) == (2, 0)
    window = rows[2]
    assert window["unpublish_at"] > window["created_at"]
    assert (window["on_hand"], window["available"], window["category_slug"]) == (0, 0, None)


def test_pages_are_slices_of_the_same_order(catalog):
    source = queries.ProductPageSource(queries.ProductFilter(ordering="-price"))
    every = source[0:100]
    assert len(source) == len(every) == 7
    assert list(source[2:4]) == every[2:4]
    assert source[5] == every[5]
    assert list(source[6:6]) == []
    with pytest.raises(TypeError):
        source[0:4:2]
    with pytest.raises(TypeError):
        source[-2:]


def test_one_product_by_slug_follows_visibility(catalog):
    assert queries.product_by_slug("plain", staff=False)["sku"]
    for hidden in ("inactive", "later", "gone"):
        assert queries.product_by_slug(hidden, staff=False) is None
        assert queries.product_by_slug(hidden, staff=True)["slug"] == hidden
    assert queries.product_by_slug("deleted", staff=True) is None
    assert queries.product_by_slug("missing", staff=True) is None


def test_images_in_display_order_and_visibility(catalog):
    plain, coat = Product.objects.get(slug="plain"), Product.objects.get(slug="coat")
    second = make_image(plain, position=2, status=ProductImage.Status.READY)
    first = make_image(plain, position=1, status=ProductImage.Status.READY)
    pending = make_image(plain, position=0, status=ProductImage.Status.PENDING)
    failed = make_image(coat, position=0, status=ProductImage.Status.FAILED)

    customer = queries.images_by_product([plain.id, coat.id], staff=False)
    assert customer == {plain.id: [first, second]}
    assert customer[plain.id][0].file_path == first.file_path
    staff = queries.images_by_product([plain.id, coat.id], staff=True)
    assert staff == {plain.id: [pending, first, second], coat.id: [failed]}
    assert queries.images_by_product([], staff=True) == {}

    # Pages and single products carry the same images, each product once, in page order.
    by_price = queries.ProductFilter(ordering="price")
    page = queries.product_page(by_price, offset=0, limit=100)
    images = {row["slug"]: row["images"] for row in page}
    assert len(page) == 7
    assert images["plain"] == [first, second]
    assert images["coat"] == []
    assert images["free"] == []
    staff_page = queries.product_page(queries.ProductFilter(staff=True), offset=0, limit=100)
    staff_images = {row["slug"]: row["images"] for row in staff_page}
    assert staff_images["plain"] == [pending, first, second]
    assert staff_images["coat"] == [failed]
    assert queries.product_by_slug("plain", staff=False)["images"] == [first, second]
    assert queries.product_by_slug("coat", staff=True)["images"] == [failed]
    # Paging counts products, not image rows.
    assert [row["slug"] for row in queries.product_page(by_price, offset=1, limit=2)] == [
        "plain",
        "window",
    ]


def test_another_shops_products_are_never_read(catalog):
    other = TenantDomainFactory(domain="other.example.com").tenant
    with tenant_context(other.id):
        make_product("theirs", quantity=1)
        assert [
            row["slug"]
            for row in queries.product_page(queries.ProductFilter(), offset=0, limit=100)
        ] == ["theirs"]
        assert queries.product_by_slug("plain", staff=True) is None
    assert queries.product_by_slug("theirs", staff=True) is None
    assert queries.product_count(queries.ProductFilter(staff=True)) == 10


def test_products_by_ids_follow_visibility_with_their_images(catalog):
    every = {product.slug: product.id for product in Product.all_objects.all()}
    plain = Product.objects.get(slug="plain")
    ready = make_image(plain, position=1, status=ProductImage.Status.READY)
    pending = make_image(plain, position=2, status=ProductImage.Status.PENDING)
    customer = queries.products_by_ids(list(every.values()), staff=False)
    staff = queries.products_by_ids(list(every.values()), staff=True)
    visible = {row["slug"] for row in customer.values()}
    assert visible == {"plain", "shirt-a", "shirt-b", "coat", "free", "window", "held"}
    assert {row["slug"] for row in staff.values()} == set(every) - {"deleted"}
    assert [image.pk for image in customer[plain.id]["images"]] == [ready.pk]
    assert [image.pk for image in staff[plain.id]["images"]] == [ready.pk, pending.pk]
    # The same rows as the ORM selector reads.
    orm = {row["id"]: row for row in selectors.product_rows(Product.objects.filter(slug="coat"))}
    coat = every["coat"]
    assert {key: customer[coat][key] for key in orm[coat]} == orm[coat]
    # Another shop's products are never found; no ids, no query.
    with tenant_context(TenantDomainFactory(domain="other.example").tenant.id):
        assert queries.products_by_ids(list(every.values()), staff=True) == {}
    assert queries.products_by_ids([], staff=True) == {}


def test_values_that_need_quoting_are_read_exactly(catalog):
    awkward = "Quote \" back\\slash, comma (paren) \\\" 'single' \n line — ünï 🎒"
    product = make_product(
        "awkward",
        price="1234567.89",
        quantity=4,
        name=awkward[:120],
        description="",
        compare_at_price=Decimal("0.10"),
        attributes={'k"ey': ["a,b", "(c)", 'd"\\e', None, 1.5, True], "empty": ""},
        publish_at=timezone.now() - timedelta(days=1),
        rating_average="0.00",
    )
    image = make_image(product, position=1, status=ProductImage.Status.READY)
    image.alt_text = awkward
    image.storage_key = ""
    image.save()
    orm = selectors.product_rows(Product.objects.filter(slug="awkward"))[0]
    by_slug = queries.product_by_slug("awkward", staff=False)
    on_page = next(
        row
        for row in queries.product_page(queries.ProductFilter(), offset=0, limit=100)
        if row["slug"] == "awkward"
    )
    stored = ProductImage.objects.get(pk=image.pk)
    for row in (by_slug, on_page):
        assert _without_images(row) == orm
        assert row["description"] == ""
        assert row["name"] == awkward[:120]
        [read] = row["images"]
        assert {
            field.attname: getattr(read, field.attname) for field in ProductImage._meta.fields
        } == {field.attname: getattr(stored, field.attname) for field in ProductImage._meta.fields}
