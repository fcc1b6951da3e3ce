"""Rate limits over HTTP: RateLimit-* headers, 429 rate_limited, separate counters, scopes."""

import ipaddress
import os
import threading
import uuid
import warnings
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from django.test import Client, RequestFactory
from django.urls import include, path
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from conftest import service_unavailable
from emporium.core import ratelimit
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

MIDDLEWARE_PATH = "emporium.core.ratelimit.RateLimitHeadersMiddleware"
# An hour boundary plus 5 s: every window (minute, hour) started 5 s ago.
WINDOW_START = 1_900_000_000 - 1_900_000_000 % 3600
START = WINDOW_START + 5
RATES = {
    "anon": "3/min",
    "user": "5/min",
    "login": "2/min",
    "signup": "5/hour",
    "password_reset": "5/hour",
    "review_create": "10/hour",
    "graphql": "120/min",
}


class LoginLikeView(APIView):
    permission_classes = [AllowAny]
    throttle_scope = "login"

    def post(self, request):
        if not request.data.get("email"):
            raise ValidationError({"email": ["This field is required."]})
        return Response({"ok": True})


class MissingView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise NotFound()


class PrivateView(APIView):
    def get(self, request):
        return Response({"user": str(request.user.pk)})


urlpatterns = [
    path("test-ratelimit/login/", LoginLikeView.as_view()),
    path("test-ratelimit/missing/", MissingView.as_view()),
    path("test-ratelimit/private/", PrivateView.as_view()),
    path("", include("config.urls")),
]


class Clock:
    def __init__(self):
        self.at = float(START)

    def advance(self, seconds):
        self.at += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    frozen = Clock()
    monkeypatch.setattr(ratelimit, "now", lambda: frozen.at)
    return frozen


def _with_unique_prefix(cache_settings):
    # Counters of other tests (and other runs sharing the Redis database) stay apart.
    return {**cache_settings, "KEY_PREFIX": f"ratelimit-test-{uuid.uuid4().hex}"}


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.RATE_LIMITS = dict(RATES)
    middleware = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    after = middleware.index("emporium.core.middleware.AccessLogMiddleware") + 1
    settings.MIDDLEWARE = [*middleware[:after], MIDDLEWARE_PATH, *middleware[after:]]
    settings.ROOT_URLCONF = __name__
    settings.CACHES = {"default": _with_unique_prefix(settings.CACHES["default"])}


def _limit_headers(response):
    return (
        response.get("RateLimit-Limit"),
        response.get("RateLimit-Remaining"),
        response.get("RateLimit-Reset"),
    )


def _make_user(email):
    return get_user_model().objects.create_user(email, "a-long-password-1")


