"""Request-wide middleware: correlation ids and the access log."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeGuard

from django.http import HttpRequest, HttpResponse

from emporium.core.context import request_id_context
from emporium.core.ids import uuid7
from emporium.core.logging import get_logger

REQUEST_ID_HEADER = "X-Request-ID"
# Accept what load balancers and clients commonly send (UUIDs, hex, base64url tokens); anything
# else is replaced, so log lines and headers never carry attacker-chosen text.
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")
QUIET_PATH_PREFIXES = ("/health/", "/static/")

access_log = get_logger("emporium.access")


def well_formed_request_id(value: str | None) -> TypeGuard[str]:
    return value is not None and _WELL_FORMED.match(value) is not None


class RequestIDMiddleware:
    """Accept a well-formed `X-Request-ID` or make one; echo it and bind it to the context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = incoming if well_formed_request_id(incoming) else uuid7().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        with request_id_context(request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class AccessLogMiddleware:
    """One log line per request: method, path (no query string: it may carry PII), status, time.

    Health checks and static files are logged at DEBUG on success so probes do not flood logs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        quiet = request.path.startswith(QUIET_PATH_PREFIXES) and response.status_code < 400
        log = access_log.debug if quiet else access_log.info
        log(
            "http_request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=duration_ms,
        )
        return response
