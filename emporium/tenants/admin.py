from django.contrib import admin
from django.http import HttpRequest

from emporium.tenants.models import DEFAULT_TENANT_ID, Tenant, TenantDomain


class TenantDomainInline(admin.TabularInline[TenantDomain, Tenant]):
    model = TenantDomain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    """Platform administration: only superusers of the default tenant manage tenants."""

    list_display = ["name", "slug", "is_active", "created_at"]
    search_fields = ["name", "slug", "domains__domain"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TenantDomainInline]

    def has_module_permission(self, request: HttpRequest) -> bool:
        tenant = getattr(request, "tenant", None)
        return bool(
            request.user.is_active
            and request.user.is_superuser
            and tenant is not None
            and tenant.id == DEFAULT_TENANT_ID
        )

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
