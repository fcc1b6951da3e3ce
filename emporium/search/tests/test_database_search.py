"""Product search with the database backend (SQLite FTS5 or PostgreSQL), over HTTP."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from emporium.catalog import services
from emporium.catalog.models import Product
from emporium.core.context import tenant_context
from emporium.search.database import ensure_sqlite_index
from emporium.search.selectors import product_search_queryset

from .conftest import OTHER_HOST, make_product

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/products/"
SEARCH_V2 = "/api/v2/search/products/"


@pytest.fixture(autouse=True)
def _database_backend(settings):
    settings.SEARCH_BACKEND = "database"


def slugs(response):
    assert response.status_code == 200, response.content
    return [item["slug"] for item in response.json()["results"]]


def problem(response):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    return {(error["field"], error["code"]) for error in body["errors"]}


# --- relevance ---------------------------------------------------------------------------------


def test_exact_name_beats_description_match(client, catalog):
    found = slugs(client.get(SEARCH, {"q": "laptop"}))
    assert found[0] == "laptop"
    assert found[-1] == "docking-station"  # only its description says "laptop"
    assert sorted(found) == ["docking-station", "laptop", "laptop-sleeve"]


def test_prefix_substring_and_sku(client, catalog):
    assert slugs(client.get(SEARCH, {"q": "lapt"}))[:2] == ["laptop", "laptop-sleeve"]
    assert slugs(client.get(SEARCH, {"q": "phone"})) == ["wireless-headphones"]
    assert slugs(client.get(SEARCH, {"q": "zx-9000"})) == ["laptop-sleeve"]
    assert slugs(client.get(SEARCH, {"q": "DESK lamp"})) == ["desk-lamp"]
    assert slugs(client.get(SEARCH, {"q": "nothing like it"})) == []


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("lpatop", "laptop"), ("headphnoes", "wireless-headphones"), ("cofee", "coffee-mug")],
)
def test_typos_still_find_the_product(client, catalog, typo, expected):
    found = slugs(client.get(SEARCH, {"q": typo}))
    assert found[0] == expected
    assert "desk-lamp" not in found


def test_product_search_queryset_restricts_and_ranks(catalog):
    queryset = product_search_queryset(Product.objects.all(), "lapt")
    assert [p.slug for p in queryset][:2] == ["laptop", "laptop-sleeve"]
    assert set(queryset.values_list("slug", flat=True)) == {
        "laptop",
        "laptop-sleeve",
        "docking-station",
    }
    by_price = queryset.order_by("price")
    assert [p.slug for p in by_price] == ["laptop-sleeve", "docking-station", "laptop"]
    assert list(product_search_queryset(Product.objects.all(), "!!")) == []
    typo = product_search_queryset(Product.objects.filter(price__lt=100), "lpatop")
    assert [p.slug for p in typo] == ["laptop-sleeve"]


def test_names_starting_with_the_query_rank_first_ascii_or_not(client, db):
    # Each pair: created first and as long, only the name tier can put the other one ahead.
    make_product("Lamp Desk", slug="lamp-desk")
    make_product("Desk Lamp", slug="desk-lamp")
    assert slugs(client.get(SEARCH, {"q": "DESK"})) == ["desk-lamp", "lamp-desk"]
    make_product("Lamp Über", slug="lamp-uber")
    make_product("Über Lamp", slug="uber-lamp")
    if connection.vendor == "postgresql":  # SQLite's lower() folds ASCII letters only
        assert slugs(client.get(SEARCH, {"q": "ÜBER"})) == ["uber-lamp", "lamp-uber"]


def test_a_search_counts_once_with_its_facets_and_needs_no_look_ahead(client, catalog, settings):
    """One query counts the matches per category and price bucket: the total, both facets and
    the decision on the typo pass come from it; no look-ahead query."""
    look_ahead = re.compile(rf"LIMIT {settings.SEARCH_FUZZY_MIN_HITS}\b")
    with CaptureQueriesContext(connection) as context:
        body = client.get(SEARCH, {"q": "laptop"}).json()
    assert body["count"] == 3
    assert sum(facet["count"] for facet in body["facets"]["price"]) == 3
    searched = catalog_queries(context)
    counting = [sql for sql in searched if "COUNT(" in sql]
    assert len(counting) == 1
    assert "GROUP BY" in counting[0]
    assert not [sql for sql in searched if look_ahead.search(sql)]


# --- filters, ordering, facets, pages ----------------------------------------------------------


def test_filters_and_ordering(client, catalog):
    assert sorted(slugs(client.get(SEARCH, {"q": "laptop", "in_stock": "true"}))) == [
        "docking-station",
        "laptop",
    ]
    assert slugs(client.get(SEARCH, {"q": "laptop", "in_stock": "false"})) == ["laptop-sleeve"]
    assert slugs(client.get(SEARCH, {"q": "laptop", "max_price": "100"})) == ["laptop-sleeve"]
    assert slugs(client.get(SEARCH, {"q": "laptop", "min_price": "150", "ordering": "price"})) == [
        "docking-station",
        "laptop",
    ]
    assert slugs(client.get(SEARCH, {"q": "laptop", "ordering": "-price"})) == [
        "laptop",
        "docking-station",
        "laptop-sleeve",
    ]
    assert slugs(client.get(SEARCH, {"q": "laptop", "category": "home"})) == []
    assert slugs(client.get(SEARCH, {"q": "desk", "category": "electronics"})) == []
    assert slugs(client.get(SEARCH, {"q": "phone", "category": "electronics"})) == [
        "wireless-headphones"
    ]
    assert slugs(client.get(SEARCH, {"q": "laptop", "category": "no-such-category"})) == []


def test_facets_count_the_whole_matching_set(client, catalog):
    make_product("Office Laptop Stand", price="45.00", category=catalog["home"])
    body = client.get(SEARCH, {"q": "laptop", "page_size": "1"}).json()
    assert body["count"] == 4
    assert len(body["results"]) == 1
    assert body["facets"]["categories"] == [
        {"slug": "computers", "name": "Computers", "count": 3},
        {"slug": "electronics", "name": "Electronics", "count": 3},
        {"slug": "home", "name": "Home", "count": 1},
    ]
    assert body["facets"]["price"] == [
        {"min": "25.00", "max": "50.00", "count": 2},
        {"min": "100.00", "max": "250.00", "count": 1},
        {"min": "500.00", "max": "1000.00", "count": 1},
    ]
    filtered = client.get(SEARCH, {"q": "laptop", "max_price": "100"}).json()["facets"]
    assert filtered["price"] == [{"min": "25.00", "max": "50.00", "count": 2}]


def test_products_without_a_category_count_in_the_total_and_prices_only(client, catalog):
    make_product("Laptop Bag", price="60.00")  # no category
    body = client.get(SEARCH, {"q": "laptop"}).json()
    assert body["count"] == 4
    assert [(f["slug"], f["count"]) for f in body["facets"]["categories"]] == [
        ("computers", 3),
        ("electronics", 3),
    ]
    assert {"min": "50.00", "max": "100.00", "count": 1} in body["facets"]["price"]
    assert sum(facet["count"] for facet in body["facets"]["price"]) == 4


def test_pages_are_clamped_and_reported(client, catalog):
    first = client.get(SEARCH, {"q": "laptop", "page_size": "2"}).json()
    assert (first["count"], first["page_size"], len(first["results"])) == (3, 2, 2)
    assert "page=2" in first["next"]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert second["previous"] is not None
    seen = [r["slug"] for r in first["results"]] + [r["slug"] for r in second["results"]]
    assert sorted(seen) == ["docking-station", "laptop", "laptop-sleeve"]
    assert client.get(SEARCH, {"q": "laptop", "page_size": "500"}).json()["page_size"] == 100
    beyond = client.get(SEARCH, {"q": "laptop", "page": "9"})
    assert beyond.status_code == 404
    assert beyond["Content-Type"] == "application/problem+json"
    assert client.get(SEARCH, {"q": "laptop", "page": "zero"}).status_code == 404
    empty = client.get(SEARCH, {"q": "zzzz-nothing"}).json()
    assert (empty["count"], empty["results"], empty["facets"]) == (
        0,
        [],
        {"categories": [], "price": []},
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {("q", "required")}),
        ({"q": ""}, {("q", "invalid")}),
        ({"q": "a"}, {("q", "invalid")}),
        ({"q": "  a  "}, {("q", "invalid")}),
        ({"q": "!?"}, {("q", "invalid")}),
        ({"q": "x" * 201}, {("q", "max_length")}),
        ({"q": "laptop", "min_price": "cheap"}, {("min_price", "invalid")}),
        ({"q": "laptop", "min_price": "9", "max_price": "3"}, {("max_price", "invalid_range")}),
        ({"q": "laptop", "in_stock": "maybe"}, {("in_stock", "invalid_choice")}),
        ({"q": "laptop", "ordering": "relevance"}, {("ordering", "invalid_choice")}),
        ({"q": "laptop", "category": "not a slug"}, {("category", "invalid")}),
    ],
)
def test_bad_parameters_are_400_problems(client, catalog, params, expected):
    assert problem(client.get(SEARCH, params)) == expected


def test_results_are_serialized_as_the_product_list_does(client, catalog):
    v1 = client.get(SEARCH, {"q": "desk lamp"}).json()["results"][0]
    listed = client.get("/api/v1/products/", {"category": "home", "ordering": "price"}).json()
    assert v1 == next(item for item in listed["results"] if item["slug"] == "desk-lamp")
    v2 = client.get(SEARCH_V2, {"q": "desk lamp"}).json()["results"][0]
    assert v2["price"] == {"amount": "35.00", "currency": "EUR"}
    assert "currency" not in v2


def catalog_queries(context):
    """Queries of search itself (tenant lookup, rate limits and caches are not its business)."""
    return [q["sql"] for q in context.captured_queries if '"catalog_' in q["sql"]]


def test_query_count_is_bounded(client, catalog, django_assert_max_num_queries):
    make_product("Laptop Stand", category=catalog["computers"], quantity=1)
    params = {"q": "laptop", "category": "electronics", "in_stock": "true", "page_size": "50"}
    client.get(SEARCH, params)  # the first request also creates the rate-limit counters
    with CaptureQueriesContext(connection) as few:
        assert client.get(SEARCH, params).json()["count"] == 3
    for number in range(30):
        make_product(f"Laptop Model {number}", category=catalog["computers"], quantity=1)
    with django_assert_max_num_queries(40), CaptureQueriesContext(connection) as many:
        assert client.get(SEARCH, params).json()["count"] == 33
    # The count with both facets, the page's ids, the page's rows with their images (the
    # category tree is read once per change).
    assert len(catalog_queries(many)) == len(catalog_queries(few)) <= 3
    # A misspelt query adds the spelling correction's few lookups.
    with CaptureQueriesContext(connection) as misspelt:
        assert slugs(client.get(SEARCH, {"q": "lpatop"}))
    assert len(catalog_queries(misspelt)) <= 14


# --- visibility and index maintenance ----------------------------------------------------------


def test_inactive_and_deleted_products_are_not_found(client, catalog):
    make_product("Hidden Laptop", is_active=False)
    make_product("Gone Laptop").delete()
    assert sorted(slugs(client.get(SEARCH, {"q": "laptop"}))) == [
        "docking-station",
        "laptop",
        "laptop-sleeve",
    ]


def test_publish_window_is_followed(client, catalog):
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    end = start + timedelta(days=1)
    make_product("Scheduled Gadget", publish_at=start, unpublish_at=end)

    def found_at(moment):
        with freeze_time(moment):
            return "scheduled-gadget" in slugs(client.get(SEARCH, {"q": "gadget"}))

    assert not found_at(start - timedelta(seconds=1))
    assert found_at(start)
    assert found_at(end - timedelta(seconds=1))
    assert not found_at(end)


def test_index_follows_create_update_delete_restore(client, catalog):
    product = services.product_create(
        name="Zebra Blanket", sku="ZB-1", price=Decimal("20"), currency="EUR"
    )
    assert slugs(client.get(SEARCH, {"q": "zebra"})) == ["zebra-blanket"]
    services.product_update(product=product, data={"name": "Quokka Throw"})
    assert slugs(client.get(SEARCH, {"q": "zebra"})) == []
    assert slugs(client.get(SEARCH, {"q": "quokka"})) == ["zebra-blanket"]
    services.product_update(product=product, data={"is_active": False})
    assert slugs(client.get(SEARCH, {"q": "quokka"})) == []
    services.product_update(product=product, data={"is_active": True})
    services.product_delete(product=product)
    assert slugs(client.get(SEARCH, {"q": "quokka"})) == []
    services.product_restore(slug="zebra-blanket")
    assert slugs(client.get(SEARCH, {"q": "quokka"})) == ["zebra-blanket"]
    Product.objects.filter(pk=product.pk).update(description="Soft alpaca wool")
    assert slugs(client.get(SEARCH, {"q": "alpaca"})) == ["zebra-blanket"]


def test_bulk_inserted_products_are_indexed(client, catalog):
    tenant_id = catalog["laptop"].tenant_id
    Product.objects.bulk_create(
        Product(
            name=f"Bulk Kettle {i}", slug=f"kettle-{i}", sku=f"K-{i}", price=1, tenant_id=tenant_id
        )
        for i in range(3)
    )
    assert client.get(SEARCH, {"q": "kettle"}).json()["count"] == 3


def test_another_shops_products_are_invisible(client, catalog, other_shop):
    with tenant_context(other_shop.id):
        make_product("Laptop Of Another Shop")
    assert "laptop-of-another-shop" not in slugs(client.get(SEARCH, {"q": "laptop"}))
    assert slugs(client.get(SEARCH, {"q": "laptop"}, HTTP_HOST=OTHER_HOST)) == [
        "laptop-of-another-shop"
    ]
    theirs = client.get(SEARCH, {"q": "lpatop"}, HTTP_HOST=OTHER_HOST).json()
    assert [r["slug"] for r in theirs["results"]] == ["laptop-of-another-shop"]
    assert theirs["facets"]["categories"] == []


def test_sqlite_index_is_restored_after_a_table_rebuild(client, catalog):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER search_product_fts_ai")
    make_product("Unindexed Teapot")
    assert slugs(client.get(SEARCH, {"q": "teapot"})) == []
    assert ensure_sqlite_index(connection) is True
    assert ensure_sqlite_index(connection) is False
    assert slugs(client.get(SEARCH, {"q": "teapot"})) == ["unindexed-teapot"]


def test_reindex_command_with_the_database_backend(catalog, capsys):
    call_command("search_reindex")
    out = capsys.readouterr().out
    expected = "SQLite FTS5" if connection.vendor == "sqlite" else "ANALYZE"
    assert expected in out
    with pytest.raises(Exception, match="no-such-shop"):
        call_command("search_reindex", "--tenant", "no-such-shop")
