"""Create the default tenant so a single store works without any setup."""

import uuid

from django.db import migrations
from django.utils import timezone

DEFAULT_TENANT_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
LOCAL_DOMAINS = ("localhost", "127.0.0.1")


def create_default_tenant(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    TenantDomain = apps.get_model("tenants", "TenantDomain")
    now = timezone.now()
    tenant, _ = Tenant.objects.get_or_create(
        id=DEFAULT_TENANT_ID,
        defaults={"name": "Default shop", "slug": "default", "created_at": now},
    )
    for position, domain in enumerate(LOCAL_DOMAINS):
        TenantDomain.objects.get_or_create(
            domain=domain,
            defaults={
                "id": uuid.UUID(int=DEFAULT_TENANT_ID.int + position + 1),
                "tenant": tenant,
                "is_primary": position == 0,
                "created_at": now,
            },
        )


def remove_default_tenant(apps, schema_editor):
    apps.get_model("tenants", "Tenant").objects.filter(id=DEFAULT_TENANT_ID).delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [migrations.RunPython(create_default_tenant, remove_default_tenant)]
