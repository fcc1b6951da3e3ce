"""Reads for tenants."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.models import Q

from emporium.tenants.models import DEFAULT_TENANT_ID, Tenant


def tenant_get_by_host(*, host: str, fall_back_to_default: bool = False) -> Tenant | None:
    """The active tenant that owns `host` (a host name without port), else the default tenant
    when `fall_back_to_default`; one query either way (it runs on every request)."""
    owns_host = Q(domains__domain=host.strip().lower().rstrip("."), is_active=True)
    wanted = owns_host | Q(id=DEFAULT_TENANT_ID) if fall_back_to_default else owns_host
    candidates = list(Tenant.objects.filter(wanted).distinct().only("id", "slug", "name")[:2])
    # Only the host can match a tenant other than the default one, so it wins.
    return next((t for t in candidates if t.id != DEFAULT_TENANT_ID), None) or next(
        iter(candidates), None
    )


# (host, fall_back_to_default) -> (tenant or None, monotonic expiry); per process.
_by_host: dict[tuple[str, bool], tuple[Tenant | None, float]] = {}
_BY_HOST_MAX_ENTRIES = 4096


def tenant_get_by_host_cached(*, host: str, fall_back_to_default: bool = False) -> Tenant | None:
    """`tenant_get_by_host`, remembered for TENANT_CACHE_SECONDS in this process (the lookup
    runs on every request). Tenant and domain writes clear it (`tenant_cache_clear`)."""
    ttl = settings.TENANT_CACHE_SECONDS
    if not ttl:
        return tenant_get_by_host(host=host, fall_back_to_default=fall_back_to_default)
    key = (host, fall_back_to_default)
    now = time.monotonic()
    known = _by_host.get(key)
    if known is not None and known[1] > now:
        return known[0]
    tenant = tenant_get_by_host(host=host, fall_back_to_default=fall_back_to_default)
    if len(_by_host) >= _BY_HOST_MAX_ENTRIES:  # many distinct Host headers: start over
        _by_host.clear()
    _by_host[key] = (tenant, now + ttl)
    return tenant


def tenant_cache_clear(**_: Any) -> None:
    """Forget every remembered host (connected to tenant and domain saves and deletes)."""
    _by_host.clear()


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    """The active tenant with `slug`, if any."""
    return Tenant.objects.filter(slug=slug, is_active=True).only("id", "slug", "name").first()


def tenant_get_default() -> Tenant:
    """The platform's default tenant (created by the first migration)."""
    return Tenant.objects.only("id", "slug", "name").get(id=DEFAULT_TENANT_ID)
