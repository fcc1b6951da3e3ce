"""Reads for tenants."""

from __future__ import annotations

from emporium.tenants.models import DEFAULT_TENANT_ID, Tenant


def tenant_get_by_host(*, host: str) -> Tenant | None:
    """The active tenant that owns `host` (a host name without port), if any."""
    return (
        Tenant.objects.filter(domains__domain=host.strip().lower().rstrip("."), is_active=True)
        .only("id", "slug", "name")
        .first()
    )


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    """The active tenant with `slug`, if any."""
    return Tenant.objects.filter(slug=slug, is_active=True).only("id", "slug", "name").first()


def tenant_get_default() -> Tenant:
    """The platform's default tenant (created by the first migration)."""
    return Tenant.objects.only("id", "slug", "name").get(id=DEFAULT_TENANT_ID)
