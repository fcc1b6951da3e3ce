"""Reads for tenants."""

from __future__ import annotations

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


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    """The active tenant with `slug`, if any."""
    return Tenant.objects.filter(slug=slug, is_active=True).only("id", "slug", "name").first()


def tenant_get_default() -> Tenant:
    """The platform's default tenant (created by the first migration)."""
    return Tenant.objects.only("id", "slug", "name").get(id=DEFAULT_TENANT_ID)
