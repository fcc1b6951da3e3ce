"""The Elasticsearch backend against a local stand-in speaking the documented REST API."""

import socket
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from freezegun import freeze_time

from emporium.catalog import services
from emporium.catalog.models import Product
from emporium.core.context import tenant_context
from emporium.core.tasks import TransientError
from emporium.search import elastic
from emporium.search.selectors import product_search_queryset
from emporium.search.tasks import index_products

from .conftest import OTHER_HOST, make_product
from .fake_elasticsearch import FakeElasticsearch, serve

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/products/"
ALIAS = "emporium-products"


@pytest.fixture
def fake_es(settings):
    fake = FakeElasticsearch()
    server, url = serve(fake)
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = url
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def indexed(catalog, fake_es):
    call_command("search_reindex")
    return catalog


def slugs(response):
    assert response.status_code == 200, response.content
    return [item["slug"] for item in response.json()["results"]]


def sent(fake, method, suffix):
    return [r for r in fake.requests if r[0] == method and r[1].endswith(suffix)]


def test_reindex_builds_an_index_with_analyzers_and_swaps_the_alias(catalog, fake_es):
    call_command("search_reindex")
    (index,) = fake_es.aliases[ALIAS]
    created = fake_es.indices[index]
    analysis = created["settings"]["analysis"]
    assert analysis["filter"]["prefix_grams"]["type"] == "edge_ngram"
    assert "asciifolding" in analysis["analyzer"]["folded"]["filter"]
    properties = created["mappings"]["properties"]
    assert properties["tenant_id"] == {"type": "keyword"}
    assert properties["name"]["fields"]["prefix"]["analyzer"] == "prefix"
    docs = created["docs"]
    assert len(docs) == 6
    laptop = docs[str(catalog["laptop"].pk)]
    assert laptop["tenant_id"] == str(catalog["laptop"].tenant_id)
    assert (laptop["name"], laptop["price"], laptop["available"]) == ("Laptop", "999.00", 5)
    assert laptop["category_id"] == str(catalog["computers"].pk)
    bulk_lines = sent(fake_es, "PUT", "/_bulk")[0][3]
    assert bulk_lines[0] == {"index": {"_index": index, "_id": bulk_lines[0]["index"]["_id"]}}

    call_command("search_reindex")
    (newer,) = fake_es.aliases[ALIAS]
    assert newer != index
    assert index not in fake_es.indices  # the previous index is dropped after the swap
    assert len(fake_es.indices[newer]["docs"]) == 6


def test_search_relevance_prefix_substring_typo(client, indexed, fake_es):
    assert slugs(client.get(SEARCH, {"q": "laptop"}))[0] == "laptop"
    assert set(slugs(client.get(SEARCH, {"q": "lapt"}))) >= {"laptop", "laptop-sleeve"}
    assert slugs(client.get(SEARCH, {"q": "phone"})) == ["wireless-headphones"]
    assert slugs(client.get(SEARCH, {"q": "lpatop"}))[0] == "laptop"
    assert slugs(client.get(SEARCH, {"q": "headphnoes"})) == ["wireless-headphones"]
    query = sent(fake_es, "POST", "/_search")[-1][3]
    should = query["query"]["bool"]["must"][0]["bool"]["should"]
    assert any(clause.get("multi_match", {}).get("fuzziness") == "AUTO" for clause in should)
    filters = query["query"]["bool"]["filter"]
    assert {"term": {"tenant_id": str(indexed["laptop"].tenant_id)}} in filters
    assert {"term": {"is_active": True}} in filters


def test_filters_facets_and_pages(client, indexed, fake_es):
    body = client.get(SEARCH, {"q": "laptop", "page_size": "1"}).json()
    assert (body["count"], body["page_size"], len(body["results"])) == (3, 1, 1)
    assert body["next"] is not None
    assert body["facets"]["categories"] == [
        {"slug": "computers", "name": "Computers", "count": 3},
        {"slug": "electronics", "name": "Electronics", "count": 3},
    ]
    assert body["facets"]["price"] == [
        {"min": "25.00", "max": "50.00", "count": 1},
        {"min": "100.00", "max": "250.00", "count": 1},
        {"min": "500.00", "max": "1000.00", "count": 1},
    ]
    assert slugs(client.get(SEARCH, {"q": "laptop", "in_stock": "false"})) == ["laptop-sleeve"]
    assert slugs(client.get(SEARCH, {"q": "laptop", "max_price": "100"})) == ["laptop-sleeve"]
    assert slugs(client.get(SEARCH, {"q": "laptop", "ordering": "price"})) == [
        "laptop-sleeve",
        "docking-station",
        "laptop",
    ]
    assert slugs(client.get(SEARCH, {"q": "laptop", "category": "home"})) == []
    request = sent(fake_es, "POST", "/_search")[-1][3]
    assert {"terms": {"category_id": [str(indexed["home"].pk)]}} in request["query"]["bool"][
        "filter"
    ]
    assert client.get(SEARCH, {"q": "laptop", "page": "9"}).status_code == 404
    assert client.get(SEARCH, {"q": "laptop", "page": "600"}).status_code == 404


