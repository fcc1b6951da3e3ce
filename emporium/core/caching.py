"""HTTP caching headers for reads: ETag, Last-Modified, Cache-Control, Vary and 304 responses.

Two ways in, one rule set:

- `CachedReadMixin` for DRF generic views and viewsets (`cache_max_age`, `cache_public`,
  optional `get_etag_seed(obj)`); detail views answer `If-Modified-Since` (and, with a seed,
  `If-None-Match`) right after fetching the object, before serializing it.
- `@cache_headers(max_age=..., public=...)` for function views (put it above `@api_view`).

The rules, for a 200 (or 304) answer to GET or HEAD:

- `ETag` is weak, `W/"<hash of the content type, content language and body>"` (or of the
  view's seed): semantically equivalent, not byte-identical, which also survives gzip.
- `Last-Modified` is the object's `updated_at`; for a list page, the newest `updated_at` on the
  page (the page is already in memory: no extra query). A deletion that leaves the page's newest
  item in place does not move it; the ETag does change, and `If-None-Match` takes precedence.
- `Cache-Control: public, max-age=N` for anonymous reads of a public view. Anything user-specific
  (an authenticated user or accepted credential, or a view with `cache_public = False`) gets
  `private, no-store`: personal data is kept out of every cache, shared and browser alike. Such
  responses still carry validators and still answer conditional requests with 304, so a client
  that keeps its own copy (a mobile app) can revalidate cheaply.
- `Vary: Accept, Accept-Language, Accept-Encoding, Authorization, Cookie`: a public response must
  not be served from a shared cache to a request whose credentials would change the answer.
- Conditional requests follow RFC 9110 §13.2.2 through `django.utils.cache.get_conditional_response`
  (weak comparison for `If-None-Match`, `*` and lists; `If-None-Match` wins over
  `If-Modified-Since`); a failed `If-Match` / `If-Unmodified-Since` is 412 `precondition_failed`.

A `Cache-Control` header the view sets itself is left alone. Errors and other methods are untouched.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import SimpleTemplateResponse
from django.utils import translation
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date
from django.utils.translation import gettext as _
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from emporium.core.callers import is_authenticated
from emporium.core.errors import problem_response

DEFAULT_MAX_AGE = 60
SAFE_METHODS = frozenset({"GET", "HEAD"})
VARY_HEADERS = ("Accept", "Accept-Language", "Accept-Encoding", "Authorization", "Cookie")
PRIVATE_DIRECTIVES = {"private": True, "no_store": True}


def weak_etag(*parts: str | bytes) -> str:
    """`W/"<hash>"` over the given parts (length-prefixed, so parts cannot run together)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return f'W/"{digest.hexdigest()[:32]}"'


def seed_etag(seed: str, *, media_type: str, version: str) -> str:
    """The weak ETag of a representation known by its seed (see `CachedReadMixin`), in the
    negotiated media type, the active language and the API version."""
    return weak_etag("seed", seed, media_type, translation.get_language() or "", version)


def representation_etag(response: HttpResponseBase) -> str | None:
    """The weak ETag of a rendered response; None for streams (their body is not at hand)."""
    if not isinstance(response, HttpResponse):
        return None
    return weak_etag(
        response.get("Content-Type", ""),
        response.get("Content-Language") or translation.get_language() or "",
        response.content,
    )


def http_timestamp(value: datetime | None) -> int | None:
    """Seconds since the epoch, as HTTP dates carry them (sub-second precision is dropped)."""
    return None if value is None else calendar.timegm(value.utctimetuple())


def newest(values: Iterable[datetime | None]) -> datetime | None:
    """The latest of the given timestamps, ignoring missing ones."""
    present = [value for value in values if value is not None]
    return max(present) if present else None


def is_user_specific(request: HttpRequest | Request) -> bool:
    """Whether the response may depend on who asks: an authenticated user or credential."""
    if is_authenticated(request):
        return True
    return getattr(request, "auth", None) is not None


def not_modified_before_rendering(
    request: HttpRequest, *, etag: str | None, last_modified: datetime | None
) -> bool:
    """Whether the validators known before rendering already prove the client's copy current.

    Only `If-None-Match` (when `etag` is known) and `If-Modified-Since` are decided here; with
    `If-Match` or `If-Unmodified-Since` present, everything waits for the rendered response.
    """
    if request.method not in SAFE_METHODS:
        return False
    if "HTTP_IF_MATCH" in request.META or "HTTP_IF_UNMODIFIED_SINCE" in request.META:
        return False
    result = get_conditional_response(
        request, etag=etag, last_modified=http_timestamp(last_modified)
    )
    return result is not None and result.status_code == 304


