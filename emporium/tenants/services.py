"""Writes for tenants."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from emporium.tenants.models import DEFAULT_TENANT_ID, DEFAULT_TENANT_SLUG, Tenant, TenantDomain

LOCAL_DOMAINS = ("localhost", "127.0.0.1")


@transaction.atomic
def tenant_create(*, name: str, slug: str, domains: Iterable[str] = ()) -> Tenant:
    """Create a tenant and the host names that reach it (the first one is primary)."""
    tenant = Tenant(name=name, slug=slug)
    tenant.full_clean()
    tenant.save()
    for position, domain in enumerate(domains):
        TenantDomain.objects.create(tenant=tenant, domain=domain, is_primary=position == 0)
    return tenant


@transaction.atomic
def tenant_ensure_default(*, using: str = "default") -> Tenant:
    """Create the default tenant (answering on localhost) if it is missing; idempotent."""
    tenant, created = Tenant.objects.using(using).get_or_create(
        id=DEFAULT_TENANT_ID, defaults={"name": "Default shop", "slug": DEFAULT_TENANT_SLUG}
    )
    if created:
        for position, domain in enumerate(LOCAL_DOMAINS):
            TenantDomain.objects.using(using).get_or_create(
                domain=domain, defaults={"tenant": tenant, "is_primary": position == 0}
            )
    return tenant
