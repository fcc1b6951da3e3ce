"""Dependency checks behind /health/ and the readiness probe."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from kombu import Connection

from emporium.core.ids import uuid7
from emporium.core.logging import get_logger
from emporium.core.mongo import mongo_ping

log = get_logger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    duration_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "status": "up" if self.ok else "down",
            "duration_ms": self.duration_ms,
        }
        if self.error:
            data["error"] = self.error
        return data


def check_database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    cache = caches["default"]
    key = f"health:{uuid7().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written to the cache could not be read back")
    cache.delete(key)


def check_broker() -> None:
    url: str = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        if not folder.is_dir():
            raise RuntimeError("broker folder is missing")
        return
    with Connection(url, connect_timeout=3) as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


def check_migrations() -> None:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} unapplied migration(s)")


def check_mongodb() -> None:
    mongo_ping()


def dependency_checks() -> dict[str, Callable[[], None]]:
    """The checks of every configured dependency; MongoDB only when `MONGODB_URI` is set
    (`make run` and deployments set it; tests and tools without it never touch MongoDB)."""
    checks: dict[str, Callable[[], None]] = {
        "database": check_database,
        "cache": check_cache,
        "broker": check_broker,
    }
    if settings.MONGODB_URI:
        checks["mongodb"] = check_mongodb
    return checks


DEPENDENCY_CHECKS: dict[str, Callable[[], None]] = dependency_checks()


def run_checks(checks: dict[str, Callable[[], None]]) -> list[CheckResult]:
    """Run each check, timing it; failures are reported, never raised."""
    results = []
    for name, check in checks.items():
        started = time.perf_counter()
        error = None
        try:
            check()
        except Exception as exc:  # a health check reports every failure rather than raising
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning("health_check_failed", component=name, error=error)
        results.append(
            CheckResult(
                name, error is None, round((time.perf_counter() - started) * 1000, 2), error
            )
        )
    return results
