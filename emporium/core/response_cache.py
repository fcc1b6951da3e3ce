"""Server-side cache of anonymous GET responses, invalidated by per-shop generations.

A cached page is keyed by the shop, the current generation of each namespace the view depends
on, the path and canonical query string, the negotiated format and the language. Invalidation
never searches for keys: a write bumps the namespace's generation (`bump`), so every key built
from the old one is simply never asked for again and expires on its own.

Each entry also carries its own expiry instant, checked on read. Views bound it (and their
`max-age`) by the instant their data changes by itself, e.g. a product's scheduled unpublish
time: a cached page never outlives what it shows.

Only anonymous requests for JSON are served from and stored in this cache; staff and signed-in
users always get a fresh answer. `X-Cache: HIT` / `MISS` says which happened.

A cache server that cannot be reached is a miss, not an error: pages are built from the database
and not stored, and a write's invalidation is logged as failed (pages stored before expire by
themselves). After a failure the cache is left alone for a few seconds (`cache_backends`), so
requests do not each wait for a connection to time out.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import Resolver404, ResolverMatch, get_urlconf, resolve
from django.utils import timezone, translation
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from emporium.core import page_memory
from emporium.core.cache_backends import CACHE_ERRORS, RedisCache, cache_available, cache_failed
from emporium.core.caching import apply_cache_headers, http_timestamp, is_user_specific, weak_etag
from emporium.core.context import get_current_tenant_id
from emporium.core.logging import get_logger
from emporium.core.ratelimit import count_and_read, count_from_lease

logger = get_logger(__name__)

KEY_PREFIX = "rc"
# Part of every page key: a new format of page entries (`page_entry`) gets new keys, so servers
# of two releases running side by side never read each other's pages.
PAGE_FORMAT = 2
DEFAULT_TIMEOUT = 300
# A page that would live less than this is not worth storing.
MIN_TIMEOUT = 1
CACHE_STATUS_HEADER = "X-Cache"
API_PREFIX = "/api/"
# What an API client asking for JSON sends (browsers ask for HTML: the browsable API).
JSON_MEDIA_RANGES = frozenset({"application/json", "*/*", "application/*"})

# Purge scope -> namespaces, filled by the apps that own the namespaces (see `register_scope`).
_SCOPES: dict[str, tuple[str, ...]] = {}


def register_scope(scope: str, namespaces: Iterable[str]) -> None:
    """Make `scope` purgeable (`POST admin/cache/purge/`); it bumps these namespaces."""
    _SCOPES[scope] = tuple(namespaces)


# Keys most page misses go on to read (per shop), filled by apps: see `register_prefetch`.
_PREFETCH: list[Callable[[HttpRequest, UUID], Iterable[str]]] = []


def register_prefetch(keys: Callable[[HttpRequest, UUID], Iterable[str]]) -> None:
    """Have the page lookup also fetch `keys(request, tenant_id)`, in the same round trip: what
    a view reads on most misses (the catalog's schedule and totals) then comes from the
    request's memo."""
    _PREFETCH.append(keys)


# Anonymous JSON misses answered without URL dispatch and DRF, by URL name: see `register_reader`.
PageReader = Callable[..., dict[str, Any] | None]
_READERS: dict[str, PageReader] = {}


def register_reader(view_name: str, reader: PageReader) -> None:
    """Have the middleware answer an anonymous JSON miss of the route `view_name` (e.g.
    `api:product-write`) with `reader(request, tenant_id=..., now=..., **url_kwargs)`: the page
    entry the view would store (`page_entry`), which the middleware stores and replays as it
    replays a hit; or None to leave the request to the view (errors, redirects, anything the
    reader does not handle). A reader must give exactly the view's answer: test it side by side
    with the view.

    This is for the hottest reads only (the product list and detail): it skips URL dispatch,
    DRF's request, negotiation and rendering machinery, which cost more than the read itself.
    """
    _READERS[view_name] = reader


def scopes() -> dict[str, tuple[str, ...]]:
    """Every purge scope, with `all` covering every registered namespace."""
    every = tuple(sorted({ns for namespaces in _SCOPES.values() for ns in namespaces}))
    return {"all": every, **_SCOPES}


# What this request has already read from (or written to) the cache, by key; None outside
# `request_memo()`. A page miss costs several lookups of the same few keys (generations, the
# schedule, the totals): each is asked of the cache once per request.
_MISSING = object()
_memo: ContextVar[dict[str, Any] | None] = ContextVar("response_cache_memo", default=None)


@contextmanager
def request_memo() -> Iterator[None]:
    """Remember cache reads for the rest of the current request (see `_memo`)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _get_many(keys: list[str]) -> dict[str, Any]:
    """`cache.get_many`, answered from the request's memo where it can be."""
    memo = _memo.get()
    if memo is None:
        return _read_many(keys)
    wanted = [key for key in keys if key not in memo]
    if wanted:
        found = _read_many(wanted)
        for key in wanted:
            memo[key] = found.get(key, _MISSING)
    return {key: memo[key] for key in keys if memo[key] is not _MISSING}


def _read_many(keys: list[str]) -> dict[str, Any]:
    """`cache.get_many`; nothing found while the cache is unavailable."""
    if not cache_available():
        return {}
    try:
        return cache.get_many(keys)
    except CACHE_ERRORS as error:
        cache_failed(error, operation="page read")
        return {}


def _remember(values: Mapping[str, Any]) -> None:
    memo = _memo.get()
    if memo is not None:
        memo.update(values)


def _remember_reads(keys: Iterable[str], found: Mapping[str, Any]) -> None:
    """Record a read of `keys` (absent ones included) made outside `_get_many`."""
    memo = _memo.get()
    if memo is not None:
        for key in keys:
            memo[key] = found.get(key, _MISSING)


def _generation_key(tenant_id: UUID, namespace: str) -> str:
    return f"{KEY_PREFIX}:gen:{tenant_id}:{namespace}"


def _generation_keys(tenant_id: UUID) -> list[str]:
    """The generation keys of every purgeable namespace of the shop."""
    return [_generation_key(tenant_id, ns) for ns in scopes()["all"]]


def generations(tenant_id: UUID, namespaces: Iterable[str]) -> dict[str, int]:
    """The current generation of each namespace of the shop (one cache round trip when set)."""
    keys = {namespace: _generation_key(tenant_id, namespace) for namespace in namespaces}
    found = _get_many(list(keys.values()))
    result: dict[str, int] = {}
    for namespace, key in keys.items():
        value = found.get(key)
        if value is None:
            # First use or evicted: start from the clock, so a lost counter never goes back to
            # a value older pages were stored under. `add` lets one concurrent starter win.
            value = _start_generation(key)
            _remember({key: value})
        result[namespace] = int(value)
    return result


def _start_generation(key: str) -> int:
    """The generation under `key`, set to the clock if it was not set; the clock while the cache
    is unavailable (nothing built with it is stored then)."""
    if cache_available():
        try:
            cache.add(key, time.time_ns(), timeout=None)
            return int(cache.get(key, time.time_ns()))
        except CACHE_ERRORS as error:
            cache_failed(error, operation="page read")
    return time.time_ns()


def bump(tenant_id: UUID, namespaces: Iterable[str]) -> None:
    """Invalidate every cached page of the shop that depends on these namespaces."""
    # A fresh clock value rather than incr(): works on every backend, even after eviction.
    values = {_generation_key(tenant_id, ns): time.time_ns() for ns in namespaces}
    try:
        if isinstance(cache, RedisCache):  # processes keeping pages in memory hear of it
            cache.set_many_and_publish(values, page_memory.CHANNEL, page_memory.encode(values))
        else:
            cache.set_many(values, timeout=None)
    except CACHE_ERRORS as error:
        # The write itself is done: pages stored before it expire by themselves.
        logger.error(
            "response_cache_invalidation_failed", namespaces=sorted(values), error=repr(error)
        )
    _remember(values)
    memory = page_memory.current()
    if memory is not None:
        memory.changed(values)


def purge(tenant_id: UUID, scope: str) -> tuple[str, ...]:
    """Bump the namespaces of a purge scope; returns them. Unknown scopes raise KeyError."""
    namespaces = scopes()[scope]
    bump(tenant_id, namespaces)
    return namespaces


def get_fresh(key: str, *, now: datetime) -> Any | None:
    """The value stored by `set_until` under `key`, or None once its instant has passed.

    The instant is checked here rather than left to the backend's TTL, whose clock and
    rounding (whole seconds, `expires < now`) could serve a value for up to a second too long.
    """
    entry = _get_many([key]).get(key)
    if entry is None or entry[1] <= now.timestamp():
        return None
    return entry[0]


def set_until(
    key: str, value: Any, *, expires_at: datetime, now: datetime, wait: bool = True
) -> bool:
    """Store `value` until `expires_at`; values that would live under a second are not kept.
    Unless `wait`, Redis's acknowledgement is read later (`RedisCache.set_later`): for pages,
    which are rebuilt if a store is lost."""
    seconds = (expires_at - now).total_seconds()
    if seconds < MIN_TIMEOUT:
        return False
    if not cache_available():
        return False
    entry = (value, expires_at.timestamp())
    try:
        if wait or not isinstance(cache, RedisCache):
            cache.set(key, entry, timeout=math.ceil(seconds))
        else:
            cache.set_later(key, entry, timeout=math.ceil(seconds))
    except CACHE_ERRORS as error:
        cache_failed(error, operation="page store")
        return False
    _remember({key: entry})
    return True


def canonical_query(query: Mapping[str, Any] | str) -> str:
    """The query string with parameters sorted, so `a=1&b=2` and `b=2&a=1` share a page."""
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else []
    return urlencode(sorted(pairs))


def versioned_key(*, tenant_id: UUID, generation: Mapping[str, int], parts: Iterable[str]) -> str:
    """A cache key for something derived from the shop's data (a total, the category tree):
    it includes the generations, so a write moves every such key at once."""
    seed = "\x1f".join([str(tenant_id), *(f"{k}={v}" for k, v in sorted(generation.items()))])
    digest = hashlib.sha256("\x1e".join([seed, *parts]).encode()).hexdigest()
    return f"{KEY_PREFIX}:derived:{digest}"


_PAGE_KEY_ATTRIBUTE = "_emporium_page_key"


def page_key_for(tenant_id: UUID, request: HttpRequest) -> str:
    """The cache key of the page a GET request asks for (hashed: short whatever the query).

    Scheme and host are part of it (answers carry absolute links: pagination, images), as are
    the path (which names the API version), the sorted query string and the language.
    """
    known: tuple[UUID, str] | None = getattr(request, _PAGE_KEY_ATTRIBUTE, None)
    if known is not None and known[0] == tenant_id:  # the middleware's, for the view
        return known[1]
    parts = (
        str(tenant_id),
        request.build_absolute_uri(request.path),
        canonical_query(request.META.get("QUERY_STRING", "")),
        translation.get_language() or "",
    )
    digest = hashlib.sha256(chr(30).join(parts).encode()).hexdigest()
    key = f"{KEY_PREFIX}:page{PAGE_FORMAT}:{digest}"
    setattr(request, _PAGE_KEY_ATTRIBUTE, (tenant_id, key))
    return key


def fresh_page(tenant_id: UUID, key: str, *, now: datetime) -> dict[str, Any] | None:
    """The page stored under `key` if it has not expired and every namespace it was built from
    is still at the same generation, else None.

    One cache round trip: the page is fetched together with the generations of every purgeable
    namespace (a handful of keys), whichever of them the page turns out to depend on.
    """
    known = {ns: _generation_key(tenant_id, ns) for ns in scopes()["all"]}
    found = _get_many([key, *known.values()])
    stored: tuple[dict[str, Any], float] | None = found.get(key)
    if stored is None or stored[1] <= now.timestamp():
        return None
    page = stored[0]
    for namespace, built_from in page["generation"].items():
        current = found.get(known[namespace]) if namespace in known else None
        if current is None:  # not registered, or never set / evicted since
            current = generations(tenant_id, [namespace])[namespace]
        if int(current) != built_from:
            return None
    return page


def page_entry(
    *,
    generation: Mapping[str, int],
    body: bytes,
    content_type: str,
    allow: str | None,
    etag: str | None,
    last_modified: datetime | None,
    max_age: int,
    expires_at: datetime,
) -> dict[str, Any]:
    """A page as the cache keeps it: the answer's body and what its headers are made from.
    Without an `etag`, the one `apply_cache_headers` would hash from the body and its media type
    and language when replaying it (the page key includes the language), hashed once here."""
    if etag is None:
        etag = weak_etag(content_type, translation.get_language() or "", body)
    return {
        "generation": dict(generation),
        "body": body,
        "content_type": content_type,
        "allow": allow,
        "etag": etag,
        "last_modified": http_timestamp(last_modified),
        "max_age": max_age,
        "expires_at": expires_at.timestamp(),
    }


def entry_last_modified(entry: Mapping[str, Any]) -> datetime | None:
    """A page entry's `Last-Modified` instant (kept as whole seconds since the epoch, as HTTP
    dates carry it: a datetime costs ten times as much to store and read back)."""
    seconds: int | None = entry["last_modified"]
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def bounded_max_age(max_age: int, expires_at: datetime, now: datetime) -> int:
    """`max_age`, shortened so browsers and shared caches drop the page when the server does."""
    return min(max_age, max(0, int((expires_at - now).total_seconds())))


class ServerCachedMixin(GenericAPIView[Any]):
    """Serve anonymous JSON GETs of a DRF view from the server cache (put it before
    `CachedReadMixin` in the bases, so validators and `Cache-Control` apply to hits too).

    `server_cache_namespaces` lists what the view's answers depend on; `server_cache_timeout`
    caps an entry's life; override `server_cache_valid_until(now)` to bound it further.
    """

    server_cache_namespaces: tuple[str, ...] = ()
    server_cache_timeout: int = DEFAULT_TIMEOUT

    _server_cache_store: tuple[str, dict[str, int], datetime] | None = None
    _server_cache_status: str | None = None

    def server_cache_valid_until(self, now: datetime) -> datetime | None:
        """An instant at which the data behind every page of this view may change by itself."""
        return None

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tenant_id = get_current_tenant_id()
        if tenant_id is None or not self._server_cacheable(request):
            return self.server_cache_fetch(request, *args, **kwargs)
        key = page_key_for(tenant_id, request._request)
        now = timezone.now()
        entry = fresh_page(tenant_id, key, now=now)
        if entry is not None:
            self._server_cache_status = "HIT"
            self._limit_max_age(datetime.fromtimestamp(entry["expires_at"], tz=now.tzinfo), now)
            self._cache_etag = entry["etag"]
            self._cache_last_modified = entry_last_modified(entry)
            response = Response()
            response.content = entry["body"]  # marks it rendered: DRF will not render it again
            response["Content-Type"] = entry["content_type"]
            return response
        self._server_cache_status = "MISS"
        # Read before the data: a write committed meanwhile leaves this page outdated at once.
        generation = generations(tenant_id, self.server_cache_namespaces)
        expires_at = self.server_cache_expires_at(now)
        self._limit_max_age(expires_at, now)
        self._server_cache_store = (key, generation, expires_at)
        return self.server_cache_fetch(request, *args, **kwargs)

    def server_cache_expires_at(self, now: datetime) -> datetime:
        """When a page built now must leave the cache."""
        expires_at = now + timedelta(seconds=self.server_cache_timeout)
        valid_until = self.server_cache_valid_until(now)
        return expires_at if valid_until is None else min(expires_at, valid_until)

    def server_cache_fetch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Build the answer without the server cache (the view's own `get`)."""
        handler: Callable[..., Response] = super().get  # type: ignore[misc]
        return handler(request, *args, **kwargs)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().dispatch(request, *args, **kwargs)
        if self._server_cache_status is not None:
            response[CACHE_STATUS_HEADER] = self._server_cache_status
        if self._server_cache_store is not None and response.status_code == 200:
            key, generation, expires_at = self._server_cache_store
            if isinstance(response, HttpResponse):
                page = page_entry(
                    generation=generation,
                    body=response.content,
                    content_type=response["Content-Type"],
                    allow=response.get("Allow"),
                    etag=getattr(self, "_cache_etag", None),
                    last_modified=getattr(self, "_cache_last_modified", None),
                    max_age=self._server_cache_max_age,
                    expires_at=expires_at,
                )
                set_until(key, page, expires_at=expires_at, now=timezone.now(), wait=False)
        return response

    def _server_cacheable(self, request: Request) -> bool:
        renderer = getattr(request, "accepted_renderer", None)
        return (
            bool(self.server_cache_namespaces)
            and getattr(renderer, "format", None) == "json"
            # Plain JSON only: `application/json; indent=4` renders differently, and the page
            # key does not follow Accept.
            and _without_parameters(getattr(request, "accepted_media_type", None) or "")
            and not is_user_specific(request)
        )

    def _limit_max_age(self, expires_at: datetime, now: datetime) -> None:
        # The view's own max-age, kept for the hits served by the middleware.
        self._server_cache_max_age: int = getattr(self, "cache_max_age", 0)
        self.cache_max_age = bounded_max_age(getattr(self, "cache_max_age", 0), expires_at, now)


def _fast_path_applies(request: HttpRequest) -> bool:
    # Certainly anonymous (no credential of any kind) and certainly asking for JSON.
    if request.method != "GET" or not request.path.startswith(API_PREFIX):
        return False
    if "HTTP_AUTHORIZATION" in request.META or settings.SESSION_COOKIE_NAME in request.COOKIES:
        return False
    accept = request.META.get("HTTP_ACCEPT", "")
    ranges = set()
    for part in accept.split(","):
        if not _without_parameters(part):
            return False  # e.g. `indent=4`: for the view to negotiate
        if media_range := part.split(";")[0].strip():
            ranges.add(media_range)
    return ranges <= JSON_MEDIA_RANGES


def _without_parameters(media_type: str) -> bool:
    """Whether a media type (range) has no parameter but a quality value (`q=`)."""
    _media_range, *parameters = media_type.split(";")
    return all(parameter.strip().startswith("q=") for parameter in parameters)


class CachedPageMiddleware:
    """Answers anonymous JSON GETs from the server cache before URL resolution and DRF.

    The innermost middleware, so every other one still runs around a hit (request id, access
    log, security headers, CORS, compression, tenant, locale, deprecation). It replays what the
    view stored (`ServerCachedMixin`), after the same checks: the page's generations are
    current and its instant has not passed. The request is counted against the caller's rate
    limit as the view's throttle would count it. Anything else goes to the view as usual.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        tenant_id = get_current_tenant_id()
        if tenant_id is None or not _fast_path_applies(request):
            return self.get_response(request)
        with request_memo():
            return self._answer(request, tenant_id)

    def _answer(self, request: HttpRequest, tenant_id: UUID) -> HttpResponseBase:
        now = timezone.now()
        key = page_key_for(tenant_id, request)
        memory = page_memory.current()
        if memory is not None:
            # The page in this process's memory, the request counted from a leased slot: no
            # round trip at all (see `page_memory` and `ratelimit`).
            kept = memory.page(key, now.timestamp())
            if kept is not None and count_from_lease(request):
                return _replay(request, kept, now, "HIT")
        if not cache_available():
            # Answered as a miss, stored nowhere; the rate limit fails open meanwhile, as it
            # does on a cache error.
            entry = _read(request, tenant_id, now)
            if entry is None:
                return self.get_response(request)
            return _replay(request, entry, now, "MISS")
        # Counting the request and reading the page with its generations: one round trip. On a
        # miss the view's throttle knows the request is counted, and the view's own lookups
        # are answered from the request memo.
        generation_keys = _generation_keys(tenant_id)
        keys = [key, *generation_keys]
        keys += [extra for prefetch in _PREFETCH for extra in prefetch(request, tenant_id)]
        mark = None if memory is None else memory.mark()
        refused, found = count_and_read(request, keys)
        _remember_reads(keys, found)
        if memory is not None:
            memory.learn(mark, {gen_key: found.get(gen_key) for gen_key in generation_keys})
        if refused is not None:
            return refused
        status = "HIT"
        entry = fresh_page(tenant_id, key, now=now)
        if entry is None:
            entry = _read(request, tenant_id, now)
            if entry is None:
                return self.get_response(request)
            status = "MISS"
            expires_at = datetime.fromtimestamp(entry["expires_at"], tz=now.tzinfo)
            set_until(key, entry, expires_at=expires_at, now=now, wait=False)
        elif memory is not None:
            # Kept once asked for again (found in Redis), not when built: pages asked for once,
            # such as those of cache-busting parameters, would push the popular ones out.
            built_from = tuple(
                (_generation_key(tenant_id, namespace), int(generation))
                for namespace, generation in entry["generation"].items()
            )
            memory.keep(key, entry, built_from)
        return _replay(request, entry, now, status)


def _replay(
    request: HttpRequest, entry: Mapping[str, Any], now: datetime, status: str
) -> HttpResponseBase:
    """The answer a view gave (or, for a reader's page, would give), from its page entry."""
    page = HttpResponse(entry["body"], content_type=entry["content_type"])
    if entry["allow"]:
        page["Allow"] = entry["allow"]
    expires_at = datetime.fromtimestamp(entry["expires_at"], tz=now.tzinfo)
    response = apply_cache_headers(
        request,
        page,
        max_age=bounded_max_age(entry["max_age"], expires_at, now),
        etag=entry["etag"],
        last_modified=entry_last_modified(entry),
    )
    response[CACHE_STATUS_HEADER] = status
    return response


def _read(request: HttpRequest, tenant_id: UUID, now: datetime) -> dict[str, Any] | None:
    """The page a registered reader builds for this miss, or None (no reader, or it declined)."""
    if not _READERS or ";" in request.META.get("HTTP_ACCEPT", ""):
        return None  # weighted or parameterised media types are the view's to negotiate
    match = _resolved(get_urlconf(), request.path_info)
    reader = None if match is None else _READERS.get(match.view_name)
    if match is None or reader is None:
        return None
    return reader(request, tenant_id=tenant_id, now=now, **match.kwargs)


@lru_cache(maxsize=4096)
def _resolved(urlconf: str | None, path: str) -> ResolverMatch | None:
    """URL resolution, remembered: the hottest paths are few (a list, popular products)."""
    try:
        return resolve(path, urlconf)
    except Resolver404:
        return None
