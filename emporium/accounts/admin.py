from typing import cast

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from emporium.accounts import services_lifecycle
from emporium.accounts.models import ConsentRecord, User
from emporium.core.callers import client_ip
from emporium.core.errors import ApplicationError


class UserChangeFormByEmail(UserChangeForm[User]):
    class Meta:
        model = User
        fields = "__all__"


class UserCreationFormByEmail(AdminUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    form = UserChangeFormByEmail
    add_form = UserCreationFormByEmail
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    # Pause state changes go through the actions (which record who and revoke tokens).
    readonly_fields = ["last_login", "created_at", "paused_at", "pause_reason"]
    actions = ["pause_accounts", "reactivate_accounts"]
    list_filter = ["is_staff", "is_active", "email_verified_at", "paused_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "phone", "locale")}),
        ("Status", {"fields": ("email_verified_at", "paused_at", "pause_reason")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_platform_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Dates", {"fields": ("last_login", "created_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    @admin.action(description="Pause the selected accounts", permissions=["change"])
    def pause_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = cast(User, request.user)
        done = 0
        for user in queryset:
            try:
                services_lifecycle.user_pause(
                    user=user, actor=actor, reason="Paused in the admin site", ip=client_ip(request)
                )
            except ApplicationError as exc:
                self.message_user(request, f"{user.pk}: {exc.detail}", messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"{done} account(s) paused.", messages.SUCCESS)

    @admin.action(description="Reactivate the selected accounts", permissions=["change"])
    def reactivate_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = cast(User, request.user)
        done = 0
        for user in queryset.filter(paused_at__isnull=False):
            try:
                services_lifecycle.user_reactivate(user=user, actor=actor, ip=client_ip(request))
            except ApplicationError as exc:
                self.message_user(request, f"{user.pk}: {exc.detail}", messages.WARNING)
            else:
                done += 1
        self.message_user(request, f"{done} account(s) reactivated.", messages.SUCCESS)


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin[ConsentRecord]):
    """Consent history is evidence: read-only here, as in the API."""

    list_display = ["user", "purpose", "granted", "source", "policy_version", "created_at"]
    list_filter = ["purpose", "granted", "source"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    ordering = ["-created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
