"""`PageMemory` on its own: what it records of the generations, and how much it keeps."""

import os
import time
import uuid

import pytest

from conftest import service_unavailable
from emporium.core.cache_backends import RedisCache
from emporium.core.page_memory import PAGE_OVERHEAD_BYTES, PageMemory, encode

pytestmark = pytest.mark.services

GENERATION = "rc:gen:shop:catalog"


@pytest.fixture
def memory():
    url = os.environ.get("REDIS_URL")
    if not url:
        service_unavailable("Redis (REDIS_URL)")
    cache = RedisCache(url, {"KEY_PREFIX": f"memory-test-{uuid.uuid4().hex}"})
    memory = PageMemory(cache, max_bytes=3 * (PAGE_OVERHEAD_BYTES + 100))
    deadline = time.monotonic() + 5
    while not memory.trusted() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert memory.trusted()
    yield memory
    memory.stop()


def page(generation: int, expires_in: float = 60) -> dict:
    expires_at = time.time() + expires_in
    return {"body": b"x" * 100, "generation": {"catalog": generation}, "expires_at": expires_at}


def test_a_page_is_served_only_at_the_generation_it_was_built_from(memory):
    memory.keep("p", page(7), ((GENERATION, 7),))
    assert memory.page("p", time.time()) is None  # the generation is not known yet
    memory.learn(memory.mark(), {GENERATION: 7})
    assert memory.page("p", time.time())["generation"] == {"catalog": 7}
    memory.changed({GENERATION: 8})
    assert memory.page("p", time.time()) is None


def test_a_read_older_than_a_message_heard_since_is_not_recorded(memory):
    mark = memory.mark()  # a read is sent to Redis...
    memory._hear(encode({GENERATION: 9}))  # ...a bump is heard before its answer comes back
    memory.learn(mark, {GENERATION: 8})
    memory.keep("p8", page(8), ((GENERATION, 8),))
    memory.keep("p9", page(9), ((GENERATION, 9),))
    assert memory.page("p8", time.time()) is None
    assert memory.page("p9", time.time()) is not None


def test_a_read_sent_before_the_memory_was_forgotten_is_not_recorded(memory):
    mark = memory.mark()
    memory.forget()
    memory.learn(mark, {GENERATION: 8})
    memory.keep("p", page(8), ((GENERATION, 8),))
    assert memory.page("p", time.time()) is None


def test_expired_pages_are_not_served(memory):
    memory.learn(memory.mark(), {GENERATION: 7})
    memory.keep("p", page(7, expires_in=0.05), ((GENERATION, 7),))
    assert memory.page("p", time.time()) is not None
    assert memory.page("p", time.time() + 0.05) is None


def test_the_oldest_pages_go_first_when_memory_is_full(memory):
    memory.learn(memory.mark(), {GENERATION: 7})
    for name in ("a", "b", "c", "d"):
        memory.keep(name, page(7), ((GENERATION, 7),))
    assert [memory.page(name, time.time()) is not None for name in "abcd"] == [
        False,
        True,
        True,
        True,
    ]
    memory.keep("huge", {**page(7), "body": b"x" * 10_000}, ((GENERATION, 7),))
    assert memory.page("huge", time.time()) is None  # larger than the whole budget: not kept


class _SlowToRead:
    """A subscribed connection whose reader thread is kept waiting longer than the silence
    limit each time (as busy request threads can keep it from the interpreter), while Redis
    answers every ping at once."""

    def __init__(self, stop, rounds):
        self.pending = []
        self.pings = 0
        self.stop, self.rounds = stop, rounds

    def send_command(self, *command):
        self.pings += 1
        self.pending.append(b"PONG")

    def can_read(self, timeout):
        time.sleep(0.2)
        self.rounds -= 1
        if self.rounds <= 0:
            self.stop.set()
        return bool(self.pending)

    def read_response(self, **options):
        return self.pending.pop(0)


def test_a_listener_kept_waiting_does_not_take_its_delay_for_silence(monkeypatch):
    monkeypatch.setattr("emporium.core.page_memory.SILENCE_LIMIT", 0.1)
    monkeypatch.setattr("emporium.core.page_memory.PING_INTERVAL", 0.05)
    memory = PageMemory(RedisCache("redis://127.0.0.1:1/0", {}), max_bytes=1)
    memory._heard_at = time.monotonic()
    connection = _SlowToRead(memory._stop, rounds=10)
    memory._receive(connection)  # returns when stopped; raised TimeoutError before the fix
    assert connection.pings >= 3