def test_writes_reach_the_index_after_commit(
    client, indexed, fake_es, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        product = services.product_create(
            name="Zebra Blanket", sku="ZB-1", price=Decimal("20"), currency="EUR"
        )
    assert slugs(client.get(SEARCH, {"q": "zebra"})) == ["zebra-blanket"]
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product=product, data={"name": "Quokka Throw"})
    assert slugs(client.get(SEARCH, {"q": "zebra"})) == []
    assert slugs(client.get(SEARCH, {"q": "quokka"})) == ["zebra-blanket"]
    with django_capture_on_commit_callbacks(execute=True):
        services.product_delete(product=product)
    assert str(product.pk) not in next(iter(fake_es.indices.values()))["docs"]
    assert slugs(client.get(SEARCH, {"q": "quokka"})) == []
    with django_capture_on_commit_callbacks(execute=True):
        services.product_restore(slug="zebra-blanket")
    assert slugs(client.get(SEARCH, {"q": "quokka"})) == ["zebra-blanket"]


def test_rolled_back_writes_do_not_reach_the_index(indexed, fake_es, eager_tasks):
    # The test's transaction never commits, so the after-commit signal never fires.
    services.product_create(name="Phantom", sku="PH-1", price=Decimal("1"), currency="EUR")
    assert not sent(fake_es, "PUT", "/_bulk")[1:]


def test_visibility_is_decided_at_query_time(client, indexed, fake_es):
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    end = start + timedelta(days=1)
    product = make_product("Scheduled Gadget", publish_at=start, unpublish_at=end)
    hidden = make_product("Hidden Gadget", is_active=False)
    index_products(str(product.tenant_id), [str(product.pk), str(hidden.pk)])

    def found_at(moment):
        with freeze_time(moment):
            return slugs(client.get(SEARCH, {"q": "gadget"}))

    assert found_at(start - timedelta(seconds=1)) == []
    assert found_at(start) == ["scheduled-gadget"]
    assert found_at(end) == []
    # A stale document never shows a product the database says is hidden now.
    Product.objects.filter(pk=product.pk).update(is_active=False)
    assert found_at(start) == []


def test_tenant_isolation_and_tenant_reindex(client, indexed, fake_es, other_shop):
    with tenant_context(other_shop.id):
        theirs = make_product("Laptop Of Another Shop")
        gone = make_product("Old Laptop Of Another Shop")
    index_products(str(other_shop.id), [str(theirs.pk), str(gone.pk)])
    assert "laptop-of-another-shop" not in slugs(client.get(SEARCH, {"q": "laptop"}))
    assert sorted(slugs(client.get(SEARCH, {"q": "laptop"}, HTTP_HOST=OTHER_HOST))) == [
        "laptop-of-another-shop",
        "old-laptop-of-another-shop",
    ]
    # Deleted without an event: --tenant re-indexes that shop and drops what is gone.
    Product.unscoped.filter(pk=gone.pk).update(deleted_at=timezone.now())
    with freeze_time(timezone.now() + timedelta(seconds=5)):
        call_command("search_reindex", "--tenant", other_shop.slug)
    docs = next(iter(fake_es.indices.values()))["docs"]
    assert str(gone.pk) not in docs
    assert str(theirs.pk) in docs
    assert str(indexed["laptop"].pk) in docs  # other shops untouched
    assert slugs(client.get(SEARCH, {"q": "laptop"}, HTTP_HOST=OTHER_HOST)) == [
        "laptop-of-another-shop"
    ]


def test_product_search_queryset_uses_the_index(indexed, fake_es):
    queryset = product_search_queryset(Product.objects.all(), "lapt")
    assert [p.slug for p in queryset][:2] == ["laptop", "laptop-sleeve"]
    assert next(p.slug for p in queryset.order_by("-price")) == "laptop"


def _closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_unreachable_server_is_503_and_retried_by_the_task(client, catalog, settings):
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = _closed_port_url()
    response = client.get(SEARCH, {"q": "laptop"})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "search_unavailable"
    with pytest.raises(TransientError):
        index_products(str(catalog["laptop"].tenant_id), [str(catalog["laptop"].pk)])


def test_document_keeps_what_visibility_needs(catalog):
    product = catalog["laptop"]
    document = elastic.product_document(product, indexed_at=timezone.now())
    assert document["id"] == str(product.pk)
    assert document["is_active"] is True
    assert document["publish_at"] is None
