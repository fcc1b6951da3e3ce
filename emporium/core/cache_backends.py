"""Django's Redis cache, without building a new Redis client object for every operation.

Django's `RedisCacheClient.get_client` creates a `redis.Redis` per call; each one builds a table
of about 170 response callbacks. At four cache operations per request (rate limit, page cache)
that was a millisecond of pure overhead on every request. A client over a connection pool is
thread-safe, so one per pool is kept and reused.

The one round trip every API request makes (`incr_counters_get_many`: the rate limit, and the
page lookup) goes over a connection of its own per thread, with the socket timeout enforced by
the kernel. Through the pool it cost six system calls that release the GIL (a readiness poll at
checkout, and one before each send and each receive, which Python adds to sockets with a
timeout); this way it costs two, the send and the receive. Under a few busy threads each
release hands the GIL to another thread and waits to get it back, which showed up as a
quarter of the throughput of cached pages (bench/RESULTS.md).
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from emporium.core.logging import get_logger

logger = get_logger(__name__)

# What a cache server that cannot be reached raises (Redis; a socket error on the way).
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)
# After a failed read or store that may be skipped, how long this process does without the cache.
UNAVAILABLE_SECONDS = 5.0
_unavailable_until = 0.0


def cache_available() -> bool:
    """False for a while after `cache_failed`: callers that can do without the cache (page and
    user reads, page stores) skip it rather than each wait for a connection to time out."""
    return time.monotonic() >= _unavailable_until


def cache_failed(error: Exception, *, operation: str) -> None:
    """Note that a cache operation callers can do without failed: logged, and the cache left
    alone by them for `UNAVAILABLE_SECONDS`."""
    global _unavailable_until
    _unavailable_until = time.monotonic() + UNAVAILABLE_SECONDS
    logger.warning("cache_unavailable", operation=operation, error=repr(error))


class RedisCacheClient(django_redis.RedisCacheClient):
    """Keeps one `redis.Redis` per connection pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # The stubs omit Django's private helpers used here (stable since Django 4.0).
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._client(connection_pool=pool)  # type: ignore[attr-defined]
            self._clients[index] = client
        return client


# KEYS: the counters, then the keys to read; ARGV: a timeout and an amount per counter.
# Returns {counts, values}.
_INCR_COUNTERS_GET_MANY = """
local counts = {}
local counters = #ARGV / 2
for i = 1, counters do
  redis.call('SET', KEYS[i], 0, 'NX', 'EX', ARGV[2 * i - 1])
  counts[i] = redis.call('INCRBY', KEYS[i], ARGV[2 * i])
end
local values = {}
if #KEYS > counters then
  values = redis.call('MGET', unpack(KEYS, counters + 1))
end
return {counts, values}
"""


_INCR_COUNTERS_GET_MANY_SHA = hashlib.sha1(  # noqa: S324  # nosec B324 (Redis names scripts by SHA-1)
    _INCR_COUNTERS_GET_MANY.encode()
).hexdigest()


# What a process keeps derived from the cache (pages in memory, leased rate-limit slots).
_ON_CLEAR: list[Callable[[], None]] = []


def on_clear(forget: Callable[[], None]) -> None:
    """Have `RedisCache.clear()` also call `forget()`, which drops what this process keeps
    derived from the cache."""
    _ON_CLEAR.append(forget)


# Replies to `set_later` stores a connection may owe before they are read anyway: a thread whose
# other reads go elsewhere must not leave them piling up in Redis's output buffer.
MAX_UNREAD_REPLIES = 16


class _ThreadConnection(threading.local):
    connection: Any = None  # a redis.connection.Connection (the stubs leave it untyped)
    pid: int = 0
    unread: int = 0  # replies to `set_later` stores not read yet


def _use_kernel_timeouts(connection: Any) -> None:
    """Make the connected socket blocking, with its timeout kept by the kernel (SO_RCVTIMEO,
    SO_SNDTIMEO): Python then sends and receives without polling first. A timeout surfaces as
    a `ConnectionError`, and the connection is dropped as on any other error."""
    sock: socket.socket | None = connection._sock
    timeout = connection.socket_timeout
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
        return
    if timeout:
        seconds = int(timeout)
        value = struct.pack("ll", seconds, int((timeout - seconds) * 1_000_000))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    sock.settimeout(None)


def _read_store_replies(connection: Any, local: _ThreadConnection) -> None:
    """Read the replies owed to stores sent earlier (`set_later`); a refusal (out of memory,
    say) is logged, as those stores may be lost."""
    while local.unread:
        local.unread -= 1
        try:
            connection.read_response()
        except ResponseError as error:
            logger.warning("cache_store_refused", error=repr(error))


def _timed_out(error: BaseException) -> bool:
    """Whether the server did not answer in time (the kernel's timeout surfaces as EAGAIN,
    which redis-py reports as a `ConnectionError`): not worth a second wait."""
    return isinstance(error, (BlockingIOError, TimeoutError)) or isinstance(
        error.__context__, (BlockingIOError, TimeoutError)
    )


