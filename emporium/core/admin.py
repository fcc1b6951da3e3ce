"""Admin for the core tables: idempotency records (read-only)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from emporium.core.models import IdempotencyRecord


def is_platform_admin(request: HttpRequest) -> bool:
    """An active superuser signed in on the default tenant's admin (platform staff)."""
    tenant = getattr(request, "tenant", None)
    return bool(
        request.user.is_active
        and request.user.is_superuser
        and getattr(tenant, "is_default", False)
    )


class PlatformAdminOnly(admin.ModelAdmin[Any]):
    """An admin for cross-tenant tables: platform staff only, read and change, never delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_platform_admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_platform_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_platform_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


_SHOWN_FIELDS: tuple[str, ...] = (
    "scope",
    "key",
    "tenant_id",
    "request_path",
    "fingerprint",
    "state",
    "response_status",
    "response_headers",
    "created_at",
    "expires_at",
)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(PlatformAdminOnly):
    """Read-only, for platform superusers: records span every tenant and name their callers.

    Response bodies are not shown (they may hold personal data).
    """

    list_display = ["key", "request_path", "state", "response_status", "created_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["key", "scope"]
    ordering = ["-created_at"]
    fields = readonly_fields = _SHOWN_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
