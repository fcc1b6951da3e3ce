"""Writes for tenants."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from emporium.tenants.models import Tenant, TenantDomain


@transaction.atomic
def tenant_create(*, name: str, slug: str, domains: Iterable[str] = ()) -> Tenant:
    """Create a tenant and the host names that reach it (the first one is primary)."""
    tenant = Tenant(name=name, slug=slug)
    tenant.full_clean()
    tenant.save()
    for position, domain in enumerate(domains):
        TenantDomain.objects.create(tenant=tenant, domain=domain, is_primary=position == 0)
    return tenant
