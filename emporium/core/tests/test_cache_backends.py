"""The Redis cache's own round trips: the per-request script and page stores, over a connection
per thread whose timeouts the kernel keeps."""

import logging
import os
import threading
import uuid

import pytest
import redis
from redis.exceptions import RedisError

from conftest import service_unavailable
from emporium.core import cache_backends
from emporium.core.cache_backends import RedisCache


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        service_unavailable("Redis (REDIS_URL)")
    return url


def _cache(location: str, **options) -> RedisCache:
    params = {"KEY_PREFIX": f"backend-test-{uuid.uuid4().hex}", "OPTIONS": options}
    return RedisCache(location, params)


@pytest.mark.services
def test_counts_and_reads_in_one_script_that_is_reloaded_after_a_flush():
    url = _redis_url()
    cache = _cache(url, socket_timeout=2)
    cache.set("page", {"body": b"{}"})
    assert cache.incr_counters_get_many([("hits", 60)], ["page", "absent"]) == (
        [1],
        {"page": {"body": b"{}"}},
    )
    redis.Redis.from_url(url).script_flush()  # as after a server restart
    assert cache.incr_counters_get_many([("hits", 60)], ["page"]) == (
        [2],
        {"page": {"body": b"{}"}},
    )


@pytest.mark.services
def test_without_counters_the_keys_are_read_with_a_plain_mget(monkeypatch):
    cache = _cache(_redis_url(), socket_timeout=2)
    cache.set("page", {"body": b"{}"})
    sent = []
    execute = cache._execute
    monkeypatch.setattr(
        cache, "_execute", lambda command: sent.append(command[0]) or execute(command)
    )
    assert cache.incr_counters_get_many([], ["page", "absent"]) == ([], {"page": {"body": b"{}"}})
    assert cache.incr_counters_get_many([], []) == ([], {})
    assert sent == ["MGET"]


@pytest.mark.services
def test_a_connection_the_server_closed_is_replaced():
    url = _redis_url()
    cache = _cache(url, socket_timeout=2)
    cache.set("page", 1)
    admin = redis.Redis.from_url(url)
    killed = admin.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    assert cache.incr_counters_get_many([("hits", 60)], ["page"]) == ([1], {"page": 1})
    cache.set("page", 2)
    assert cache.get("page") == 2


@pytest.mark.services
def test_set_honours_the_timeout():
    url = _redis_url()
    cache = _cache(url)
    admin = redis.Redis.from_url(url)
    cache.set("short", "a", timeout=30)
    cache.set("forever", "b", timeout=None)
    cache.set("gone", "c")
    cache.set("gone", "c", timeout=0)
    assert cache.get_many(["short", "forever", "gone"]) == {"short": "a", "forever": "b"}
    assert 0 < admin.ttl(cache.make_key("short")) <= 30
    assert admin.ttl(cache.make_key("forever")) == -1


@pytest.mark.services
def test_a_server_that_stops_answering_is_an_error_not_a_hang():
    url = _redis_url()
    cache = _cache(url, socket_timeout=0.2)
    assert cache.incr_counters_get_many([("hits", 60)], []) == ([1], {})
    admin = redis.Redis.from_url(url)
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            cache.incr_counters_get_many([("hits", 60)], [])
            outcome.append(None)
        except BaseException as error:  # reported below
            outcome.append(error)

    worker = threading.Thread(target=call, daemon=True)
    admin.client_pause(3000, all=True)  # every command waits 3 s: far past the 0.2 s timeout
    try:
        worker.start()
        worker.join(timeout=10)
    finally:
        admin.client_unpause()
    assert not worker.is_alive(), "the call waited past the socket timeout"
    assert len(outcome) == 1
    assert isinstance(outcome[0], (RedisError, OSError))
    # The connection that timed out is dropped (the server may or may not have run the command
    # it carried); the next call opens a new one.
    counts, _found = cache.incr_counters_get_many([("hits", 60)], [])
    assert counts in ([2], [3])


@pytest.mark.services
def test_stores_sent_without_waiting_are_acknowledged_with_the_next_command(caplog):
    url = _redis_url()
    cache = _cache(url, socket_timeout=2)
    cache.set_later("first", {"body": b"1"}, timeout=60)
    cache.set_later("refused", "x", timeout=0)  # Redis refuses an expiry of 0 seconds
    cache.set_later("second", {"body": b"2"}, timeout=60)
    assert cache._thread.unread == 3
    with caplog.at_level(logging.WARNING):
        # The replies owed are read first, in order: this command gets its own.
        assert cache.incr_counters_get_many([("hits", 60)], ["first", "second", "refused"]) == (
            [1],
            {"first": {"body": b"1"}, "second": {"body": b"2"}},
        )
    assert cache._thread.unread == 0
    assert "cache_store_refused" in caplog.text
    assert 0 < redis.Redis.from_url(url).ttl(cache.make_key("first")) <= 60


@pytest.mark.services
def test_replies_owed_on_a_connection_the_server_closed_are_forgotten():
    url = _redis_url()
    cache = _cache(url, socket_timeout=2)
    cache.set_later("page", 1, timeout=60)
    redis.Redis.from_url(url).client_kill_filter(_type="normal", skipme=True)
    cache.set_later("page", 2, timeout=60)  # sent into the closed connection, or a new one
    assert cache.incr_counters_get_many([("hits", 60)], ["page"])[0] == [1]
    assert cache._thread.unread == 0
    assert cache.get("page") in (1, 2)


@pytest.mark.services
def test_a_thread_that_only_stores_reads_its_replies_before_too_many_are_owed():
    cache = _cache(_redis_url(), socket_timeout=2)
    for number in range(cache_backends.MAX_UNREAD_REPLIES * 3):
        cache.set_later(f"page-{number}", number, timeout=60)
        assert cache._thread.unread <= cache_backends.MAX_UNREAD_REPLIES
    last = cache_backends.MAX_UNREAD_REPLIES * 3 - 1
    assert cache.incr_counters_get_many([], ["page-0", f"page-{last}"]) == (
        [],
        {"page-0": 0, f"page-{last}": last},
    )
    assert cache._thread.unread == 0
