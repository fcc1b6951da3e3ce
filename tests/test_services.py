"""With EMPORIUM_REQUIRE_SERVICES=1 (CI) the suite must really run on PostgreSQL, Redis and the
broker named in the environment: these fail there instead of silently using embedded defaults."""

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection

from conftest import service_unavailable


@pytest.mark.django_db
def test_postgresql_when_configured():
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        service_unavailable("PostgreSQL (DATABASE_URL)")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert int(cursor.fetchone()[0].split(".")[0]) >= 13


def test_redis_cache_when_configured():
    if not os.environ.get("REDIS_URL"):
        service_unavailable("Redis (REDIS_URL)")
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    cache.set("services-check", 7, timeout=5)
    assert cache.incr("services-check") == 8


def test_broker_when_configured():
    url = os.environ.get("BROKER_URL")
    if not url:
        service_unavailable("a message broker (BROKER_URL)")
    with Connection(url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.connected
