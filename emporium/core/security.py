"""Security response headers: Content-Security-Policy, HSTS and the browser isolation headers.

Every response gets them, including error responses made by middleware further in (CORS
pre-flights, tenant errors, throttling) because this middleware sits near the top of MIDDLEWARE.
A header a view set deliberately is kept: each one is only added when the response lacks it.

Django's SecurityMiddleware, further in, also sets X-Content-Type-Options, Referrer-Policy and
Cross-Origin-Opener-Policy with the same "only if missing" rule. The values here equal its
settings (a test checks this), so a response carries one value whichever of the two set it.
Django's HSTS stays off (SECURE_HSTS_SECONDS = 0): HSTS is set here, from HSTS_* settings.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def _policy(**directives: str) -> str:
    """A CSP header value from keyword arguments (`script_src="'self'"` -> `script-src 'self'`)."""
    return "; ".join(f"{name.replace('_', '-')} {value}" for name, value in directives.items())


# APIs, robots.txt, health checks, static files...: nothing may load, frame or submit anything.
STRICT_CSP = _policy(
    default_src="'none'",
    frame_ancestors="'none'",
    base_uri="'none'",
    form_action="'none'",
)

# The Django admin: its scripts, styles and icons from /static/, autocomplete requests to itself,
# forms posting to itself. Django 5.2's admin templates have no inline scripts or styles.
ADMIN_CSP = _policy(
    default_src="'none'",
    script_src="'self'",
    style_src="'self'",
    img_src="'self'",
    connect_src="'self'",
    form_action="'self'",
    frame_ancestors="'none'",
    base_uri="'none'",
)

# Swagger UI, served by drf-spectacular's split view so that its start-up script is a file
# (/api/docs/?script=) instead of inline: scripts need no nonce or hash. The one inline <style>
# block of drf-spectacular's template is allowed by its hash (a drf-spectacular upgrade that
# changes it fails tests/test_docs_in_browser.py, whose output names the new hash). Icons are
# data: SVGs; the page fetches the schema and, with "Try it out", the API (connect-src 'self').
SWAGGER_UI_STYLE_HASH = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"
SWAGGER_UI_CSP = _policy(
    default_src="'none'",
    script_src="'self'",
    style_src=f"'self' {SWAGGER_UI_STYLE_HASH}",
    img_src="'self' data:",
    connect_src="'self'",
    form_action="'none'",
    frame_ancestors="'none'",
    base_uri="'none'",
)

# ReDoc: one script file from /static/; it parses the schema in a web worker started from a
# blob: URL (worker-src blob:) and uses data: SVG icons. Styles need 'unsafe-inline': its
# bundle injects <style> elements at run time (styled-components and bundled CSS), whose hashes
# would pin the policy to the bundle's exact bytes. Styles cannot run code; scripts stay 'self'.
# ReDoc's sidebar also shows a logo from cdn.redoc.ly: it is blocked on purpose (no third-party
# requests from our pages), and ReDoc hides the image when it fails to load.
REDOC_CSP = _policy(
    default_src="'none'",
    script_src="'self'",
    worker_src="blob:",
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data:",
    connect_src="'self'",
    form_action="'none'",
    frame_ancestors="'none'",
    base_uri="'none'",
)

# Path prefix -> policy, checked in order; everything else gets STRICT_CSP.
PAGE_POLICIES: tuple[tuple[str, str], ...] = (
    ("/admin/", ADMIN_CSP),
    ("/api/docs/", SWAGGER_UI_CSP),
    ("/api/redoc/", REDOC_CSP),
)

# Powerful features no page of this site uses; `()` denies them to every origin, this one too.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "interest-cohort",
        "local-fonts",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)

# Same as Django's SECURE_REFERRER_POLICY default. Stricter than strict-origin-when-cross-origin
# for what leaves the site (nothing: admin URLs hold object ids) and the same within it (the
# admin and Swagger UI keep full same-origin referrers). A separate no-referrer for the API
# would change nothing: Referrer-Policy governs requests a document makes, and JSON makes none.
REFERRER_POLICY = "same-origin"
CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# CORP only governs no-cors loads (<img>, <script>, fetch mode "no-cors") from other origins;
# CORS-mode fetches are checked against Access-Control-Allow-Origin instead (Fetch standard,
# "cross-origin resource policy check"). So `same-origin` stops other origins embedding API
# responses yet leaves CORS-allowed origins able to read them: neither `same-site` nor
# `cross-origin` is needed for CORS. Only the API gets it: a storefront on another origin may
# embed static and media files.
CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"
CORP_PATH_PREFIXES = ("/api/", "/graphql")


def content_security_policy(path: str) -> str:
    """The CSP for a request path (relative to the script prefix)."""
    for prefix, policy in PAGE_POLICIES:
        if path.startswith(prefix):
            return policy
    return STRICT_CSP


def strict_transport_security() -> str | None:
    """The HSTS value from settings, or None when HSTS is off."""
    if not settings.HSTS_ENABLED:
        return None
    value = f"max-age={settings.HSTS_SECONDS}; includeSubDomains"
    if settings.HSTS_PRELOAD:
        value += "; preload"
    return value


def _is_debug_error_page(response: HttpResponse) -> bool:
    """Django's DEBUG error pages need their inline styles and scripts; they exist in dev only."""
    return (
        settings.DEBUG
        and response.status_code >= 400
        and response.get("Content-Type", "").startswith("text/html")
    )


class SecurityHeadersMiddleware:
    """Add the security headers to every response, keeping any a view set itself.

    HSTS is sent whenever HSTS_ENABLED (staging and production), also on plain-HTTP requests:
    production terminates TLS at a proxy, so the scheme Django sees depends on proxy headers
    being configured, and a missed header must not silently drop HSTS. Browsers ignore HSTS
    received over plain HTTP (RFC 6797 section 8.1), so sending it there is harmless.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        headers = response.headers
        path = request.path_info
        if not _is_debug_error_page(response):
            headers.setdefault("Content-Security-Policy", content_security_policy(path))
        hsts = strict_transport_security()
        if hsts is not None:
            headers.setdefault("Strict-Transport-Security", hsts)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("Cross-Origin-Opener-Policy", CROSS_ORIGIN_OPENER_POLICY)
        # Mirrors XFrameOptionsMiddleware, which honours @xframe_options_exempt.
        if not getattr(response, "xframe_options_exempt", False):
            headers.setdefault("X-Frame-Options", "DENY")
        if path.startswith(CORP_PATH_PREFIXES):
            headers.setdefault("Cross-Origin-Resource-Policy", CROSS_ORIGIN_RESOURCE_POLICY)
        return response
