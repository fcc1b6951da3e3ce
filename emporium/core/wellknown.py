"""Plain-text files crawlers and security researchers look for: /robots.txt and
/.well-known/security.txt (RFC 9116)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from emporium.core.errors import problem_response

CONTENT_TYPE = "text/plain; charset=utf-8"
CACHE_CONTROL = "public, max-age=86400"
SAFE_METHODS = ("GET", "HEAD")
# Machine interfaces and the back office: nothing there for a search index.
ROBOTS_DISALLOWED = ("/api/", "/admin/", "/graphql")

View = Callable[[HttpRequest], HttpResponse]


def _get_or_head_only(view: View) -> View:
    """Answer other methods with a 405 problem naming the allowed ones.

    CSRF-exempt so that a POST gets that 405 rather than a CSRF failure: these views only read.
    """

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in SAFE_METHODS:
            response = problem_response(
                request,
                status=405,
                code="method_not_allowed",
                detail=_("Method %(method)s is not allowed here.") % {"method": request.method},
            )
            response["Allow"] = ", ".join(SAFE_METHODS)
            return response
        return view(request)

    return wrapper


def _text_response(lines: list[str]) -> HttpResponse:
    response = HttpResponse("\n".join(lines) + "\n", content_type=CONTENT_TYPE)
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _https_url(request: HttpRequest, location: str) -> str:
    """An absolute https:// URL on the request's host (TLS ends at a proxy in production)."""
    url = request.build_absolute_uri(location)
    if url.startswith("http://"):
        url = "https://" + url.removeprefix("http://")
    return url


@_get_or_head_only
def robots_txt(request: HttpRequest) -> HttpResponse:
    """Keep crawlers out of the API and the admin; point them at the sitemap when there is one."""
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in ROBOTS_DISALLOWED)]
    sitemap_url: str | None = settings.SITEMAP_URL
    if sitemap_url:
        # The sitemaps protocol wants an absolute URL; a path is taken relative to this host.
        lines.append(f"Sitemap: {_https_url(request, sitemap_url)}")
    return _text_response(lines)


@_get_or_head_only
def security_txt(request: HttpRequest) -> HttpResponse:
    """Where to report vulnerabilities (RFC 9116), from settings.SECURITY_TXT.

    Expires is recomputed on every request (now + expires_days), so the file never goes stale;
    RFC 9116 recommends less than a year, which the environment loader enforces.
    """
    config: dict[str, Any] = settings.SECURITY_TXT
    expires = timezone.now() + timedelta(days=config["expires_days"])
    lines = [
        f"Contact: {config['contact']}",
        f"Expires: {expires.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
    ]
    if config.get("preferred_languages"):
        lines.append(f"Preferred-Languages: {config['preferred_languages']}")
    lines.append(f"Canonical: {_https_url(request, request.path)}")
    if config.get("policy"):
        lines.append(f"Policy: {config['policy']}")
    return _text_response(lines)
