"""CORS for browser clients on other origins (storefronts, partner apps): which origins may read
API responses, which request headers they may send, and what they can see."""

import pytest

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example.com"
PARTNER = "https://acme.partners.example.com"
EXPOSED = [
    "X-Request-ID",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "ETag",
    "Idempotent-Replayed",
]


@pytest.fixture(autouse=True)
def _cors(settings):
    settings.CORS_ALLOWED_ORIGINS = [SHOP]
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://[a-z0-9-]+\.partners\.example\.com$"]


def _list(value):
    return {item.strip().lower() for item in value.split(",")}


def _preflight(client, origin, *, method="POST", headers="content-type", url="/api/v1/"):
    return client.options(
        url,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


@pytest.mark.parametrize("origin", [SHOP, PARTNER])
def test_allowed_origin_may_read_the_response_and_its_api_headers(client, origin):
    response = client.get("/api/v1/", HTTP_ORIGIN=origin)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == origin
    assert {h.lower() for h in EXPOSED} <= _list(response["Access-Control-Expose-Headers"])
    assert "origin" in _list(response["Vary"])
    assert "Access-Control-Allow-Credentials" not in response


def test_cors_allowed_response_stays_readable_despite_corp_same_origin(client):
    # CORP only applies to no-cors loads; a CORS fetch is governed by Allow-Origin alone
    # (tests/test_docs_in_browser.py proves it in a browser).
    response = client.get("/api/v1/", HTTP_ORIGIN=SHOP)

    assert response["Access-Control-Allow-Origin"] == SHOP
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://shop.example.com",  # same host, other scheme
        "https://shop.example.com:8443",  # same host, other port
        "https://shop.example.com.evil.example",
        "https://acme.partners.example.com.evil.example",  # the regex is anchored
        "https://partners.example.com",
        "null",
    ],
)
def test_other_origins_get_no_cors_permission(client, origin):
    response = client.get("/api/v1/", HTTP_ORIGIN=origin)

    assert response.status_code == 200  # CORS is enforced by the browser, not the server
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Expose-Headers" not in response


def test_other_origin_preflight_is_not_approved(client):
    response = _preflight(client, "https://evil.example", headers="idempotency-key")

    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Methods" not in response
    assert "Access-Control-Allow-Headers" not in response


def test_preflight_allows_the_api_methods_and_request_headers(client):
    requested = "idempotency-key, authorization, content-type, x-request-id, accept-language"

    response = _preflight(client, SHOP, method="POST", headers=requested)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert {"get", "post", "put", "patch", "delete", "options"} <= _list(
        response["Access-Control-Allow-Methods"]
    )
    assert _list(requested) <= _list(response["Access-Control-Allow-Headers"])
    assert {"if-none-match", "if-match"} <= _list(response["Access-Control-Allow-Headers"])


def test_preflight_is_cached_for_a_day_by_default(client):
    response = _preflight(client, PARTNER)

    assert response["Access-Control-Max-Age"] == "86400"


def test_preflight_cache_time_is_configurable(client, settings):
    settings.CORS_PREFLIGHT_MAX_AGE = 600

    assert _preflight(client, SHOP)["Access-Control-Max-Age"] == "600"


def test_credentials_are_not_allowed_by_default(client):
    preflight = _preflight(client, SHOP)
    response = client.get("/api/v1/", HTTP_ORIGIN=SHOP)

    assert "Access-Control-Allow-Credentials" not in preflight
    assert "Access-Control-Allow-Credentials" not in response


def test_credentials_can_be_allowed(client, settings):
    settings.CORS_ALLOW_CREDENTIALS = True

    response = client.get("/api/v1/", HTTP_ORIGIN=SHOP)

    assert response["Access-Control-Allow-Credentials"] == "true"
    assert response["Access-Control-Allow-Origin"] == SHOP  # never "*" with credentials


@pytest.mark.parametrize("url", ["/admin/login/", "/health/live", "/robots.txt"])
def test_cors_only_applies_to_the_api(client, url):
    response = client.get(url, HTTP_ORIGIN=SHOP)

    assert "Access-Control-Allow-Origin" not in response


def test_errors_are_readable_cross_origin(client):
    response = client.get("/api/v1/no-such-thing/", HTTP_ORIGIN=SHOP)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response["Access-Control-Allow-Origin"] == SHOP


def test_request_id_is_exposed_and_echoed(client):
    response = client.get("/api/v1/", HTTP_ORIGIN=SHOP, HTTP_X_REQUEST_ID="storefront-req-0001")

    assert response["X-Request-ID"] == "storefront-req-0001"
    assert "x-request-id" in _list(response["Access-Control-Expose-Headers"])