class RedisCache(django_redis.RedisCache):
    """`django.core.cache.backends.redis.RedisCache` using `RedisCacheClient` above."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._thread = _ThreadConnection()

    def validate_key(self, key: str) -> None:
        """Redis takes any key: skip the memcached key check, a Python loop over every character
        of every key (hot requests build ten keys of ninety characters)."""

    def incr_counter(self, key: str, timeout: int) -> int:
        """Add one to the counter `key`, creating it at 0 with `timeout` seconds to live; the
        new value. One atomic round trip (MULTI: SET NX EX, INCR) instead of add then incr."""
        full_key = self.make_and_validate_key(key)
        client = self._cache.get_client(full_key, write=True)
        with client.pipeline(transaction=True) as pipe:
            pipe.set(full_key, 0, nx=True, ex=timeout)
            pipe.incr(full_key)
            _created, value = pipe.execute()
        return int(value)

    def incr_counters_get_many(
        self,
        counters: Sequence[tuple[str, int]],
        keys: Sequence[str],
        *,
        amounts: Sequence[int] | None = None,
    ) -> tuple[list[int], dict[str, Any]]:
        """`incr_counter` for each (key, timeout) (adding `amounts`, one each by default) and
        `get_many(keys)`: one atomic round trip (a server-side script: one reply to parse
        instead of a MULTI block's five)."""
        counter_keys = [self.make_and_validate_key(key) for key, _timeout in counters]
        full_keys = {self.make_and_validate_key(key): key for key in keys}
        steps = [1] * len(counters) if amounts is None else list(amounts)
        arguments = [
            value
            for (_key, timeout), amount in zip(counters, steps, strict=True)
            for value in (timeout, amount)
        ]
        if counter_keys:
            counts, values = self._run_script([*counter_keys, *full_keys], arguments)
        else:  # every counter counted from a lease: a plain read (no script to run)
            counts, values = [], self._execute(("MGET", *full_keys)) if full_keys else []
        serializer = self._cache._serializer  # type: ignore[attr-defined]
        found = {
            full_keys[full_key]: serializer.loads(value)
            for full_key, value in zip(full_keys, values, strict=True)
            if value is not None
        }
        return [int(count) for count in counts], found

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """`cache.set`, over this thread's connection (pages are stored on every miss)."""
        backend_timeout = self.get_backend_timeout(timeout)
        if backend_timeout == 0:
            self.delete(key, version=version)
            return
        seconds = None if backend_timeout is None else int(backend_timeout)
        self._execute(self._set_command(key, value, seconds, version=version))

    def set_later(self, key: str, value: Any, timeout: int) -> None:
        """`set`, without waiting for the reply: it is read with the next command's over this
        thread's connection (Redis answers a connection's commands in order). For stores that
        may be lost, such as pages: a miss then costs one round trip wait, not two. A store the
        server refuses is logged when its reply is read."""
        self._execute(self._set_command(key, value, timeout), reply=False)

    def _set_command(
        self, key: Any, value: Any, seconds: int | None, *, version: int | None = None
    ) -> tuple[Any, ...]:
        """The SET command storing `value` under `key` for `seconds` (None: no expiry)."""
        full_key = self.make_and_validate_key(key, version=version)
        data = self._cache._serializer.dumps(value)  # type: ignore[attr-defined]
        expiry = () if seconds is None else ("EX", seconds)
        return ("SET", full_key, data, *expiry)

    def set_many_and_publish(self, values: dict[str, Any], channel: str, message: str) -> None:
        """Store `values` without expiry and publish `message` on `channel`, atomically (MULTI):
        subscribers hear of changes in the order they were made."""
        client = self._cache.get_client(write=True)
        serializer = self._cache._serializer  # type: ignore[attr-defined]
        with client.pipeline(transaction=True) as pipe:
            for key, value in values.items():
                pipe.set(self.make_and_validate_key(key), serializer.dumps(value))
            pipe.publish(self.channel(channel), message)
            pipe.execute()

    def channel(self, name: str) -> str:
        """The pub/sub channel `name` of this cache: channels are shared by every database of a
        server, so the name carries the database number and the key prefix."""
        pool = self._cache._get_connection_pool(True)  # type: ignore[attr-defined]
        return f"{pool.connection_kwargs.get('db', 0)}:{self.make_key(name)}"

    def clear(self) -> None:
        """Empty the cache, and what this process keeps of it (see `on_clear`)."""
        super().clear()
        for forget in _ON_CLEAR:
            forget()

    def _run_script(self, keys: list[str], args: list[int]) -> Any:
        """`_INCR_COUNTERS_GET_MANY`, loaded on first use and again after a server restart."""
        command = ("EVALSHA", _INCR_COUNTERS_GET_MANY_SHA, len(keys), *keys, *args)
        try:
            return self._execute(command)
        except NoScriptError:
            self._execute(("SCRIPT", "LOAD", _INCR_COUNTERS_GET_MANY))
            return self._execute(command)

    def _execute(self, command: tuple[Any, ...], *, reply: bool = True) -> Any:
        """One command over this thread's connection (see the module docstring); its reply, or
        None when not `reply` (then read with the next command's, see `set_later`). A
        connection the server dropped while idle is replaced once."""
        local = self._thread
        while True:  # at most twice: the second connection is a fresh one
            connection, fresh = self._thread_connection()
            try:
                connection.send_packed_command(
                    connection.pack_command(*command), check_health=False
                )
                if not reply:
                    local.unread += 1
                    if local.unread > MAX_UNREAD_REPLIES:  # a thread that only stores
                        _read_store_replies(connection, local)
                    return None
                _read_store_replies(connection, local)  # replies come in the order sent
                return connection.read_response()
            except (RedisConnectionError, OSError) as error:
                connection.disconnect()
                local.unread = 0
                if fresh or _timed_out(error):
                    raise

    def _thread_connection(self) -> tuple[Any, bool]:
        """This thread's connection (a new one after a fork), connected; and whether it was
        connected just now."""
        local = self._thread
        pid = os.getpid()
        if local.connection is None or local.pid != pid:
            pool = self._cache._get_connection_pool(True)  # type: ignore[attr-defined]
            local.connection = pool.connection_class(**pool.connection_kwargs)
            local.pid = pid
        connection = local.connection
        if connection._sock is not None:
            return connection, False
        local.unread = 0  # a new connection: nothing is owed on it
        connection.connect()
        _use_kernel_timeouts(connection)
        return connection, True
