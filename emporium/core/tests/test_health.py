"""Health endpoints: dependencies up, each one down, liveness and readiness."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from emporium.core.health import DEPENDENCY_CHECKS

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_all_up(client):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "up"
    assert body["down"] == []
    # MongoDB is checked too where the process started with it configured (reviews).
    assert set(body["checks"]) == set(DEPENDENCY_CHECKS)
    assert {"database", "cache", "broker"} <= set(body["checks"])
    assert all(check["status"] == "up" for check in body["checks"].values())
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_cache_unreachable_is_named(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["down"] == ["cache"]
    assert body["checks"]["cache"]["error"].startswith("ConnectionError")
    assert body["checks"]["database"]["status"] == "up"
    assert client.get("/health/live").status_code == 200


@pytest.mark.django_db
def test_broker_unreachable_is_named(client, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]


def _health_in_subprocess(tmp_path, database_url):
    """Run the app in a fresh process whose database is unreachable."""
    script = (
        "import json, django; django.setup();"
        "from django.test import Client; c = Client(HTTP_HOST='localhost');"
        "r = c.get('/health/'); l = c.get('/health/live'); d = c.get('/health/ready');"
        "print(json.dumps({'health': [r.status_code, r.json()], 'live': l.status_code,"
        " 'ready': [d.status_code, d.json()]}))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "EMPORIUM_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "CRITICAL",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql://app:app@127.0.0.1:1/app",
        "sqlite:////nonexistent-directory/emporium.sqlite3",
    ],
)
def test_database_unreachable_is_named_and_liveness_stays_up(tmp_path, database_url):
    report = _health_in_subprocess(tmp_path, database_url)
    status, body = report["health"]
    assert status == 503
    assert "database" in body["down"]
    assert body["checks"]["database"]["status"] == "down"
    assert report["live"] == 200
    assert report["ready"][0] == 503


@pytest.mark.django_db
def test_ready_when_migrated(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["migrations"]["status"] == "up"


@pytest.mark.django_db
def test_not_ready_with_unapplied_migrations(client):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'testapp'")
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["migrations"]
    assert "unapplied" in body["checks"]["migrations"]["error"]
    assert client.get("/health/").status_code == 200


@pytest.mark.django_db
def test_health_needs_no_tenant_and_rejects_writes(client):
    assert client.get("/health/", HTTP_X_TENANT="does-not-exist").status_code == 200
    assert client.post("/health/").status_code == 405
