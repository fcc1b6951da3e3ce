"""Health endpoints: /health/ (dependencies), /health/live (process), /health/ready (traffic)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from emporium.core.health import DEPENDENCY_CHECKS, check_migrations, run_checks


def _report(checks: dict[str, Callable[[], None]]) -> JsonResponse:
    results = run_checks(checks)
    down = [r.name for r in results if not r.ok]
    body = {
        "status": "down" if down else "up",
        "down": down,
        "checks": {r.name: r.as_dict() for r in results},
    }
    return JsonResponse(body, status=503 if down else 200)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Every dependency (database, cache, broker): 200 when all are up, 503 naming what is down."""
    return _report(dict(DEPENDENCY_CHECKS))


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No dependency is checked, so a slow database never
    makes Kubernetes restart healthy pods."""
    return JsonResponse({"status": "up"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: dependencies reachable and every migration applied."""
    return _report({**DEPENDENCY_CHECKS, "migrations": check_migrations})
