"""Tenants: each shop on the platform, and the host names that reach it."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower

from emporium.core.models import BaseModel

# The tenant that exists from the first migration, so a single store needs no setup. Its id is
# fixed so command-line tools can act as it without a database lookup.
DEFAULT_TENANT_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
DEFAULT_TENANT_SLUG = "default"


class Tenant(BaseModel):
    """A shop. Every tenant-owned row points at one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=63, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_TENANT_ID


class TenantDomain(BaseModel):
    """A host name (no port) that resolves to a tenant, e.g. `shop.example.com`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(Lower("domain"), name="tenants_domain_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: object, **kwargs: object) -> None:
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)  # type: ignore[arg-type]
