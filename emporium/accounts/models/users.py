"""Users: customers and staff of a tenant, identified by email (unique per tenant)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.cache import cache
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from emporium.core.context import require_current_tenant_id, tenant_context
from emporium.core.models import ScopedManager, TenantOwnedModel
from emporium.tenants.models import DEFAULT_TENANT_ID


class UserManager(BaseUserManager["User"]):
    """Users of the current tenant; emails compare case-insensitively."""

    def get_queryset(self) -> models.QuerySet[User]:
        return super().get_queryset().filter(tenant_id=require_current_tenant_id())

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(
            email=self.normalize_email(email), tenant_id=require_current_tenant_id(), **fields
        )
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(TenantOwnedModel, AbstractBaseUser, PermissionsMixin):
    """A person who signs in to one tenant's shop or its admin."""

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=16, blank=True, help_text="E.164, e.g. +4930123456.")
    locale = models.CharField(max_length=8, blank=True, choices=settings.LANGUAGES)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin site.")
    is_platform_staff = models.BooleanField(
        default=False,
        help_text="Platform staff: may sign in to every shop's admin site and staff API. Only for "
        "staff of the default shop.",
    )
    is_active = models.BooleanField(default=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Bumped on password change, pause and deletion: access tokens carry it and stop working
    # the moment it changes.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=500, blank=True)

    objects: ClassVar[UserManager] = UserManager()
    unscoped: ClassVar[Any] = ScopedManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("email"), name="accounts_user_email_per_tenant"
            ),
            models.CheckConstraint(
                condition=Q(is_platform_staff=False)
                | Q(is_staff=True, tenant_id=DEFAULT_TENANT_ID),
                name="accounts_user_platform_staff_of_default_shop",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.is_platform_staff and self.tenant_id is not None:
            # Platform staff act on other shops' hosts; their own row stays the default shop's.
            with tenant_context(self.tenant_id):
                super().save(*args, **kwargs)
        else:
            super().save(*args, **kwargs)
        # Authenticated requests read users from the cache: drop the entry now, and again once
        # the change is committed, in case a concurrent request cached the old row meanwhile.
        key = f"accounts:user:{self.pk}"
        cache.delete(key)
        transaction.on_commit(lambda: cache.delete(key), using=kwargs.get("using"))

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email

    @property
    def is_email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None
