from django.contrib import admin

from emporium.core.admin import PlatformAdminOnly
from emporium.tenants.models import Tenant, TenantDomain


class TenantDomainInline(admin.TabularInline[TenantDomain, Tenant]):
    model = TenantDomain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(PlatformAdminOnly):
    """Platform administration: only superusers of the default tenant manage tenants."""

    list_display = ["name", "slug", "is_active", "created_at"]
    search_fields = ["name", "slug", "domains__domain"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TenantDomainInline]
