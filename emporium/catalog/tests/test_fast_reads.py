"""Anonymous misses of the product list and detail are answered by the cache middleware's
readers (catalog/api/fast.py) without DRF: every answer must equal the view's, byte for byte and
header by header, and whatever a reader does not handle must still reach the view."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from emporium.catalog import queries
from emporium.catalog.api import read
from emporium.catalog.models import Product, ProductImage
from emporium.catalog.services import product_update
from emporium.catalog.tests.test_read import make_category, make_image, make_product
from emporium.core import response_cache

pytestmark = pytest.mark.django_db

# Differ between any two requests, whoever answers them.
VOLATILE = {"X-Request-ID", "Date", "RateLimit-Remaining", "RateLimit-Reset"}


@pytest.fixture
def catalog(django_capture_on_commit_callbacks):
    gear = make_category("gear")
    tents = make_category("tents", parent=gear)
    make_category("empty")
    now = timezone.now()
    tent = make_product(
        "alpine-tent",
        price="199.00",
        compare_at_price=Decimal("249.00"),
        quantity=4,
        category=tents,
        name="Alpine Tent \u00e9t\u00e9 \u2028",  # non-ASCII, and a JSON line separator
        attributes={"colour": "green", "sizes": [2, 3]},
        publish_at=now - timedelta(days=1),
        unpublish_at=now + timedelta(days=30),
    )
    for position, status in ((2, "ready"), (1, "ready"), (3, "pending")):
        make_image(tent, position=position, status=status)
    make_product("lamp", price="12.50", quantity=0, category=gear)
    make_product("stove", price="45.00", category=gear)
    for number in range(5):
        make_product(f"peg-{number}", price=f"{number + 1}.00", quantity=number)
    make_product("hidden", is_active=False)
    renamed = make_product("old-name")
    with django_capture_on_commit_callbacks(execute=True):
        product_update(product=renamed, data={"slug": "new-name"})


def _answer(client, path, *, readers, **headers):
    """A miss of `path`, answered with or without the readers."""
    cache.clear()
    registered = dict(response_cache._READERS)
    if not readers:
        response_cache._READERS.clear()
    try:
        # One request id for both, as problem documents carry it.
        return client.get(path, HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef", **headers)
    finally:
        response_cache._READERS.update(registered)


def _comparable(response):
    headers = {name: value for name, value in response.headers.items() if name not in VOLATILE}
    return response.status_code, response.content, headers


def _used_views(monkeypatch):
    used = []
    for view in (read.ProductListView, read.ProductDetailView):
        original = view.dispatch

        def dispatch(self, request, *args, _original=original, **kwargs):
            used.append(type(self).__name__)
            return _original(self, request, *args, **kwargs)

        monkeypatch.setattr(view, "dispatch", dispatch)
    return used


ANSWERED_BY_READERS = [
    "products/",
    "products/?page=2&page_size=3",
    "products/?page_size=500",
    "products/?page_size=abc",
    "products/?page=last&page_size=4",
    "products/?category=gear",
    "products/?category=empty",
    "products/?category=no-such-category",
    "products/?min_price=2&max_price=100&ordering=price",
    "products/?in_stock=true&ordering=-price",
    "products/?in_stock=false&ordering=name",
    "products/?ordering=-rating&nocache=1",
    "products/?include_deleted=true",
    "products/alpine-tent/",
    "products/lamp/?nocache=2",
    "products/peg-0/",
]


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("path", ANSWERED_BY_READERS)
def test_readers_answer_exactly_as_the_views(client, catalog, monkeypatch, version, path):
    url = f"/api/{version}/{path}"
    used = _used_views(monkeypatch)
    expected = _answer(client, url, readers=False)
    assert expected.status_code == 200
    assert expected["X-Cache"] == "MISS"
    assert used, "the view answered"
    used.clear()
    fast = _answer(client, url, readers=True)
    assert used == [], "a reader answered"
    assert _comparable(fast) == _comparable(expected)
    # The page a reader stored replays as the view's would.
    hit = client.get(url)
    assert hit["X-Cache"] == "HIT"
    assert hit.content == expected.content


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        ({"name": "Tunnel Tent"}, b'"name":"Tunnel Tent"'),
        ({"attributes": {"colour": "green", "sizes": [2, 4]}}, b'"sizes":[2,4]'),
        ({"rating_count": 7}, b'"rating_count":7'),
    ],
)
def test_remembered_product_bodies_follow_every_column(client, catalog, change, shown):
    """Rendered bodies are remembered by the raw row: a product changed behind the cache's back
    (no invalidation, only a cleared cache) is rendered anew, as the view renders it."""
    for url in ("/api/v1/products/", "/api/v2/products/alpine-tent/"):
        _answer(client, url, readers=True)
    Product.objects.filter(slug="alpine-tent").update(**change)
    ProductImage.objects.filter(product__slug="alpine-tent", position=1).update(alt_text="Side")
    for url in ("/api/v1/products/", "/api/v2/products/alpine-tent/"):
        expected = _answer(client, url, readers=False)
        fast = _answer(client, url, readers=True)
        assert _comparable(fast) == _comparable(expected)
        assert b'"alt_text":"Side"' in fast.content
        assert shown in fast.content


@pytest.mark.parametrize("size", [50, 49])  # the same page again, or another one of its products
def test_a_page_of_remembered_products_loads_no_row(client, catalog, monkeypatch, size):
    first = _answer(client, "/api/v1/products/?page_size=50", readers=True)

    def load(*_args):
        raise AssertionError("a remembered product was loaded")

    monkeypatch.setattr(queries, "_load_records", load)
    monkeypatch.setattr(queries, "_load_values", load)
    monkeypatch.setattr(queries.RawPage, "__getitem__", load)
    again = _answer(client, f"/api/v1/products/?page_size={size}&nocache=1", readers=True)
    assert again.status_code == 200
    assert again["X-Cache"] == "MISS"
    assert json.loads(again.content)["results"] == json.loads(first.content)["results"][:size]


@pytest.mark.parametrize("accept", ["", "*/*", "application/json", "application/*"])
def test_readers_answer_every_json_accept_as_the_views(client, catalog, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    for url in ("/api/v1/products/", "/api/v2/products/alpine-tent/"):
        expected = _answer(client, url, readers=False, **headers)
        fast = _answer(client, url, readers=True, **headers)
        assert _comparable(fast) == _comparable(expected)


def test_conditional_misses_answer_as_the_views(client, catalog):
    for url in ("/api/v1/products/", "/api/v1/products/alpine-tent/"):
        first = _answer(client, url, readers=True)
        for validator in (
            {"HTTP_IF_NONE_MATCH": first["ETag"]},
            {"HTTP_IF_MODIFIED_SINCE": first["Last-Modified"]},
            {"HTTP_IF_MATCH": '"something-else"'},
        ):
            expected = _answer(client, url, readers=False, **validator)
            fast = _answer(client, url, readers=True, **validator)
            assert expected.status_code in (304, 412)
            if expected.status_code == 304:
                # A 304 carries the validators and caching headers of the 200 (RFC 9110
                # 15.4.5); the detail view's early 304 also keeps DRF's `Allow`, a hit's not.
                expected.headers.pop("Allow", None)
            assert _comparable(fast) == _comparable(expected)


LEFT_TO_THE_VIEWS = [
    ("products/?q=tent", 200),
    ("products/?format=json", 200),
    ("products/?page=99", 404),
    ("products/?min_price=abc", 400),
    ("products/?min_price=9&max_price=1", 400),
    ("products/?ordering=colour", 400),
    ("products/no-such-product/", 404),
    ("products/hidden/", 404),
    ("products/old-name/?x=1", 301),
    ("products/alpine-tent/?format=json", 200),
]


@pytest.mark.parametrize(("path", "status"), LEFT_TO_THE_VIEWS)
def test_what_readers_do_not_handle_reaches_the_views(client, catalog, monkeypatch, path, status):
    url = f"/api/v1/{path}"
    expected = _answer(client, url, readers=False)
    used = _used_views(monkeypatch)
    fast = _answer(client, url, readers=True)
    assert fast.status_code == status
    assert used, "the view answered"
    assert _comparable(fast) == _comparable(expected)


def test_media_type_parameters_are_left_to_the_views(client, catalog, monkeypatch):
    used = _used_views(monkeypatch)
    response = _answer(
        client, "/api/v1/products/", readers=True, HTTP_ACCEPT="application/json; indent=2"
    )
    assert response.status_code == 200
    assert used == ["ProductListView"]


def test_signed_in_readers_never_reach_the_readers(client, catalog, monkeypatch, make_user, bearer):
    headers = bearer(make_user(email="staff@example.com", is_staff=True))
    used = _used_views(monkeypatch)
    response = _answer(client, "/api/v1/products/hidden/", readers=True, **headers)
    assert response.status_code == 200
    assert "X-Cache" not in response
    assert used == ["ProductDetailView"]
