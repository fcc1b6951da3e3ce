"""Rate-limit slots leased by a process for anonymous reads: fewer round trips, never a request
past the limit, on a real Redis shared by several processes."""

import multiprocessing
import threading
import uuid

import pytest
from django.core.cache import caches
from django.test import RequestFactory

from conftest import service_unavailable
from emporium.core import ratelimit
from emporium.core.cache_backends import RedisCache

pytestmark = pytest.mark.services

PATH = "/api/v1/products/"
# Mid-window, whatever the clock says: a test never straddles two windows.
FROZEN_AT = 1_800_000_030.0


@pytest.fixture(autouse=True)
def _redis(settings, monkeypatch):
    if not isinstance(caches["default"], RedisCache):
        service_unavailable("Redis (REDIS_URL)")
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"lease-test-{uuid.uuid4().hex}"}
    }
    monkeypatch.setattr(ratelimit, "now", lambda: FROZEN_AT)


def counter_value(limit: int) -> int:
    key = f"ratelimit:anon:60:{int(FROZEN_AT // 60)}:t:-:anon:127.0.0.1"
    return int(caches["default"].get(key, 0))


def test_a_lease_is_a_share_of_what_remains_and_one_slot_near_the_limit():
    leases = ratelimit._Leases()
    assert leases.size("k", 10_000) == 1  # nothing known of the count yet
    assert leases.taken("k", total=1, amount=1, limit=10_000) == 1
    assert leases.size("k", 10_000) == ratelimit.LEASE_MAX
    assert leases.size("k", 401) == 20  # (401 - 1) / LEASE_SHARE
    assert leases.size("k", 30) == 1
    # Taking 20 more brings the count to 21: this request is the 2nd, 3..21 are leased.
    assert leases.taken("k", total=21, amount=20, limit=10) == 2
    assert [leases.take("k") for _ in range(10)] == [3, 4, 5, 6, 7, 8, 9, 10, None, None]


def test_two_leases_taken_at_once_in_one_process_are_both_handed_out():
    """Two threads found the lease empty and both added to the counter: neither range is lost
    (a lost range refuses requests early: fewer than the limit would be admitted)."""
    leases = ratelimit._Leases()
    assert leases.taken("k", total=10, amount=5, limit=100) == 6
    assert leases.taken("k", total=15, amount=5, limit=100) == 11
    assert [leases.take("k") for _ in range(9)] == [7, 8, 9, 10, 12, 13, 14, 15, None]
    assert leases.size("k", 100) == (100 - 15) // ratelimit.LEASE_SHARE


def test_leased_slots_are_counted_in_order_without_a_round_trip(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "anon": "10000/min"}
    factory = RequestFactory()
    counts = []
    for _ in range(2):  # the count is learned, then a lease of LEASE_MAX is taken
        request = factory.get(PATH)
        refused, _found = ratelimit.count_and_read(request, [])
        assert refused is None
        counts.append(request.rate_limit_window.used)
    assert counter_value(10_000) == 1 + ratelimit.LEASE_MAX
    for _ in range(ratelimit.LEASE_MAX - 1):
        request = factory.get(PATH)
        assert ratelimit.count_from_lease(request)
        counts.append(request.rate_limit_window.used)
    assert counts == list(range(1, ratelimit.LEASE_MAX + 2))
    assert not ratelimit.count_from_lease(factory.get(PATH))  # the lease is used up
    assert counter_value(10_000) == 1 + ratelimit.LEASE_MAX


def _admit_until_refused(results) -> None:
    factory = RequestFactory()
    admitted = [0, 0]

    def hammer(index: int) -> None:
        for _ in range(1_000):  # bounded: far more than the limit
            request = factory.get(PATH)
            if not ratelimit.count_from_lease(request):
                refused, _found = ratelimit.count_and_read(request, [])
                if refused is not None:
                    return
            admitted[index] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(sum(admitted))


def test_processes_sharing_a_limit_admit_exactly_the_limit(settings):
    """Three processes of two threads, each asking until refused: every slot up to the limit
    is used once, whichever process leased it, and none beyond."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "anon": "300/min"}
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_admit_until_refused, args=(results,)) for _ in range(3)]
    for process in processes:
        process.start()
    admitted = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    assert sum(admitted) == 300
    assert counter_value(300) > 300  # the refused requests were counted too
