"""Cached pages kept in process memory too, so that a hit costs no round trip to Redis.

Redis stays the shared truth (see `response_cache`); this is a copy of its recent pages in each
web process, trusted only as far as this process knows the current generations:

- `bump` stores new generations and publishes them on a Redis channel in one transaction, so
  subscribers hear of changes in the order they were made. Each process listens on a thread of
  its own and records what it hears.
- A generation read from Redis is recorded only if the process was listening when the read was
  sent and has heard nothing newer of that key since.
- A page in memory is served only while every generation it was built from is the one recorded.
- While the process is not listening (before the first subscription, after a dropped connection,
  or when Redis has not answered a ping for `SILENCE_LIMIT` seconds), everything recorded is
  forgotten and every request goes to Redis as before.

So a change made by another process reaches this one as fast as Redis delivers a message (well
under a millisecond on a local network), and at worst after `SILENCE_LIMIT` seconds if the
connection silently dies; a change made by this process applies at once. Expiry instants are
checked as they are in Redis. A page is kept once it is read from Redis, that is once it is
asked for a second time, not when it is built: pages asked for once (a crawler's, or those of
cache-busting parameters) would otherwise push the popular ones out, and cost the process fresh
memory for every request. Memory is bounded by `RESPONSE_CACHE_MEMORY_BYTES` (oldest pages go
first); 0 turns the copy off. It only exists on Redis: the embedded cache is a database table.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver

from emporium.core.cache_backends import RedisCache, on_clear
from emporium.core.logging import get_logger

CHANNEL = "rc:generations"
PING_INTERVAL = 1.0
SILENCE_LIMIT = 3.0
RECONNECT_DELAY = 1.0
# What a page costs in memory besides its body (the entry's dict and headers), roughly.
PAGE_OVERHEAD_BYTES = 1024

logger = get_logger(__name__)


class PageMemory:
    """Pages and the generations they were built from, in this process (module docstring)."""

    def __init__(self, cache: RedisCache, max_bytes: int) -> None:
        self._cache = cache
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        # page key -> (entry, ((generation key, generation), ...), size)
        self._pages: dict[str, tuple[dict[str, Any], tuple[tuple[str, int], ...], int]] = {}
        self._bytes = 0
        self._generations: dict[str, int] = {}
        self._heard: dict[str, int] = {}  # generation key -> number of the last message about it
        self._messages = 0
        self._epoch = 0  # moves on every (re)subscription and every loss
        self._listening_since: float | None = None
        self._heard_at = 0.0
        self._pid = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.channel = cache.channel(CHANNEL)

    # --- serving ---------------------------------------------------------------------------

    def page(self, key: str, now: float) -> dict[str, Any] | None:
        """The page under `key` if it is here, has not expired and every generation it was
        built from is the current one; else None."""
        stored = self._pages.get(key)
        if stored is None or not self.trusted():
            return None
        entry, built_from, _size = stored
        if entry["expires_at"] <= now:
            return None
        generations = self._generations
        for key_, generation in built_from:
            if generations.get(key_) != generation:
                return None
        return entry

    def keep(
        self, key: str, entry: dict[str, Any], built_from: tuple[tuple[str, int], ...]
    ) -> None:
        """Keep a page just read from or stored in Redis, built from these (generation key,
        generation) pairs."""
        size = len(entry["body"]) + PAGE_OVERHEAD_BYTES
        if size > self._max_bytes:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._pages[key] = (entry, built_from, size)
            self._bytes += size
            while self._bytes > self._max_bytes:  # the oldest pages go first
                oldest = next(iter(self._pages))
                self._bytes -= self._pages.pop(oldest)[2]

    # --- what this process knows of the generations ------------------------------------------

    def trusted(self) -> bool:
        """Whether the process is listening and has heard from Redis lately."""
        self._ensure_listening()
        return (
            self._listening_since is not None and time.monotonic() - self._heard_at < SILENCE_LIMIT
        )

    def mark(self) -> tuple[int, int] | None:
        """Taken just before reading generations from Redis, for `learn`; None when the read
        cannot be trusted (not listening)."""
        if not self.trusted():
            return None
        return self._epoch, self._messages

    def learn(self, mark: tuple[int, int] | None, found: Mapping[str, Any]) -> None:
        """Record generations read from Redis after `mark`, unless a message about one of them
        came in since (it is at least as new) or the subscription changed."""
        if mark is None:
            return
        epoch, messages = mark
        with self._lock:
            if epoch != self._epoch:
                return
            for key, value in found.items():
                if self._heard.get(key, -1) < messages and value is not None:
                    self._generations[key] = int(value)

    def changed(self, values: Mapping[str, int]) -> None:
        """Record generations this process has just stored (and published)."""
        with self._lock:
            self._record(values)

    def forget(self) -> None:
        """Drop every page and generation (the cache was cleared)."""
        with self._lock:
            self._forget()

    def _record(self, values: Mapping[str, int]) -> None:
        self._messages += 1
        for key, value in values.items():
            self._generations[key] = value
            self._heard[key] = self._messages

    def _forget(self) -> None:
        self._pages.clear()
        self._bytes = 0
        self._generations.clear()
        self._heard.clear()
        self._epoch += 1

    # --- listening ------------------------------------------------------------------------------

    def _ensure_listening(self) -> None:
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            self._pid = os.getpid()  # after a fork: the parent's thread is not here
            self._listening_since = None
            self._forget()
            self._stop.clear()
            self._thread = threading.Thread(target=self._listen, name="page-memory", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop listening (the thread ends within a fraction of a second)."""
        self._stop.set()

    def _listen(self) -> None:
        while not self._stop.is_set():
            connection = None
            try:
                connection = self._subscribe()
                self._receive(connection)
            except Exception as error:  # any failure: forget, then subscribe again
                logger.warning("page_memory_unsubscribed", error=repr(error))
            finally:
                with self._lock:
                    self._listening_since = None
                    self._forget()
                if connection is not None:
                    connection.disconnect()
            self._stop.wait(RECONNECT_DELAY)

    def _subscribe(self) -> Any:
        pool = self._cache._cache._get_connection_pool(True)  # type: ignore[attr-defined]
        connection = pool.connection_class(**pool.connection_kwargs)
        connection.connect()
        connection.send_command("SUBSCRIBE", self.channel)
        reply = connection.read_response(push_request=True)
        if not (isinstance(reply, list) and reply[0] == b"subscribe"):
            raise ConnectionError(f"unexpected reply to SUBSCRIBE: {reply!r}")
        with self._lock:
            self._forget()
            self._listening_since = self._heard_at = time.monotonic()
        return connection

    def _receive(self, connection: Any) -> None:
        pinged_at = self._heard_at  # no ping waiting for its answer
        while not self._stop.is_set():
            # What arrived first: a thread kept waiting for the interpreter (busy request
            # threads) finds the answers to its pings here, and must not take its own delay
            # for the server's silence.
            if connection.can_read(timeout=PING_INTERVAL / 4):
                reply = connection.read_response(push_request=True)
                self._heard_at = time.monotonic()
                if isinstance(reply, list) and reply[0] == b"message":
                    self._hear(reply[2].decode())
                continue
            now = time.monotonic()
            if pinged_at > self._heard_at and now - pinged_at >= SILENCE_LIMIT:
                raise TimeoutError(f"no answer from Redis for {SILENCE_LIMIT} s")
            if now - pinged_at >= PING_INTERVAL and pinged_at <= self._heard_at:
                connection.send_command("PING")
                pinged_at = now

    def _hear(self, message: str) -> None:
        values = {}
        for line in message.split("\n"):
            key, _, value = line.rpartition(" ")
            values[key] = int(value)
        with self._lock:
            self._record(values)


def encode(values: Mapping[str, int]) -> str:
    """A message announcing new generations (what `PageMemory` listens for)."""
    return "\n".join(f"{key} {value}" for key, value in values.items())


class _Current:
    memory: PageMemory | None = None
    configured = False


_current = _Current()


def current() -> PageMemory | None:
    """This process's page memory; None when the cache is not Redis or the memory is off."""
    if not _current.configured:
        _current.configured = True
        max_bytes = int(getattr(settings, "RESPONSE_CACHE_MEMORY_BYTES", 0))
        cache = caches.create_connection("default")
        if max_bytes > 0 and isinstance(cache, RedisCache):
            _current.memory = PageMemory(cache, max_bytes)
    return _current.memory


def reset() -> None:
    """Stop listening and read the settings again at next use."""
    if _current.memory is not None:
        _current.memory.stop()
    _current.memory = None
    _current.configured = False


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    if setting in {"CACHES", "RESPONSE_CACHE_MEMORY_BYTES"}:
        reset()


def _forget_current() -> None:
    if _current.memory is not None:
        _current.memory.forget()


on_clear(_forget_current)
