"""API version lifecycle: deprecated versions announce themselves on every response."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

_VERSION_IN_PATH = re.compile(r"^/api/(v\d+)/")


def _timestamp(value: str) -> float:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def deprecation_headers(version: str) -> dict[str, str]:
    """Headers for a response of `version`: Deprecation (RFC 9745), Sunset (RFC 8594), Link."""
    lifecycle = settings.API_VERSIONS.get(version) or {}
    headers: dict[str, str] = {}
    deprecated_at = lifecycle.get("deprecated_at")
    if deprecated_at:
        headers["Deprecation"] = f"@{int(_timestamp(deprecated_at))}"
        headers["Link"] = (
            f'<{settings.API_CHANGELOG_PATH}>; rel="deprecation"; type="text/markdown"'
        )
    sunset_at = lifecycle.get("sunset_at")
    if sunset_at:
        headers["Sunset"] = http_date(_timestamp(sunset_at))
    return headers


class DeprecationHeadersMiddleware:
    """Adds the lifecycle headers of the version in the URL (`/api/v1/...`) to its responses."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = _VERSION_IN_PATH.match(request.path)
        if match:
            for name, value in deprecation_headers(match.group(1)).items():
                response.headers.setdefault(name, value)
        return response
