"""A real Celery worker process, fed through the configured broker (RabbitMQ in CI, the
file-system transport locally): tenant and correlation id travel with the task, and the default
retry policy retries a transient failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from emporium.core.context import request_id_context, tenant_context
from emporium.core.tasks import ping, ping_cache_key
from tests.factories import TenantFactory
from tests.testapp.tasks import flaky_ping

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    """The test database, so the worker shares the cache table when the cache is embedded."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--queues",
                queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield queue, log_path
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _wait_for(key: str, log_path: Path, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cache.get(key)
        if value is not None:
            return value
        time.sleep(0.25)
    pytest.fail(f"the worker did not run the task in {timeout}s; log:\n{log_path.read_text()}")


def _log_events(log_path: Path) -> list[dict]:
    events = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_task_runs_in_a_worker_with_tenant_and_request_id(worker):
    queue, log_path = worker
    tenant = TenantFactory()
    token = uuid.uuid4().hex
    with tenant_context(tenant.id), request_id_context("req-to-worker-42"):
        ping.apply_async(args=[token], queue=queue)
    seen = _wait_for(ping_cache_key(token), log_path)
    assert seen["pid"] != os.getpid()
    assert seen["tenant_id"] == str(tenant.id)
    assert seen["request_id"] == "req-to-worker-42"
    # The worker's log line for the task carries both ids.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [e for e in _log_events(log_path) if e.get("token") == token]
        if lines:
            break
        time.sleep(0.2)
    assert lines, log_path.read_text()
    assert lines[0]["request_id"] == "req-to-worker-42"
    assert lines[0]["tenant_id"] == str(tenant.id)


def test_transient_failure_is_retried_with_backoff(worker):
    queue, log_path = worker
    token = uuid.uuid4().hex
    flaky_ping.apply_async(args=[token, 1], queue=queue)
    seen = _wait_for(ping_cache_key(token), log_path)
    assert seen["pid"] != os.getpid()
    assert cache.get(f"{ping_cache_key(token)}:attempts") == 2


def test_broker_is_the_configured_one():
    """CI runs with BROKER_URL (RabbitMQ); locally the embedded transport is used."""
    expected = os.environ.get("BROKER_URL") or "filesystem://localhost/"
    assert expected == settings.CELERY_BROKER_URL
