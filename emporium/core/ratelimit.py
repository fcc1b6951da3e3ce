"""Rate limits: fixed windows counted in the shared cache, `RateLimit-*` headers, 429 problems.

Every DRF API request counts against a default limit: `anon` (per client IP) or `user` (per
user or accepted credential). A view that sets `throttle_scope = "login"` (or uses DRF's
`@throttle_scope("login")`) also counts against that stricter named limit. Limits come from
`settings.RATE_LIMITS` ("N/period", period sec, min, hour or day).

Counters live in the Django cache (Redis, or the database table every local process shares),
one key per scope, caller and window; windows are aligned to multiples of the period, so the
reset time is exact and every process agrees on it. Counters are only ever changed by atomic
increments, never by reading and writing back a value.

Anonymous API reads on Redis (`count_and_read`, `count_from_lease`) take their counts in
leases: a process adds a few to the counter at once and hands those slots out to the next
requests of the same caller without asking Redis again. A lease is a share of what is left of
the limit (`LEASE_SHARE`), at most `LEASE_MAX`, and a single slot while the caller's count is
unknown or near the limit, so a limit is never exceeded and small limits stay exact. Slots a
process leased and did not use before the window ended are lost: a caller who spreads requests
over many processes may be refused a few requests early, never late.
"""

from __future__ import annotations

import functools
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import DatabaseError, connections, router, transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from emporium.core.cache_backends import RedisCache, on_clear
from emporium.core.callers import caller_key, client_ip, is_authenticated
from emporium.core.logging import get_logger

if TYPE_CHECKING:
    # rest_framework.views imports DEFAULT_THROTTLE_CLASSES (this module) while it loads.
    from rest_framework.views import APIView

ANON_SCOPE = "anon"
USER_SCOPE = "user"
# Probes, the API schema and its documentation pages are never limited.
EXEMPT_PATH_PREFIXES = ("/health/", "/api/schema/", "/api/docs/", "/api/redoc/")
# A counter outlives its window a little, so processes with slightly skewed clocks still share it.
KEY_TIMEOUT_MARGIN_SECONDS = 30
_INCREMENT_ATTEMPTS = 3
# A lease takes at most 1/LEASE_SHARE of what remains of a limit, and at most LEASE_MAX slots.
LEASE_SHARE = 20
LEASE_MAX = 50
# Callers whose leases a process remembers (the oldest are forgotten first).
LEASE_CALLERS = 10_000
_STATE_ATTRIBUTE = "rate_limit_window"
_COUNTED_ATTRIBUTE = "rate_limit_counted"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")

logger = get_logger(__name__)


def now() -> float:
    """The clock, in seconds since the epoch (tests replace it to move through windows)."""
    return time.time()


@dataclass(frozen=True)
class Rate:
    """`limit` requests per `period` seconds."""

    limit: int
    period: int


def parse_rate(text: str) -> Rate:
    """`"5/min"` -> Rate(limit=5, period=60)."""
    match = _RATE.match(text)
    if match is None:
        raise ImproperlyConfigured(f"rate limit {text!r} is not N/period (sec, min, hour, day)")
    return Rate(limit=int(match.group(1)), period=_PERIODS[match.group(2)[0]])


def configured_rates() -> dict[str, Rate]:
    """Every scope in `settings.RATE_LIMITS`, parsed (once per distinct setting)."""
    return _parsed_rates(tuple(settings.RATE_LIMITS.items()))


@functools.lru_cache(maxsize=8)
def _parsed_rates(items: tuple[tuple[str, str], ...]) -> dict[str, Rate]:
    return {scope: parse_rate(text) for scope, text in items}