def test_success_carries_the_headers(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    assert _limit_headers(response) == ("3", "2", "55")

    second = client.get("/api/v1/")
    assert _limit_headers(second) == ("3", "1", "55")


def test_errors_from_api_views_carry_the_headers(client):
    invalid = client.post("/test-ratelimit/login/", {}, content_type="application/json")
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "validation_error"
    # Both limits counted this request; login (2/min, 1 left) is the most restrictive.
    assert _limit_headers(invalid) == ("2", "1", "55")

    missing = client.get("/test-ratelimit/missing/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert _limit_headers(missing) == ("3", "1", "55")


def test_a_flood_gets_429_until_the_window_resets(client, clock):
    statuses = [client.get("/api/v1/").status_code for _ in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]

    clock.advance(10)
    refused = client.get("/api/v1/")
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429
    assert "45 seconds" in body["detail"]
    assert refused["Retry-After"] == "45"
    assert _limit_headers(refused) == ("3", "0", "45")

    clock.advance(45)  # the next minute's window
    recovered = client.get("/api/v1/")
    assert recovered.status_code == 200
    assert _limit_headers(recovered) == ("3", "2", "60")


def test_each_client_address_has_its_own_counter(client):
    for _ in range(3):
        assert client.get("/api/v1/", REMOTE_ADDR="192.0.2.1").status_code == 200
    assert client.get("/api/v1/", REMOTE_ADDR="192.0.2.1").status_code == 429

    other = client.get("/api/v1/", REMOTE_ADDR="192.0.2.2")
    assert other.status_code == 200
    assert _limit_headers(other) == ("3", "2", "55")


def test_clients_behind_a_trusted_proxy_are_told_apart(client, settings):
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    for _ in range(3):
        client.get("/api/v1/", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    limited = client.get("/api/v1/", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    assert limited.status_code == 429

    other = client.get("/api/v1/", HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy)
    assert other.status_code == 200


def test_each_user_has_its_own_counter_with_the_user_limit(client):
    alice, bob = _make_user("alice@example.com"), _make_user("bob@example.com")
    client.force_login(alice)
    statuses = [client.get("/test-ratelimit/private/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]

    other = Client()
    other.force_login(bob)
    response = other.get("/test-ratelimit/private/")  # same address, another user
    assert response.status_code == 200
    assert _limit_headers(response) == ("5", "4", "55")

    anonymous = Client().get("/api/v1/")  # the address's anonymous counter is separate too
    assert anonymous.status_code == 200
    assert _limit_headers(anonymous) == ("3", "2", "55")


def test_requests_refused_before_throttling_still_count(client):
    # DRF checks permissions before throttles: refused requests are counted by the middleware.
    statuses = []
    for _ in range(4):
        response = client.get("/test-ratelimit/private/")
        statuses.append(response.status_code)
        assert response.get("RateLimit-Limit") == "3"
    assert statuses == [401, 401, 401, 429]
    assert response.json()["code"] == "rate_limited"
    assert response["Retry-After"] == "55"
    assert response["Content-Type"] == "application/problem+json"


def test_each_shop_has_its_own_counters(client, settings):
    host_a, host_b = "a.ratelimit.test", "b.ratelimit.test"
    settings.ALLOWED_HOSTS = [host_a, host_b]
    TenantDomainFactory(domain=host_a)
    TenantDomainFactory(domain=host_b)

    for _ in range(3):
        assert client.get("/api/v1/", HTTP_HOST=host_a).status_code == 200
    assert client.get("/api/v1/", HTTP_HOST=host_a).status_code == 429

    shop_b = client.get("/api/v1/", HTTP_HOST=host_b)  # same address, another shop
    assert shop_b.status_code == 200
    assert _limit_headers(shop_b) == ("3", "2", "55")


def test_a_named_scope_is_stricter_than_the_default(client, settings):
    settings.RATE_LIMITS = {**RATES, "anon": "10/min"}
    attempts = [
        client.post("/test-ratelimit/login/", {"email": "a@example.com"}, "application/json")
        for _ in range(3)
    ]
    assert [r.status_code for r in attempts] == [200, 200, 429]
    assert [_limit_headers(r) for r in attempts] == [
        ("2", "1", "55"),
        ("2", "0", "55"),
        ("2", "0", "55"),
    ]
    assert attempts[2].json()["code"] == "rate_limited"
    assert attempts[2]["Retry-After"] == "55"

    # Other endpoints only count against the default limit, which these attempts also used.
    elsewhere = client.get("/api/v1/")
    assert elsewhere.status_code == 200
    assert _limit_headers(elsewhere) == ("10", "6", "55")


def test_health_docs_and_preflight_are_never_limited_nor_counted(client, settings):
    settings.RATE_LIMITS = {**RATES, "anon": "1/min"}
    for url in ("/health/live", "/api/docs/", "/api/redoc/"):
        for _ in range(3):
            response = client.get(url)
            assert response.status_code == 200, url
            assert "RateLimit-Limit" not in response, url
    for _ in range(2):
        schema = client.get("/api/schema/")
        assert schema.status_code != 429
        assert "RateLimit-Limit" not in schema
    for _ in range(3):
        preflight = client.options("/api/v1/")
        assert preflight.status_code != 429
        assert "RateLimit-Limit" not in preflight

    first = client.get("/api/v1/")
    assert first.status_code == 200
    assert _limit_headers(first) == ("1", "0", "55")
    assert client.get("/api/v1/").status_code == 429


def test_rate_limits_endpoint_lists_every_scope_and_counts_only_itself(client, settings):
    settings.RATE_LIMITS = {**RATES, "anon": "10/min"}
    for _ in range(2):
        client.post("/test-ratelimit/login/", {"email": "a@example.com"}, "application/json")

    response = client.get("/api/v1/rate-limits/")
    assert response.status_code == 200
    assert _limit_headers(response) == ("10", "7", "55")
    body = response.json()
    assert body["default_scope"] == "anon"
    scopes = {s["scope"]: s for s in body["scopes"]}
    assert set(scopes) == set(RATES)
    assert scopes["anon"] == {
        "scope": "anon",
        "limit": 10,
        "period_seconds": 60,
        "used": 3,  # two login attempts and this request
        "remaining": 7,
        "reset_seconds": 55,
        "reset_at": datetime.fromtimestamp(WINDOW_START + 60, tz=UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "applies_to_every_request": True,
    }
    assert (scopes["login"]["used"], scopes["login"]["remaining"]) == (2, 0)
    assert scopes["login"]["applies_to_every_request"] is False
    assert (scopes["signup"]["used"], scopes["signup"]["limit"]) == (0, 5)
    assert scopes["signup"]["reset_seconds"] == 3595
    assert scopes["user"]["used"] == 0

    again = client.get("/api/v1/rate-limits/").json()
    scopes = {s["scope"]: s for s in again["scopes"]}
    assert scopes["anon"]["used"] == 4
    assert scopes["login"]["used"] == 2  # looking does not consume named scopes


def test_rate_limits_endpoint_for_a_signed_in_user(client):
    client.force_login(_make_user("carol@example.com"))
    body = client.get("/api/v1/rate-limits/").json()
    assert body["default_scope"] == "user"
    scopes = {s["scope"]: s for s in body["scopes"]}
    assert (scopes["user"]["used"], scopes["user"]["remaining"]) == (1, 4)
    assert scopes["anon"]["used"] == 0


def test_an_unknown_rate_is_a_configuration_error():
    with pytest.raises(ratelimit.ImproperlyConfigured):
        ratelimit.parse_rate("5/fortnight")
    assert ratelimit.parse_rate("7/hour") == ratelimit.Rate(limit=7, period=3600)


def _concurrent_hits(threads):
    """Every thread counts one request of the same caller at the same moment."""
    barrier = threading.Barrier(threads)
    results, errors = [], []

    def hit():
        request = RequestFactory().get("/api/v1/", REMOTE_ADDR="198.51.100.9")
        try:
            barrier.wait(timeout=30)
            results.append(ratelimit.apply_rate_limits(request)[0].used)
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=hit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    request = RequestFactory().get("/api/v1/", REMOTE_ADDR="198.51.100.9")
    return sorted(results), ratelimit.rate_limit_usage(request)[1]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "backend",
    # Ours counts in one MULTI round trip; any other cache falls back to add then incr.
    ["emporium.core.cache_backends.RedisCache", "django.core.cache.backends.redis.RedisCache"],
)
def test_concurrent_hits_on_redis_lose_no_update(settings, backend):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        service_unavailable("Redis (REDIS_URL)")
    settings.CACHES = {"default": _with_unique_prefix({"BACKEND": backend, "LOCATION": redis_url})}
    counts, windows = _concurrent_hits(24)
    assert counts == list(range(1, 25))
    assert {w.scope: w.used for w in windows}["anon"] == 24


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_on_the_database_cache_lose_no_update(settings):
    settings.CACHES = {
        "default": _with_unique_prefix(
            {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "emporium_cache",
            }
        )
    }
    call_command("createcachetable", verbosity=0)  # absent when the suite runs on Redis
    counts, windows = _concurrent_hits(12)
    assert counts == list(range(1, 13))
    assert {w.scope: w.used for w in windows}["anon"] == 12


@pytest.mark.services
def test_redis_cache_takes_any_key_without_warnings(settings):
    """Redis keys are binary-safe: the cache skips memcached's key rules (and their cost)."""
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        service_unavailable("Redis (REDIS_URL)")
    settings.CACHES = {
        "default": _with_unique_prefix(
            {"BACKEND": "emporium.core.cache_backends.RedisCache", "LOCATION": redis_url}
        )
    }
    from django.core.cache import caches

    cache = caches["default"]
    key = "a key with spaces, \u00e9 and " + "x" * 300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.set(key, 1)
        assert cache.get(key) == 1
        counts, found = cache.incr_counters_get_many([(key + ":n", 60)], [key])
    assert (counts, found) == ([1], {key: 1})


@pytest.mark.services
def test_a_scoped_request_counts_both_limits_in_one_round_trip_on_redis(settings, monkeypatch):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        service_unavailable("Redis (REDIS_URL)")
    settings.CACHES = {
        "default": _with_unique_prefix(
            {"BACKEND": "emporium.core.cache_backends.RedisCache", "LOCATION": redis_url}
        )
    }
    settings.RATE_LIMITS = {**RATES, "login": "5/min"}

    def one_at_a_time(*args, **kwargs):
        raise AssertionError("counted one counter at a time")

    monkeypatch.setattr(ratelimit, "_increment", one_at_a_time)
    for expected in (1, 2):
        request = RequestFactory().get("/api/v1/", REMOTE_ADDR="198.51.100.7")
        windows = ratelimit.apply_rate_limits(request, scope="login")
        assert [(w.scope, w.used) for w in windows] == [("anon", expected), ("login", expected)]
        # Counted once per request, however often the request is asked.
        assert ratelimit.apply_rate_limits(request, scope="login") == windows
