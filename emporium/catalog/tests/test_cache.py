"""The server-side response cache of catalog reads: hits, invalidation, schedules, purge."""

import io
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from emporium.catalog.models import Product
from emporium.catalog.services import product_update
from emporium.catalog.tests.test_read import (
    CATALOG_TABLES,
    CATEGORIES,
    PRODUCTS,
    PRODUCTS_V2,
    make_category,
    make_product,
    slugs,
)
from emporium.core import cache_backends, caching
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

PURGE = "/api/v1/admin/cache/purge/"


@pytest.fixture
def staff_headers(make_user, bearer):
    return bearer(make_user(email="staff@example.com", is_staff=True))


@pytest.fixture
def customer_headers(make_user, bearer):
    return bearer(make_user(email="customer@example.com"))


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a write's after-commit work (cache invalidation) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def get(client, path, **headers):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **headers)
    queries = [q["sql"] for q in captured.captured_queries if CATALOG_TABLES.search(q["sql"])]
    return response, queries


def test_second_anonymous_read_is_a_hit_without_catalog_queries(client):
    make_product("lamp", quantity=3)
    for path in (PRODUCTS, f"{PRODUCTS}lamp/", CATEGORIES):
        first, _ = get(client, path)
        again, queries = get(client, path)
        assert (first["X-Cache"], again["X-Cache"]) == ("MISS", "HIT")
        assert queries == []
        assert again.content == first.content
        assert again["Content-Type"] == first["Content-Type"] == "application/json"
        assert again["ETag"] == first["ETag"]
        assert again["Cache-Control"] == first["Cache-Control"]


def test_a_pages_etag_is_hashed_once_per_language_and_kept_with_it(client):
    make_product("lamp")
    etags = {}
    for language in ("en", "de"):
        first = client.get(PRODUCTS, HTTP_ACCEPT_LANGUAGE=language)
        again = client.get(PRODUCTS, HTTP_ACCEPT_LANGUAGE=language)
        assert (first["X-Cache"], again["X-Cache"]) == ("MISS", "HIT")
        assert (
            again["ETag"]
            == first["ETag"]
            == caching.weak_etag("application/json", language, first.content)
        )
        etags[language] = first["ETag"]
    assert etags["en"] != etags["de"]


