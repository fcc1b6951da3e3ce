from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


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
