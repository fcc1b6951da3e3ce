"""Security headers on every kind of response: API, admin, API docs, errors, health checks."""

import http.client
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.clickjacking import xframe_options_exempt

from emporium.core import security

pytestmark = pytest.mark.django_db

STRICT = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
ORIGIN = "https://shop.example.com"

PAGES = [
    # path, expected status, expected CSP, carries CORP
    ("/api/v1/", 200, STRICT, True),
    ("/api/v1/no-such-thing/", 404, STRICT, True),
    ("/admin/login/", 200, security.ADMIN_CSP, False),
    ("/api/docs/", 200, security.SWAGGER_UI_CSP, True),
    ("/api/redoc/", 200, security.REDOC_CSP, True),
    ("/health/live", 200, STRICT, False),
    ("/robots.txt", 200, STRICT, False),
]


def _directives(policy):
    """A CSP value -> {directive: [sources]}."""
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"directive {name} appears twice"
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize(("url", "status", "csp", "corp"), PAGES)
def test_every_response_carries_the_security_headers(client, url, status, csp, corp):
    response = client.get(url)

    assert response.status_code == status
    assert response["Content-Security-Policy"] == csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    permissions = response["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "interest-cohort"):
        assert f"{feature}=()" in permissions
    if corp:
        assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    else:
        assert "Cross-Origin-Resource-Policy" not in response
    assert "Strict-Transport-Security" not in response  # HSTS is off in the test profile


@pytest.mark.parametrize("url", ["/api/v1/", "/admin/login/", "/health/live", "/api/redoc/"])
def test_documents_are_isolated_from_cross_origin_openers(client, url):
    assert client.get(url)["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize(("url", "status", "csp", "corp"), PAGES)
def test_every_policy_forbids_framing_and_base_and_defaults_to_none(client, url, status, csp, corp):
    directives = _directives(client.get(url)["Content-Security-Policy"])

    assert directives["default-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    for sources in directives.values():
        assert "'unsafe-eval'" not in sources
        assert not any(source.startswith(("http:", "https:")) for source in sources)
    assert "'unsafe-inline'" not in directives.get("script-src", [])


def test_docs_and_admin_run_only_scripts_from_this_origin(client):
    for url in ("/api/docs/", "/api/redoc/", "/admin/login/"):
        directives = _directives(client.get(url)["Content-Security-Policy"])
        assert directives["script-src"] == ["'self'"], url
        assert directives["connect-src"] == ["'self'"], url


def test_redoc_may_start_its_worker_from_a_blob(client):
    directives = _directives(client.get("/api/redoc/")["Content-Security-Policy"])

    assert directives["worker-src"] == ["blob:"]


def test_admin_forms_post_to_the_site_itself_and_api_forms_nowhere(client):
    assert _directives(client.get("/admin/login/")["Content-Security-Policy"])["form-action"] == [
        "'self'"
    ]
    assert _directives(client.get("/api/v1/")["Content-Security-Policy"])["form-action"] == [
        "'none'"
    ]


def test_error_raised_before_the_view_still_gets_the_headers(client):
    # The tenant middleware answers an unknown shop itself, before any view runs.
    response = client.get("/api/v1/", HTTP_X_TENANT="no-such-shop")

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"
    assert response["Content-Security-Policy"] == STRICT
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_cors_preflight_answered_before_django_security_middleware_has_the_same_values(
    client, settings
):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    preflight = client.options(
        "/api/v1/", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    regular = client.get("/api/v1/", HTTP_ORIGIN=ORIGIN)

    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == ORIGIN
    for header in (
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Cross-Origin-Opener-Policy",
        "Cross-Origin-Resource-Policy",
        "X-Frame-Options",
        "Permissions-Policy",
    ):
        assert preflight[header] == regular[header], header


def test_hsts_is_sent_when_enabled_even_on_plain_http(client, settings):
    settings.HSTS_ENABLED = True
    settings.HSTS_SECONDS = 63_072_000
    settings.HSTS_PRELOAD = True

    for secure in (False, True):
        response = client.get("/api/v1/", secure=secure)
        assert response["Strict-Transport-Security"] == (
            "max-age=63072000; includeSubDomains; preload"
        )


def test_hsts_without_preload(client, settings):
    settings.HSTS_ENABLED = True
    settings.HSTS_SECONDS = 31_536_000
    settings.HSTS_PRELOAD = False

    response = client.get("/admin/login/", secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_is_off_when_disabled_also_on_https(client, settings):
    settings.HSTS_ENABLED = False

    assert "Strict-Transport-Security" not in client.get("/api/v1/", secure=True)


def test_django_security_middleware_agrees_with_these_headers():
    """Django's SecurityMiddleware sets some of the same headers first; one value must result."""
    assert django_settings.SECURE_REFERRER_POLICY == security.REFERRER_POLICY
    assert django_settings.SECURE_CROSS_ORIGIN_OPENER_POLICY == security.CROSS_ORIGIN_OPENER_POLICY
    assert django_settings.SECURE_CONTENT_TYPE_NOSNIFF is True
    assert django_settings.X_FRAME_OPTIONS == "DENY"
    # HSTS comes from HSTS_* only; Django's own would differ on plain-HTTP requests.
    assert django_settings.SECURE_HSTS_SECONDS == 0


# --- Headers a view sets itself are kept ------------------------------------------------------
def _own_headers(request):
    response = HttpResponse("embeddable widget")
    response["Content-Security-Policy"] = "default-src 'self'; frame-ancestors https://partner.test"
    response["Referrer-Policy"] = "no-referrer"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@xframe_options_exempt
def _frameable(request):
    return HttpResponse("frameable")


urlpatterns = [
    path("api/own-headers/", _own_headers),
    path("frameable/", _frameable),
]


def test_headers_a_view_sets_deliberately_are_kept(client, settings):
    settings.ROOT_URLCONF = __name__

    response = client.get("/api/own-headers/")

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == (
        "default-src 'self'; frame-ancestors https://partner.test"
    )
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response["X-Content-Type-Options"] == "nosniff"  # the others are still added


def test_xframe_options_exempt_view_gets_no_x_frame_options_but_keeps_frame_ancestors(
    client, settings
):
    settings.ROOT_URLCONF = __name__

    response = client.get("/frameable/")

    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert response["Content-Security-Policy"] == STRICT


def test_debug_error_pages_keep_their_inline_styles(client, settings):
    settings.DEBUG = True

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" not in response
    assert response["X-Content-Type-Options"] == "nosniff"


def test_error_pages_get_the_strict_policy_without_debug(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Security-Policy"] == STRICT


# --- On the wire --------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_each_header_is_sent_once_on_the_wire(live_server):
    """Two middlewares may set the same header; the socket must carry one line of each."""
    address = urlsplit(live_server.url)
    for url in ("/api/v1/", "/admin/login/", "/api/docs/", "/api/v1/no-such-thing/"):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        try:
            connection.request("GET", url)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        headers = [
            "Content-Security-Policy",
            "X-Content-Type-Options",
            "Referrer-Policy",
            "Permissions-Policy",
            "Cross-Origin-Opener-Policy",
            "X-Frame-Options",
        ]
        if url.startswith("/api/"):
            headers.append("Cross-Origin-Resource-Policy")
        for header in headers:
            assert len(response.headers.get_all(header) or []) == 1, (url, header)