def apply_cache_headers(
    request: HttpRequest | Request,
    response: HttpResponseBase,
    *,
    max_age: int = DEFAULT_MAX_AGE,
    public: bool = True,
    etag: str | None = None,
    last_modified: datetime | None = None,
) -> HttpResponseBase:
    """Add the caching headers to a read's response and answer its conditional headers.

    `response` must be rendered. `etag` defaults to the hash of the rendered body. Returns the
    response, a 304 carrying the validators, `Cache-Control` and `Vary`, or a 412 problem.
    """
    if request.method not in SAFE_METHODS or response.status_code not in (200, 304):
        return response
    if not response.has_header("Cache-Control"):
        if not public or is_user_specific(request):
            patch_cache_control(response, **PRIVATE_DIRECTIVES)
        else:
            patch_cache_control(response, public=True, max_age=max_age)
    patch_vary_headers(response, VARY_HEADERS)
    if response.status_code == 200 and etag is None:
        etag = representation_etag(response)
    if etag is not None and not response.has_header("ETag"):
        response.headers["ETag"] = etag
    timestamp = http_timestamp(last_modified)
    if timestamp is not None and not response.has_header("Last-Modified"):
        response.headers["Last-Modified"] = http_date(timestamp)
    if response.status_code == 304 or not isinstance(response, HttpResponse):
        return response
    django_request = request._request if isinstance(request, Request) else request
    result = get_conditional_response(
        django_request, etag=response.get("ETag"), last_modified=timestamp, response=response
    )
    if result is None:  # only without a response to fall back on
        return response
    if result.status_code == 412:
        failed = problem_response(
            django_request,
            status=412,
            code="precondition_failed",
            detail=_("The resource does not match the request's preconditions."),
        )
        # Decided on the representation, which varies with these (as the 200 says).
        patch_vary_headers(failed, VARY_HEADERS)
        return failed
    return result


def _render(response: HttpResponseBase) -> None:
    if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
        response.render()


class _NotModified(Exception):
    """Raised once the object is fetched, when the client's copy is already current."""


class CachedReadMixin(GenericAPIView[Any]):
    """Caching headers and conditional GET for a DRF generic view or viewset.

    `cache_max_age` and `cache_public` choose the policy; `last_modified_field` names the
    timestamp (None for none). Override `get_etag_seed(obj)` with something cheap that changes
    whenever the object's representation does (e.g. id and updated_at) to decide
    `If-None-Match` before serializing too; the seed ETag is then what 200 responses carry.
    """

    cache_max_age: int = DEFAULT_MAX_AGE
    cache_public: bool = True
    last_modified_field: str | None = "updated_at"

    _cache_etag: str | None = None
    _cache_last_modified: datetime | None = None

    def get_etag_seed(self, obj: Any) -> str | None:
        """A cheap string that changes whenever `obj`'s representation does, or None."""
        return None

    def get_object(self) -> Any:
        obj = super().get_object()
        if self.request.method not in SAFE_METHODS:
            return obj
        self._cache_last_modified = self._last_modified_of(obj)
        seed = self.get_etag_seed(obj)
        if seed is not None:
            self._cache_etag = seed_etag(
                seed,
                media_type=self.request.accepted_media_type or "",
                version=str(self.request.version or ""),
            )
        if not_modified_before_rendering(
            self.request._request, etag=self._cache_etag, last_modified=self._cache_last_modified
        ):
            raise _NotModified
        return obj

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        if page is not None and self.request.method in SAFE_METHODS:
            self._cache_last_modified = newest(self._last_modified_of(obj) for obj in page)
        return page

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _NotModified):
            return Response(status=304)
        return super().handle_exception(exc)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = super().dispatch(request, *args, **kwargs)
        if request.method not in SAFE_METHODS:
            return response
        _render(response)
        return apply_cache_headers(
            self.request,
            response,
            max_age=self.cache_max_age,
            public=self.cache_public,
            etag=self._cache_etag,
            last_modified=self._cache_last_modified,
        )

    def _last_modified_of(self, obj: Any) -> datetime | None:
        if self.last_modified_field is None:
            return None
        if isinstance(obj, Mapping):  # a row read with values()
            value = obj.get(self.last_modified_field)
        else:
            value = getattr(obj, self.last_modified_field, None)
        return value if isinstance(value, datetime) else None


ViewFunction = Callable[..., HttpResponseBase]


def cache_headers(
    *, max_age: int = DEFAULT_MAX_AGE, public: bool = True
) -> Callable[[ViewFunction], ViewFunction]:
    """Caching headers and conditional GET for a function view (above `@api_view`, if any).

    The view runs and renders; the ETag is the hash of what it rendered. A DRF view's own
    authentication decides whether the response is user-specific.
    """

    def decorator(view: ViewFunction) -> ViewFunction:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            if request.method not in SAFE_METHODS:
                return response
            _render(response)
            renderer_context = getattr(response, "renderer_context", None) or {}
            asked_by: HttpRequest | Request = renderer_context.get("request") or request
            return apply_cache_headers(asked_by, response, max_age=max_age, public=public)

        return wrapper

    return decorator