@dataclass(frozen=True)
class Window:
    """One scope's counter for one caller in the current window."""

    scope: str
    rate: Rate
    used: int
    ends_at: int  # epoch seconds
    evaluated_at: float

    @property
    def remaining(self) -> int:
        return max(0, self.rate.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.rate.limit

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until the window ends (1 at least: 0 would invite an instant retry)."""
        return max(1, math.ceil(self.ends_at - self.evaluated_at))

    @property
    def reset_at(self) -> datetime:
        return datetime.fromtimestamp(self.ends_at, tz=UTC)


class RateLimited(exceptions.Throttled):
    """429 with code `rate_limited`; DRF's exception handler adds `Retry-After` from `wait`."""

    default_detail = _("Too many requests: the rate limit is exceeded.")
    default_code = "rate_limited"

    def __init__(self, wait: int) -> None:
        detail = ngettext(
            "Too many requests: the rate limit is exceeded. Try again in %(wait)d second.",
            "Too many requests: the rate limit is exceeded. Try again in %(wait)d seconds.",
            wait,
        ) % {"wait": wait}
        # Throttled.__init__ would append DRF's own untranslatable sentence to the detail.
        exceptions.APIException.__init__(self, detail, self.default_code)
        self.wait = wait


def is_exempt(request: HttpRequest) -> bool:
    """Pre-flight requests, health probes and the API docs and schema are never limited."""
    return request.method == "OPTIONS" or request.path_info.startswith(EXEMPT_PATH_PREFIXES)


@dataclass(frozen=True)
class _Counter:
    scope: str
    rate: Rate
    key: str
    timeout: int
    ends_at: int


def _counters(
    request: HttpRequest, *, scope: str | None, credential_accepted: bool, at: float
) -> list[_Counter]:
    """The counters this request adds one to: the caller's default scope, then `scope`."""
    rates = configured_rates()
    default_scope, caller = _caller(request, credential_accepted=credential_accepted)
    scopes = [default_scope]
    if scope is not None and scope != default_scope:
        if scope not in rates:
            raise ImproperlyConfigured(f"throttle_scope {scope!r} has no entry in RATE_LIMITS")
        scopes.append(scope)
    counters = []
    for name in scopes:
        rate = rates[name]
        number, ends_at = _window(rate, at)
        key = _counter_key(name, rate, caller, number)
        counters.append(
            _Counter(name, rate, key, rate.period + KEY_TIMEOUT_MARGIN_SECONDS, ends_at)
        )
    return counters


def apply_rate_limits(
    request: HttpRequest, *, scope: str | None = None, credential_accepted: bool = False
) -> list[Window]:
    """Count this request against the caller's default limit and `scope`, if any.

    `credential_accepted` is true when an authenticator accepted a credential that is not a user
    (an API key): such callers get the `user` limit, keyed by the credential. A counter already
    counted for this request already (a cached page's lookup) is not counted twice.
    """
    at = now()
    counted: dict[str, Window] | None = getattr(request, _COUNTED_ATTRIBUTE, None)
    if counted is None:
        counted = {}
        setattr(request, _COUNTED_ATTRIBUTE, counted)
    counters = _counters(request, scope=scope, credential_accepted=credential_accepted, at=at)
    missing = [counter for counter in counters if counter.key not in counted]
    cache = caches["default"]
    if len(missing) > 1 and isinstance(cache, RedisCache):
        # The default limit and the view's scope counted in one round trip.
        counts, _found = cache.incr_counters_get_many([(c.key, c.timeout) for c in missing], [])
        for counter, used in zip(missing, counts, strict=True):
            counted[counter.key] = Window(counter.scope, counter.rate, used, counter.ends_at, at)
    for counter in missing:
        if counter.key not in counted:
            used = _increment(counter.key, counter.timeout)
            counted[counter.key] = Window(counter.scope, counter.rate, used, counter.ends_at, at)
    return [counted[counter.key] for counter in counters]


@dataclass
class _Lease:
    """One counter's slots leased by this process."""

    seen: int  # the highest value the counter had when this process added to it
    ranges: list[list[int]]  # [next, last] slots still to hand out, oldest first


class _Leases:
    """The counter slots this process took ahead, by counter key. Two threads that found the
    lease empty at once both add to the counter: each keeps its own range, so no slot is lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._pid = os.getpid()

    def take(self, key: str) -> int | None:
        """The next leased slot of the counter (the request's count), or None when none is left."""
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or self._pid != os.getpid():
                return None
            while lease.ranges:
                slots = lease.ranges[0]
                if slots[0] <= slots[1]:
                    slots[0] += 1
                    return slots[0] - 1
                lease.ranges.pop(0)
            return None

    def size(self, key: str, limit: int) -> int:
        """How many slots to take at the next increment of the counter."""
        lease = self._leases.get(key)
        if lease is None:
            return 1  # the count is unknown: it may be close to the limit
        return max(1, min(LEASE_MAX, (limit - lease.seen) // LEASE_SHARE))

    def taken(self, key: str, total: int, amount: int, limit: int) -> int:
        """Record that adding `amount` brought the counter to `total`; the request's count (the
        first slot). The others, up to the limit, are leased."""
        first = total - amount + 1
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not reuse its parent's slots
                self._leases.clear()
                self._pid = os.getpid()
            lease = self._leases.pop(key, None) or _Lease(seen=total, ranges=[])
            lease.seen = max(lease.seen, total)
            if first + 1 <= min(total, limit):
                lease.ranges.append([first + 1, min(total, limit)])
            self._leases[key] = lease
            while len(self._leases) > LEASE_CALLERS:
                del self._leases[next(iter(self._leases))]
        return first

    def forget(self) -> None:
        with self._lock:
            self._leases.clear()


_LEASES = _Leases()
on_clear(_LEASES.forget)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **_: Any) -> None:
    if setting in {"CACHES", "RATE_LIMITS"}:
        _LEASES.forget()


def count_from_lease(request: HttpRequest) -> bool:
    """Count an anonymous request against a slot this process leased, with no round trip (see
    the module docstring); False when no slot is left, and `count_and_read` must count it."""
    if is_exempt(request):
        return False
    at = now()
    counters = _counters(request, scope=None, credential_accepted=False, at=at)
    if len(counters) != 1:
        return False
    counter = counters[0]
    used = _LEASES.take(counter.key)
    if used is None:
        return False
    window = Window(counter.scope, counter.rate, used, counter.ends_at, at)
    setattr(request, _COUNTED_ATTRIBUTE, {counter.key: window})
    setattr(request, _STATE_ATTRIBUTE, window)  # a leased slot is within the limit
    return True


def count_and_read(
    request: HttpRequest, keys: Sequence[str]
) -> tuple[HttpResponse | None, dict[str, Any]]:
    """`limit_request`, and the cache entries under `keys`: in one round trip on Redis, where
    counters are counted from this process's leases or take a new lease.

    For the server's response cache, which must count every anonymous API request and read a
    page and its generations for it. The counters are remembered on the request, so the view's
    throttle (on a cache miss) does not count them again.
    """
    cache = caches["default"]
    if not isinstance(cache, RedisCache) or is_exempt(request):
        refused = limit_request(request)
        return refused, cache.get_many(list(keys))
    at = now()
    counters = _counters(request, scope=None, credential_accepted=False, at=at)
    counted: dict[str, Window] = {}
    for counter in counters:
        used = _LEASES.take(counter.key)
        if used is not None:
            counted[counter.key] = Window(counter.scope, counter.rate, used, counter.ends_at, at)
    pending = [counter for counter in counters if counter.key not in counted]
    amounts = [_LEASES.size(counter.key, counter.rate.limit) for counter in pending]
    try:
        totals, found = cache.incr_counters_get_many(
            [(counter.key, counter.timeout) for counter in pending], keys, amounts=amounts
        )
    except (RedisError, OSError) as error:
        logger.warning("rate_limit_unavailable", error=repr(error))
        setattr(request, _STATE_ATTRIBUTE, None)
        return None, {}
    for counter, total, amount in zip(pending, totals, amounts, strict=True):
        used = _LEASES.taken(counter.key, total, amount, counter.rate.limit)
        counted[counter.key] = Window(counter.scope, counter.rate, used, counter.ends_at, at)
    windows = [counted[counter.key] for counter in counters]
    setattr(request, _COUNTED_ATTRIBUTE, counted)
    return _refusal(request, windows), found


def rate_limit_usage(
    request: HttpRequest, *, credential_accepted: bool = False
) -> tuple[str, list[Window]]:
    """The caller's default scope and its usage of every configured scope; counts nothing."""
    rates = configured_rates()
    default_scope, caller = _caller(request, credential_accepted=credential_accepted)
    at = now()
    keys: dict[str, tuple[str, Rate, int]] = {}
    for name, rate in rates.items():
        number, ends_at = _window(rate, at)
        keys[_counter_key(name, rate, caller, number)] = (name, rate, ends_at)
    counts = caches["default"].get_many(list(keys))
    windows = [
        Window(name, rate, int(counts.get(key, 0)), ends_at, at)
        for key, (name, rate, ends_at) in keys.items()
    ]
    return default_scope, windows


def most_restrictive(windows: list[Window]) -> Window:
    """The window closest to refusing: fewest remaining, then the longest wait."""
    return min(windows, key=lambda w: (w.remaining, -w.reset_seconds))


def _caller(request: HttpRequest, *, credential_accepted: bool) -> tuple[str, str]:
    if credential_accepted or is_authenticated(request):
        return USER_SCOPE, caller_key(request)
    # Unauthenticated callers are keyed by address even when they send an Authorization header
    # nobody accepted: otherwise each made-up header would get a fresh counter.
    tenant = getattr(request, "tenant", None)
    prefix = f"t:{tenant.id}" if tenant is not None else "t:-"
    return ANON_SCOPE, f"{prefix}:anon:{client_ip(request)}"


def _window(rate: Rate, at: float) -> tuple[int, int]:
    """(window number, epoch second the window ends)."""
    number = int(at // rate.period)
    return number, (number + 1) * rate.period


def _counter_key(scope: str, rate: Rate, caller: str, number: int) -> str:
    return f"ratelimit:{scope}:{rate.period}:{number}:{caller}"


def _increment(key: str, timeout: int) -> int:
    """Atomically add one to the counter `key` (created at 0 with `timeout`); the new count."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return cache.incr_counter(key, timeout)
    if isinstance(cache, DatabaseCache):
        return _increment_in_database(cache, key, timeout)
    return _add_then_incr(cache, key, timeout)


def _add_then_incr(cache: BaseCache, key: str, timeout: int) -> int:
    # Redis: `add` is SET NX and `incr` is INCRBY, both atomic on the server.
    for _attempt in range(_INCREMENT_ATTEMPTS):
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:  # the key expired (or was evicted) between add and incr: add again
            continue
    raise RuntimeError(f"rate limit counter {key!r} vanished {_INCREMENT_ATTEMPTS} times")


def _increment_in_database(cache: DatabaseCache, key: str, timeout: int) -> int:
    # The database cache's incr reads and writes back, so it runs in a transaction that holds the
    # counter's row lock (PostgreSQL, MySQL) or SQLite's write lock (BEGIN IMMEDIATE, see the
    # DATABASES settings): concurrent increments queue up instead of overwriting each other.
    alias = router.db_for_write(cache.cache_model_class)
    connection = connections[alias]
    with transaction.atomic(using=alias):
        cache.add(key, 0, timeout=timeout)
        if connection.features.has_select_for_update:
            # The table name comes from the CACHES setting, never from a request.
            table = connection.ops.quote_name(cache.cache_model_class._meta.db_table)
            lock = f"SELECT cache_key FROM {table} WHERE cache_key = %s FOR UPDATE"  # noqa: S608  # nosec B608
            with connection.cursor() as cursor:
                cursor.execute(lock, [cache.make_and_validate_key(key)])
        return cache.incr(key)


def _limit_or_fail_open(
    request: HttpRequest, *, scope: str | None, credential_accepted: bool
) -> list[Window]:
    try:
        return apply_rate_limits(request, scope=scope, credential_accepted=credential_accepted)
    except (DatabaseError, RedisError, OSError, RuntimeError) as error:
        # An unreachable cache must not take the whole API down: serve unlimited, loudly.
        logger.warning("rate_limit_unavailable", error=repr(error))
        return []


class DefaultRateThrottle(BaseThrottle):
    """DRF throttle for every API view: the default limit plus the view's `throttle_scope`.

    It records the most restrictive window on the Django request, where
    `RateLimitHeadersMiddleware` turns it into `RateLimit-*` headers, and raises `RateLimited`
    (429, `Retry-After`) when any limit is exceeded.
    """

    def allow_request(self, request: Request, view: APIView) -> bool:
        django_request: HttpRequest = request._request
        # Set even when nothing is counted: the middleware must not count this request again.
        setattr(django_request, _STATE_ATTRIBUTE, None)
        if is_exempt(django_request):
            return True
        windows = _limit_or_fail_open(
            django_request,
            scope=getattr(view, "throttle_scope", None),
            credential_accepted=request.auth is not None,
        )
        if not windows:
            return True
        setattr(django_request, _STATE_ATTRIBUTE, most_restrictive(windows))
        exceeded = [w for w in windows if w.exceeded]
        if exceeded:
            raise RateLimited(wait=max(w.reset_seconds for w in exceeded))
        return True


def limit_request(request: HttpRequest) -> HttpResponse | None:
    """Count a request answered outside DRF (a cached page) against the caller's default limit,
    as `DefaultRateThrottle` does; the 429 problem to send when a limit is exceeded, else None."""
    setattr(request, _STATE_ATTRIBUTE, None)
    if is_exempt(request):
        return None
    return _refusal(request, _limit_or_fail_open(request, scope=None, credential_accepted=False))


def _refusal(request: HttpRequest, windows: list[Window]) -> HttpResponse | None:
    """Record the most restrictive window on the request; the 429 problem if one is exceeded."""
    from emporium.core.errors import problem_response  # imports rest_framework.views

    setattr(request, _STATE_ATTRIBUTE, most_restrictive(windows) if windows else None)
    exceeded = [w for w in windows if w.exceeded]
    if not exceeded:
        return None
    wait = max(w.reset_seconds for w in exceeded)
    response = problem_response(
        request, status=429, code=RateLimited.default_code, detail=str(RateLimited(wait).detail)
    )
    response["Retry-After"] = str(wait)
    return response


class RateLimitHeadersMiddleware:
    """Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` to API responses.

    DRF checks authentication and permissions before throttles, so a request it refuses early
    (401, 403) never reaches `DefaultRateThrottle`. For those, this middleware counts the request
    itself (when the view uses the throttle) and turns the answer into a 429 once the limit is
    exceeded, so failing credentials cannot be tried without limit.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        window: Window | None = getattr(request, _STATE_ATTRIBUTE, None)
        if not hasattr(request, _STATE_ATTRIBUTE):
            window = self._limit_refused_request(request, response)
            if window is not None and window.exceeded:
                from emporium.core.errors import problem_response  # imports rest_framework.views

                response = problem_response(
                    request,
                    status=429,
                    code=RateLimited.default_code,
                    detail=str(RateLimited(window.reset_seconds).detail),
                )
                response["Retry-After"] = str(window.reset_seconds)
        if window is not None:
            response["RateLimit-Limit"] = str(window.rate.limit)
            response["RateLimit-Remaining"] = str(window.remaining)
            response["RateLimit-Reset"] = str(window.reset_seconds)
        return response

    def _limit_refused_request(self, request: HttpRequest, response: HttpResponse) -> Window | None:
        from rest_framework.views import APIView  # see the TYPE_CHECKING import

        context: dict[str, Any] = getattr(response, "renderer_context", None) or {}
        view, drf_request = context.get("view"), context.get("request")
        if not isinstance(view, APIView) or not isinstance(drf_request, Request):
            return None
        if is_exempt(request):
            return None
        if not any(isinstance(t, DefaultRateThrottle) for t in view.get_throttles()):
            return None
        windows = _limit_or_fail_open(
            request,
            scope=getattr(view, "throttle_scope", None),
            credential_accepted=getattr(drf_request, "_auth", None) is not None,
        )
        return most_restrictive(windows) if windows else None
