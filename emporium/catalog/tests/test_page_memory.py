"""Cached catalog pages kept in process memory (`emporium.core.page_memory`): hits without a
round trip, and every way the memory stops being trusted."""

import time
from collections.abc import Callable

import pytest
import redis
from django.core.cache import caches
from django.test import RequestFactory

from conftest import service_unavailable
from emporium.catalog import cache as catalog_cache
from emporium.catalog.models import Product
from emporium.catalog.tests.test_read import PRODUCTS, make_product
from emporium.core import page_memory, response_cache
from emporium.core.cache_backends import RedisCache, RedisCacheClient
from emporium.tenants.models import DEFAULT_TENANT_ID

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def memory():
    if not isinstance(caches["default"], RedisCache):
        service_unavailable("Redis (REDIS_URL)")
    page_memory.reset()
    memory = page_memory.current()
    assert memory is not None
    assert wait_until(memory.trusted), "the page memory never subscribed"
    yield memory
    page_memory.reset()


@pytest.fixture
def round_trips(monkeypatch):
    """Every command the cache sends to Redis from now on (the listener's pings aside)."""
    sent: list[str] = []

    def recording(original):
        def send(self, *args, **kwargs):
            sent.append(original.__name__)
            return original(self, *args, **kwargs)

        return send

    monkeypatch.setattr(RedisCache, "_execute", recording(RedisCache._execute))
    monkeypatch.setattr(RedisCacheClient, "get_client", recording(RedisCacheClient.get_client))
    return sent


def redis_client():
    return redis.Redis(connection_pool=caches["default"]._cache._get_connection_pool(True))


def warm(client):
    """A miss, a hit read from Redis (now kept in memory), and the first hit from memory."""
    answers = [client.get(PRODUCTS) for _ in range(3)]
    assert [a["X-Cache"] for a in answers] == ["MISS", "HIT", "HIT"]
    return answers[-1].content


def test_a_page_is_kept_once_asked_for_again_not_when_built(client, memory, round_trips):
    make_product("lamp")
    key = response_cache.page_key_for(DEFAULT_TENANT_ID, RequestFactory().get(PRODUCTS))
    for number in range(3):  # pages asked for once (cache busters) are never kept
        assert client.get(f"{PRODUCTS}?nocache={number}")["X-Cache"] == "MISS"
    assert client.get(PRODUCTS)["X-Cache"] == "MISS"
    assert memory._pages == {}
    assert client.get(PRODUCTS)["X-Cache"] == "HIT"  # read from Redis: kept from now on
    assert list(memory._pages) == [key]
    round_trips.clear()
    assert client.get(PRODUCTS)["X-Cache"] == "HIT"
    assert round_trips == []  # answered from memory, counted from a leased slot


def test_a_hit_kept_in_memory_makes_no_round_trip(client, memory, round_trips):
    make_product("lamp")
    body = warm(client)
    before = client.get(PRODUCTS)
    round_trips.clear()
    hit = client.get(PRODUCTS)
    assert round_trips == []
    assert (hit.status_code, hit["X-Cache"], hit.content) == (200, "HIT", body)
    # Still counted against the rate limit, one slot per request.
    assert int(hit["RateLimit-Remaining"]) == int(before["RateLimit-Remaining"]) - 1


def test_a_write_in_this_process_ends_memory_hits_at_once(
    client, memory, make_user, bearer, django_capture_on_commit_callbacks
):
    make_product("lamp")
    staff = bearer(make_user(email="staff@example.com", is_staff=True))
    warm(client)
    with django_capture_on_commit_callbacks(execute=True):
        renamed = client.patch(
            f"{PRODUCTS}lamp/", {"name": "Desk lamp"}, content_type="application/json", **staff
        )
    assert renamed.status_code == 200, renamed.content
    answer = client.get(PRODUCTS)
    assert answer["X-Cache"] == "MISS"
    assert [p["name"] for p in answer.json()["results"]] == ["Desk lamp"]


def test_a_write_heard_from_another_process_ends_memory_hits(client, memory):
    make_product("lamp")
    warm(client)
    key = response_cache.page_key_for(DEFAULT_TENANT_ID, RequestFactory().get(PRODUCTS))
    assert memory.page(key, time.time()) is not None
    # Another process renames the product and bumps the generation: this one only hears of it.
    Product.objects.filter(slug="lamp").update(name="Desk lamp")
    other_process = caches.create_connection("default")
    values = {response_cache._generation_key(DEFAULT_TENANT_ID, catalog_cache.PRODUCTS): 1}
    other_process.set_many_and_publish(values, page_memory.CHANNEL, page_memory.encode(values))
    # No request in between: the message alone ends the page's life in memory.
    assert wait_until(lambda: memory.page(key, time.time()) is None, seconds=2)
    answer = client.get(PRODUCTS)
    assert answer["X-Cache"] == "MISS"
    assert answer.json()["results"][0]["name"] == "Desk lamp"


def test_a_dropped_subscription_forgets_everything_until_it_is_back(client, memory, round_trips):
    make_product("lamp")
    warm(client)
    redis_client().client_kill_filter(_type="pubsub")
    assert wait_until(lambda: not memory.trusted())
    round_trips.clear()
    assert client.get(PRODUCTS)["X-Cache"] == "HIT"  # from Redis
    assert round_trips != []
    assert wait_until(memory.trusted), "the page memory did not subscribe again"
    round_trips.clear()
    client.get(PRODUCTS)
    assert round_trips != [], "pages kept before the loss must not be trusted"


def test_memory_is_not_trusted_once_redis_stops_answering(client, memory, monkeypatch):
    monkeypatch.setattr(page_memory, "SILENCE_LIMIT", 0.5)
    monkeypatch.setattr(page_memory, "PING_INTERVAL", 0.1)
    make_product("lamp")
    warm(client)
    admin = redis_client()
    admin.client_pause(1500, all=True)  # the listener's pings go unanswered
    try:
        assert wait_until(lambda: not memory.trusted(), seconds=1.2)
    finally:
        admin.client_unpause()
    assert wait_until(memory.trusted)