def test_a_hit_still_answers_conditional_requests(client):
    make_product("lamp")
    etag = client.get(f"{PRODUCTS}lamp/")["ETag"]
    response = client.get(f"{PRODUCTS}lamp/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["X-Cache"] == "HIT"


def test_query_order_shares_a_page_and_versions_do_not(client):
    make_product("lamp")
    client.get(PRODUCTS, {"min_price": "1", "ordering": "price"})
    assert client.get(f"{PRODUCTS}?ordering=price&min_price=1")["X-Cache"] == "HIT"
    assert client.get(f"{PRODUCTS}?ordering=price&min_price=2")["X-Cache"] == "MISS"
    v2 = client.get(f"{PRODUCTS_V2}?ordering=price&min_price=1")
    assert v2["X-Cache"] == "MISS"
    assert isinstance(v2.json()["results"][0]["price"], dict)


def test_signed_in_readers_are_never_served_from_the_cache(client, customer_headers, staff_headers):
    make_product("lamp", price="10.00")
    client.get(PRODUCTS)
    for headers in (customer_headers, staff_headers):
        response = client.get(PRODUCTS, **headers)
        assert "X-Cache" not in response
        assert "private" in response["Cache-Control"]


WRITES = {
    "create": lambda c, h: c.post(
        PRODUCTS,
        {"name": "New", "sku": "NEW-1", "price": "5.00", "currency": "EUR"},
        content_type="application/json",
        **h,
    ),
    "update": lambda c, h: c.patch(
        f"{PRODUCTS}lamp/", {"price": "99.00"}, content_type="application/json", **h
    ),
    "delete": lambda c, h: c.delete(f"{PRODUCTS}lamp/", **h),
    "batch": lambda c, h: c.patch(
        f"{PRODUCTS}batch/",
        {"items": [{"sku": "LAMP", "price": "99.00"}]},
        content_type="application/json",
        **h,
    ),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_product_write_invalidates_lists_and_details(client, staff_headers, committed, write):
    make_product("lamp", price="10.00", quantity=1).__class__.objects.filter(slug="lamp").update(
        sku="LAMP"
    )
    before_list = client.get(PRODUCTS)
    before_detail = client.get(f"{PRODUCTS}lamp/")
    assert client.get(PRODUCTS)["X-Cache"] == "HIT"

    with committed():
        response = WRITES[write](client, staff_headers)
    assert response.status_code in (200, 201, 204), response.content

    after_list = client.get(PRODUCTS)
    assert after_list["X-Cache"] == "MISS"
    assert after_list.content != before_list.content
    after_detail = client.get(f"{PRODUCTS}lamp/")
    assert after_detail["X-Cache"] == "MISS"
    if write != "create":  # a new product leaves the lamp's own page as it was
        assert (after_detail.status_code, after_detail.content) != (
            before_detail.status_code,
            before_detail.content,
        )


def test_restore_invalidates(client, staff_headers, committed):
    make_product("lamp")
    with committed():
        client.delete(f"{PRODUCTS}lamp/", **staff_headers)
    assert slugs(client.get(PRODUCTS)) == []
    with committed():
        assert client.post(f"{PRODUCTS}lamp/restore/", **staff_headers).status_code == 200
    assert slugs(client.get(PRODUCTS)) == ["lamp"]


def test_category_writes_invalidate_categories_and_products(client, staff_headers, committed):
    clothing = make_category("clothing")
    make_product("shirt", category=clothing)
    assert [c["slug"] for c in client.get(CATEGORIES).json()] == ["clothing"]
    assert slugs(client.get(PRODUCTS, {"category": "clothing"})) == ["shirt"]

    with committed():
        response = client.patch(
            f"{CATEGORIES}clothing/",
            {"is_active": False},
            content_type="application/json",
            **staff_headers,
        )
    assert response.status_code == 200, response.content
    assert client.get(CATEGORIES).json() == []
    assert slugs(client.get(PRODUCTS, {"category": "clothing"})) == []


def test_a_cached_page_never_outlives_a_scheduled_unpublish(client):
    now = timezone.now().replace(microsecond=0)
    ends = now + timedelta(seconds=40)
    make_product("flash-sale", unpublish_at=ends)
    make_product("always")
    with freeze_time(now):
        first = client.get(PRODUCTS)
        assert set(slugs(first)) == {"flash-sale", "always"}
        # Neither the server cache nor any browser or proxy may keep it past `ends`.
        assert "max-age=30" in first["Cache-Control"]
    with freeze_time(ends - timedelta(seconds=20)):
        response = client.get(PRODUCTS)
        assert response["X-Cache"] == "HIT"
        assert "max-age=20" in response["Cache-Control"]
    with freeze_time(ends):
        response = client.get(PRODUCTS)
        assert response["X-Cache"] == "MISS"
        assert slugs(response) == ["always"]
        assert response.json()["count"] == 1
        assert client.get(f"{PRODUCTS}flash-sale/").status_code == 404


def test_a_cached_page_shows_a_product_from_its_publish_time(client):
    now = timezone.now().replace(microsecond=0)
    starts = now + timedelta(minutes=2)
    make_product("launch", publish_at=starts)
    with freeze_time(now):
        assert slugs(client.get(PRODUCTS)) == []
    with freeze_time(starts):
        assert slugs(client.get(PRODUCTS)) == ["launch"]


def test_shops_never_share_cached_pages(client, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "other.shop.test"]
    other = TenantDomainFactory(domain="other.shop.test").tenant
    make_product("ours")
    with tenant_context(other.id):
        make_product("theirs")
    assert slugs(client.get(PRODUCTS)) == ["ours"]
    response = client.get(PRODUCTS, HTTP_HOST="other.shop.test")
    assert response["X-Cache"] == "MISS"
    assert slugs(response) == ["theirs"]


@pytest.mark.parametrize(
    ("scope", "products_purged", "categories_purged"),
    [("all", True, True), ("catalog", True, True), ("categories", False, True)],
)
def test_staff_purge_by_scope(client, staff_headers, scope, products_purged, categories_purged):
    make_product("lamp")
    client.get(PRODUCTS)
    client.get(CATEGORIES)
    response = client.post(
        PURGE, {"scope": scope}, content_type="application/json", **staff_headers
    )
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == scope
    assert (client.get(PRODUCTS)["X-Cache"] == "MISS") is products_purged
    assert (client.get(CATEGORIES)["X-Cache"] == "MISS") is categories_purged


def test_purge_is_staff_only_and_checks_the_scope(client, customer_headers, staff_headers):
    body = {"scope": "all"}
    assert client.post(PURGE, body, content_type="application/json").status_code == 401
    forbidden = client.post(PURGE, body, content_type="application/json", **customer_headers)
    assert forbidden.status_code == 403
    bad = client.post(
        PURGE, {"scope": "everything"}, content_type="application/json", **staff_headers
    )
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/problem+json"


def test_purge_leaves_other_shops_cached(client, staff_headers, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "other.shop.test"]
    other = TenantDomainFactory(domain="other.shop.test").tenant
    with tenant_context(other.id):
        make_product("theirs")
    client.get(PRODUCTS, HTTP_HOST="other.shop.test")
    client.post(PURGE, {"scope": "all"}, content_type="application/json", **staff_headers)
    assert client.get(PRODUCTS, HTTP_HOST="other.shop.test")["X-Cache"] == "HIT"


def test_warm_caches_makes_first_reads_hits(client):
    clothing = make_category("clothing")
    make_category("shirts", parent=clothing)
    make_product("shirt", category=clothing)
    make_product("lamp")
    out = io.StringIO()
    call_command(
        "warm_caches", "--tenant", "default", "--base-url", "http://testserver", stdout=out
    )
    assert "0 failed" in out.getvalue(), out.getvalue()
    for path in (
        CATEGORIES,
        f"{CATEGORIES}?tree=true",
        PRODUCTS,
        f"{PRODUCTS}?category=clothing",
        f"{PRODUCTS}shirt/",
        f"{PRODUCTS_V2}lamp/",
    ):
        response, queries = get(client, path)
        assert response["X-Cache"] == "HIT", path
        assert queries == [], path


def test_search_answers_are_cached_and_follow_writes(client, staff_headers, committed):
    make_product("blue-lamp", name="Blue Lamp")
    search = "/api/v1/search/products/"
    first = client.get(search, {"q": "lamp"})
    assert first["X-Cache"] == "MISS"
    assert client.get(search, {"q": "lamp"})["X-Cache"] == "HIT"
    with committed():
        client.post(
            PRODUCTS,
            {"name": "Red Lamp", "sku": "RED-1", "price": "5.00", "currency": "EUR"},
            content_type="application/json",
            **staff_headers,
        )
    after = client.get(search, {"q": "lamp"})
    assert after["X-Cache"] == "MISS"
    assert sorted(slugs(after)) == ["blue-lamp", "red-lamp"]


def test_product_list_q_filters_and_ranks(client):
    make_product("desk-lamp", name="Desk Lamp")
    make_product("lamp", name="Lamp")
    make_product("chair", name="Chair")
    assert slugs(client.get(PRODUCTS, {"q": "lamp"}))[0] == "lamp"
    assert set(slugs(client.get(PRODUCTS, {"q": "lamp", "ordering": "name"}))) == {
        "desk-lamp",
        "lamp",
    }
    assert slugs(client.get(PRODUCTS, {"q": "lamp", "ordering": "name"})) == ["desk-lamp", "lamp"]
    bad = client.get(PRODUCTS, {"q": "l"})
    assert bad.status_code == 400
    assert bad["Content-Type"] == "application/problem+json"


# --- hits answered by the middleware, before URL resolution and DRF ----------------------------


def test_a_hit_carries_the_same_headers_as_the_page_it_replays(client):
    make_product("lamp")
    miss = client.get(PRODUCTS)
    hit = client.get(PRODUCTS)
    assert (miss["X-Cache"], hit["X-Cache"]) == ("MISS", "HIT")
    ignored = {"X-Cache", "X-Request-ID", "RateLimit-Remaining", "RateLimit-Reset", "Date"}
    assert {h for h in miss.headers if h not in ignored} == {
        h for h in hit.headers if h not in ignored
    }
    for header in ("Allow", "Vary", "ETag", "Cache-Control", "Content-Type", "X-Frame-Options"):
        assert hit[header] == miss[header], header


def test_hits_count_against_the_rate_limit(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "anon": "3/min"}
    make_product("lamp")
    first = client.get(PRODUCTS)
    second = client.get(PRODUCTS)
    third = client.get(PRODUCTS)
    assert [r["X-Cache"] for r in (first, second, third)] == ["MISS", "HIT", "HIT"]
    assert [r["RateLimit-Remaining"] for r in (first, second, third)] == ["2", "1", "0"]
    refused = client.get(PRODUCTS)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0


def test_requests_the_middleware_leaves_to_the_view_get_the_same_answers(client, customer_headers):
    make_product("lamp")
    first = client.get(PRODUCTS)
    # A browser's Accept or an (anonymous) session cookie: the view answers, from the cache.
    browser = client.get(PRODUCTS, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert (browser["X-Cache"], browser.content) == ("HIT", first.content)
    client.cookies["sessionid"] = "not-a-session"
    with_cookie = client.get(PRODUCTS)
    assert (with_cookie["X-Cache"], with_cookie.content) == ("HIT", first.content)
    # A signed-in customer: never from the cache.
    assert "X-Cache" not in client.get(PRODUCTS, **customer_headers)


def test_a_page_miss_reads_the_cache_in_one_round_trip(client, monkeypatch):
    """The page lookup also fetches what a miss goes on to read (the schedule, the list's
    total): a miss then costs that one read and the write of the new page."""
    from django.core.cache import cache

    make_product("lamp", quantity=3)
    client.get(PRODUCTS + "?category=")  # the schedule and the unfiltered total are now known
    reads = []

    def recording(original):
        def read(*args, **kwargs):
            keys = [key for arg in args for key in (arg if isinstance(arg, list) else [arg])]
            if any(isinstance(key, str) and key.startswith("rc:") for key in keys):
                reads.append(keys)  # a response cache read (rate-limit counters aside)
            return original(*args, **kwargs)

        return read

    for method in ("get", "get_many", "incr_counters_get_many"):
        if hasattr(cache, method):
            monkeypatch.setattr(cache, method, recording(getattr(cache, method)))
    for path in (f"{PRODUCTS}?page_size=5", f"{PRODUCTS}lamp/"):
        reads.clear()
        response = client.get(path)
        assert response.status_code == 200
        assert response["X-Cache"] == "MISS"
        assert len(reads) == 1, (path, reads)


def test_a_category_filtered_miss_reads_the_category_tree_once_per_change(
    client, staff_headers, committed, monkeypatch
):
    """The tree a category filter resolves is shared by the process's requests until a category
    write moves its generation: later misses neither read nor unpickle it again."""
    from django.core.cache import cache

    clothing = make_category("clothing")
    make_product("shirt", category=clothing)
    tree_reads = []

    def recording(original):
        def read(*args, **kwargs):
            keys = [key for arg in args for key in (arg if isinstance(arg, list) else [arg])]
            tree_reads.extend(k for k in keys if isinstance(k, str) and ":derived:" in k)
            return original(*args, **kwargs)

        return read

    for method in ("get", "get_many", "incr_counters_get_many"):
        if hasattr(cache, method):
            monkeypatch.setattr(cache, method, recording(getattr(cache, method)))
    assert slugs(client.get(PRODUCTS, {"category": "clothing", "page_size": 1})) == ["shirt"]
    assert slugs(client.get(PRODUCTS, {"category": "clothing", "page_size": 2})) == ["shirt"]
    assert len(tree_reads) <= 1  # read from the shared cache by the first miss at most

    with committed():
        renamed = client.patch(
            f"{CATEGORIES}clothing/",
            {"slug": "apparel"},
            content_type="application/json",
            **staff_headers,
        )
    assert renamed.status_code == 200, renamed.content
    assert slugs(client.get(PRODUCTS, {"category": "apparel", "page_size": 3})) == ["shirt"]
    assert client.get(PRODUCTS, {"category": "clothing", "page_size": 3}).json()["count"] == 0


def test_the_shared_category_list_cannot_be_changed_by_a_reader():
    from emporium.catalog import selectors

    make_category("clothing")
    selectors.category_list(include_inactive=True).clear()
    assert [c.slug for c in selectors.category_list(include_inactive=True)] == ["clothing"]


def test_indented_json_is_answered_fresh_and_never_stored(client):
    make_product("lamp")
    indented = client.get(PRODUCTS, HTTP_ACCEPT="application/json; indent=4")
    assert indented.status_code == 200
    assert indented.content.startswith(b'{\n    "count": 1')
    assert "X-Cache" not in indented
    plain = client.get(PRODUCTS)
    assert (plain["X-Cache"], plain.content[:10]) == ("MISS", b'{"count":1')
    again = client.get(PRODUCTS, HTTP_ACCEPT="application/json; indent=4")
    assert again.content == indented.content
    # A quality value is no parameter of the representation: served from the cache.
    weighted = client.get(PRODUCTS, HTTP_ACCEPT="application/json;q=0.9, */*;q=0.1")
    assert (weighted["X-Cache"], weighted.content) == ("HIT", plain.content)


def test_an_unreachable_cache_server_means_misses_not_errors(
    client, committed, unreachable_cache, caplog
):
    make_category("gear")
    make_product("lamp", quantity=3)
    for path in (PRODUCTS, f"{PRODUCTS}lamp/", CATEGORIES, f"{PRODUCTS}?page_size=5"):
        for _ in range(2):  # nothing is stored: the second read is a miss again
            response = client.get(path)
            assert response.status_code == 200, (path, response.content)
            assert response["X-Cache"] == "MISS"
    assert slugs(client.get(PRODUCTS)) == ["lamp"]
    # After the first failure the cache is left alone for a while: no request waits for it.
    assert not cache_backends.cache_available()
    # A write succeeds; its failed invalidation is logged (pages stored before it expire).
    with caplog.at_level(logging.ERROR), committed():
        product_update(product=Product.objects.get(slug="lamp"), data={"name": "Desk lamp"})
    assert "response_cache_invalidation_failed" in caplog.text
    assert client.get(f"{PRODUCTS}lamp/").json()["name"] == "Desk lamp"


def test_the_cache_is_tried_again_after_a_while(unreachable_cache, monkeypatch):
    from emporium.core import response_cache

    clock = [1000.0]
    monkeypatch.setattr(cache_backends.time, "monotonic", lambda: clock[0])
    tried = []

    class Cache:
        def get_many(self, keys):
            tried.append(keys)
            return {}

    monkeypatch.setattr(response_cache, "cache", Cache())
    cache_backends.cache_failed(ConnectionError("refused"), operation="page read")
    assert response_cache._read_many(["a"]) == {}
    assert tried == []
    clock[0] += cache_backends.UNAVAILABLE_SECONDS
    assert response_cache._read_many(["a"]) == {}
    assert tried == [["a"]]
