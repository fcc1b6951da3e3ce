"""Fixtures shared by every test suite."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from emporium.core.context import tenant_context
from emporium.tenants.models import DEFAULT_TENANT_ID

REQUIRE_SERVICES = os.environ.get("EMPORIUM_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def service_unavailable(what: str) -> NoReturn:
    """Skip when a service is missing locally; fail when CI said the services must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (EMPORIUM_REQUIRE_SERVICES=1) but unavailable")
    pytest.skip(f"{what} is not available")


@pytest.fixture(autouse=True)
def _fresh_redis_cache() -> None:
    """Counters in Redis (rate limits, lockouts) outlive a test; the database cache rolls back
    with the test's transaction by itself."""
    from django.conf import settings
    from django.core.cache import cache

    if str(settings.CACHES["default"]["BACKEND"]).endswith("RedisCache"):
        cache.clear()


@pytest.fixture
def unreachable_cache(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default cache on a Redis server nobody listens on (connections refused at once)."""
    from emporium.core import cache_backends

    with socket.socket() as probe:  # a free port, closed again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "emporium.core.cache_backends.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    monkeypatch.setattr(cache_backends, "_unavailable_until", 0.0)


@pytest.fixture(autouse=True)
def _default_tenant() -> Iterator[None]:
    """Tests act as the default tenant unless they switch tenant themselves."""
    with tenant_context(DEFAULT_TENANT_ID):
        yield


TEST_PASSWORD = "a-long-and-unusual-passphrase-42"  # noqa: S105 (test users only)


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    """Create a verified user of the current tenant: `make_user(email=..., **fields)`."""
    from django.utils import timezone

    from emporium.accounts.models import User

    def make(email: str = "ada@example.com", password: str = TEST_PASSWORD, **fields: Any) -> User:
        fields.setdefault("email_verified_at", timezone.now())
        return User.objects.create_user(email, password, **fields)

    return make


@pytest.fixture
def bearer() -> Callable[[Any], dict[str, str]]:
    """Headers for the test client carrying an access token: `client.get(url, **bearer(user))`."""
    from emporium.accounts.api.auth import tokens_for

    def header(user: Any) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {tokens_for(user)['access']}"}

    return header
