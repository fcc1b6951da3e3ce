"""Idempotency keys for POST requests under /api/ (DESIGN.md section 3).

A client sends `Idempotency-Key: <1-255 printable ASCII characters>` with a POST. The first
request with a key claims a record (a unique constraint on (caller scope, key) decides who is
first, also between concurrent requests), runs the view and stores its response. A retry with
the same key and the same request gets the stored response back with `Idempotent-Replayed: true`
and the view does not run again. Errors (application/problem+json):

    400 idempotency_key_invalid      the header is empty, too long or not printable ASCII
    400 idempotency_key_required     the endpoint is listed in IDEMPOTENCY_REQUIRED_FOR
    409 idempotency_key_in_progress  the first request with this key has not finished (Retry-After)
    422 idempotency_key_reused       the key was used for a different request

Responses that say "try again" are not stored, the record is deleted so a retry runs the view:
5xx, 408, 425, 429, and 401/403 (rejected before the operation ran; the caller may sign in and
retry). Streaming responses and bodies over MAX_STORED_BODY_BYTES are not kept: a retry gets
the stored status and headers (Location...) with an empty body, never a second execution.
Records expire after IDEMPOTENCY_TTL_SECONDS; the task `core.purge_idempotency_records` deletes
them. A record left "in progress" by a crashed process is taken over after LOCK_TIMEOUT.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext

from emporium.core.callers import caller_key
from emporium.core.errors import problem_response
from emporium.core.logging import get_logger
from emporium.core.models import IdempotencyRecord

log = get_logger(__name__)

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
API_PATH_PREFIX = "/api/"
# A request still "in progress" after this long is assumed dead (its process crashed) and a
# retry may take the key over. Must exceed the longest request the server lets run.
LOCK_TIMEOUT = timedelta(seconds=60)
IN_PROGRESS_RETRY_AFTER_SECONDS = 1
MAX_STORED_BODY_BYTES = 1024 * 1024
PURGE_BATCH_SIZE = 1000
# Bounds one purge run (a million rows); the next hourly run continues.
PURGE_MAX_BATCHES = 1000
# Headers that describe the result; per-delivery ones (Date, Set-Cookie, X-Request-ID,
# RateLimit-*, Vary...) are left to the middleware that adds them to every response.
STORED_HEADERS = (
    "Content-Type",
    "Content-Language",
    "Content-Location",
    "Location",
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Link",
    "Deprecation",
    "Sunset",
)
# The operation did not run or the client is told to retry: keep no record, so a retry runs.
UNSTORED_STATUSES = frozenset({401, 403, 408, 425, 429})
_KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
_CLAIM_ATTEMPTS = 3


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"  # this request owns the key: run the view
    REPLAY = "replay"  # the same request completed before: answer with its response
    REUSED = "reused"  # the key belongs to a different request
    IN_PROGRESS = "in_progress"  # the same request is running elsewhere


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    record: IdempotencyRecord | None = None


def idempotency_key_is_valid(key: str) -> bool:
    """1-255 printable ASCII characters, not only spaces."""
    return _KEY_PATTERN.fullmatch(key) is not None and bool(key.strip())


def request_fingerprint(request: HttpRequest) -> str:
    """sha256 over method, path with query, Content-Type and the sha256 of the body."""
    body_digest = hashlib.sha256(request.body).hexdigest()
    parts = [
        request.method or "",
        request.get_full_path(),
        request.META.get("CONTENT_TYPE", ""),
        body_digest,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def ttl() -> timedelta:
    """How long a record answers retries (IDEMPOTENCY_TTL_SECONDS)."""
    return timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)


# --- selectors --------------------------------------------------------------------------------


def idempotency_record_get(*, scope: str, key: str) -> IdempotencyRecord | None:
    """The record of `key` for the caller `scope`, expired or not."""
    return IdempotencyRecord.objects.filter(scope=scope, key=key).first()


# --- services ---------------------------------------------------------------------------------


def idempotency_record_claim(
    *,
    scope: str,
    key: str,
    fingerprint: str,
    request_path: str,
    tenant_id: uuid.UUID | None = None,
) -> Claim:
    """Claim `key` for a request, or say why not (replay, reused key, still in progress).

    The INSERT runs in its own transaction (a savepoint inside an outer one), so among
    concurrent first requests exactly one wins the unique constraint. An expired record, or a
    stale "in progress" one of the same request, is deleted and the claim tried again.
    """
    for _attempt in range(_CLAIM_ATTEMPTS):
        now = timezone.now()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    scope=scope,
                    key=key,
                    tenant_id=tenant_id,
                    request_path=request_path[:2000],
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + ttl(),
                )
        except IntegrityError:
            pass
        else:
            return Claim(ClaimOutcome.CLAIMED, record)

        existing = idempotency_record_get(scope=scope, key=key)
        if existing is None:  # deleted meanwhile (released after a 5xx, purged): claim again
            continue
        if existing.expires_at <= now:
            _delete_if(existing, expires_at__lte=now)
            continue
        if existing.fingerprint != fingerprint:
            return Claim(ClaimOutcome.REUSED, existing)
        if existing.state == IdempotencyRecord.State.COMPLETED:
            return Claim(ClaimOutcome.REPLAY, existing)
        if existing.created_at > now - LOCK_TIMEOUT:
            return Claim(ClaimOutcome.IN_PROGRESS, existing)
        log.warning("idempotency_lock_taken_over", record_id=str(existing.pk))
        _delete_if(
            existing, state=IdempotencyRecord.State.IN_PROGRESS, created_at__lte=now - LOCK_TIMEOUT
        )
    # Lost every race in a row: to the client this is the same as a request in progress.
    return Claim(ClaimOutcome.IN_PROGRESS)


def _delete_if(record: IdempotencyRecord, **still: Any) -> None:
    # Conditional on what made the row replaceable, so of two racing deleters only one succeeds
    # and the other finds the fresh row on its next attempt.
    IdempotencyRecord.objects.filter(pk=record.pk, **still).delete()


def idempotency_record_complete(
    *, record: IdempotencyRecord, status: int, headers: dict[str, str], body: bytes | None
) -> None:
    """Store the response of the request that claimed `record`.

    Only while it is still this request's claim: a record taken over after LOCK_TIMEOUT was
    deleted, so the update finds no row.
    """
    IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS
    ).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=status,
        response_headers=headers,
        response_body=body,
        updated_at=timezone.now(),
    )


def idempotency_record_release(*, record: IdempotencyRecord) -> None:
    """Give the key back (the request failed in a way worth retrying)."""
    IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS
    ).delete()


def idempotency_record_purge_expired(
    *, now: datetime | None = None, batch_size: int = PURGE_BATCH_SIZE
) -> int:
    """Delete expired records in batches; returns how many were deleted. Safe to run twice."""
    now = now or timezone.now()
    deleted = 0
    for _batch in range(PURGE_MAX_BATCHES):
        ids = list(
            IdempotencyRecord.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            break
        count, _ = IdempotencyRecord.objects.filter(pk__in=ids, expires_at__lte=now).delete()
        deleted += count
        if len(ids) < batch_size:
            break
    return deleted


# --- middleware -------------------------------------------------------------------------------


class IdempotencyMiddleware:
    """Makes POSTs under /api/ that carry an Idempotency-Key safe to retry (see module doc)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method != "POST" or not request.path.startswith(API_PATH_PREFIX):
            return self.get_response(request)
        key = request.headers.get(KEY_HEADER)
        if key is None:
            if _key_required(request):
                return problem_response(
                    request,
                    status=400,
                    code="idempotency_key_required",
                    detail=gettext("This endpoint requires an Idempotency-Key header."),
                )
            return self.get_response(request)
        if not idempotency_key_is_valid(key):
            return problem_response(
                request,
                status=400,
                code="idempotency_key_invalid",
                detail=gettext(
                    "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
                ),
            )

        tenant = getattr(request, "tenant", None)
        claim = idempotency_record_claim(
            scope=caller_key(request),
            key=key,
            fingerprint=request_fingerprint(request),
            request_path=request.path,
            tenant_id=tenant.id if tenant is not None else None,
        )
        if claim.outcome is ClaimOutcome.REPLAY and claim.record is not None:
            return _replay(claim.record)
        if claim.outcome is ClaimOutcome.REUSED:
            return problem_response(
                request,
                status=422,
                code="idempotency_key_reused",
                detail=gettext(
                    "This Idempotency-Key was already used for a different request; "
                    "use a new key for a new request."
                ),
            )
        if claim.outcome is ClaimOutcome.IN_PROGRESS or claim.record is None:
            response = problem_response(
                request,
                status=409,
                code="idempotency_key_in_progress",
                detail=gettext(
                    "A request with this Idempotency-Key is still being processed; retry later."
                ),
            )
            response["Retry-After"] = str(IN_PROGRESS_RETRY_AFTER_SECONDS)
            return response
        return self._run_and_store(request, claim.record)

    def _run_and_store(self, request: HttpRequest, record: IdempotencyRecord) -> HttpResponseBase:
        # Exceptions in the view arrive here as 500 responses (Django converts them per layer).
        response = self.get_response(request)
        try:
            if _worth_retrying(response.status_code):
                idempotency_record_release(record=record)
            else:
                idempotency_record_complete(
                    record=record,
                    status=response.status_code,
                    headers=_stored_headers(response),
                    body=_stored_body(response),
                )
        except DatabaseError:
            # The view's work is done: answer the client; its retries see "in progress" until
            # LOCK_TIMEOUT, then run again.
            log.exception("idempotency_record_not_saved", record_id=str(record.pk))
        return response


def _key_required(request: HttpRequest) -> bool:
    required = settings.IDEMPOTENCY_REQUIRED_FOR
    if not required:
        return False
    try:
        match = resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return match.view_name in required


def _worth_retrying(status: int) -> bool:
    return status >= 500 or status in UNSTORED_STATUSES


def _stored_headers(response: HttpResponseBase) -> dict[str, str]:
    return {name: response[name] for name in STORED_HEADERS if response.has_header(name)}


def _stored_body(response: HttpResponseBase) -> bytes | None:
    if not isinstance(response, HttpResponse):  # streaming: the body cannot be kept
        return None
    if len(response.content) > MAX_STORED_BODY_BYTES:
        return None
    return response.content


def _replay(record: IdempotencyRecord) -> HttpResponse:
    body = record.response_body
    response = HttpResponse(
        bytes(body) if body is not None else b"", status=record.response_status or 200
    )
    if body is None:
        del response["Content-Type"]
    for name, value in record.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response
