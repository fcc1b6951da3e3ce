"""Which tenant management commands act as."""

from __future__ import annotations

import os
import uuid

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from emporium.tenants.models import DEFAULT_TENANT_ID


def command_tenant_id() -> uuid.UUID:
    """The tenant named by EMPORIUM_TENANT (slug), or the default tenant."""
    slug = os.environ.get("EMPORIUM_TENANT", "").strip()
    if not slug:
        return DEFAULT_TENANT_ID
    from emporium.tenants.selectors import tenant_get_by_slug

    try:
        tenant = tenant_get_by_slug(slug=slug)
    except DatabaseError as exc:
        raise ImproperlyConfigured(f"EMPORIUM_TENANT={slug}: cannot look it up: {exc}") from exc
    if tenant is None:
        raise ImproperlyConfigured(f"EMPORIUM_TENANT={slug}: no active tenant has this slug")
    return tenant.id
