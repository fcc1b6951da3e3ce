from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


def _ensure_default_tenant(sender: AppConfig, using: str = "default", **_: Any) -> None:
    from emporium.tenants.services import tenant_ensure_default

    tenant_ensure_default(using=using)


class TenantsConfig(AppConfig):
    name = "emporium.tenants"
    label = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        # The first migration creates the default tenant; this restores it whenever the tables
        # are emptied and re-populated (`flush`, transactional tests), as Django does for
        # content types.
        post_migrate.connect(_ensure_default_tenant, sender=self)

        from emporium.tenants.models import Tenant, TenantDomain
        from emporium.tenants.selectors import tenant_cache_clear

        # Host resolution is remembered per process; a change made here applies at once
        # (other processes follow within TENANT_CACHE_SECONDS).
        for model in (Tenant, TenantDomain):
            post_save.connect(tenant_cache_clear, sender=model, dispatch_uid=f"{model}-cache")
            post_delete.connect(tenant_cache_clear, sender=model, dispatch_uid=f"{model}-del")
