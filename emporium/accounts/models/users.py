"""Users: customers and staff of a tenant, identified by email (unique per tenant)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

from emporium.core.context import require_current_tenant_id
from emporium.core.models import ScopedManager, TenantOwnedModel


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
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin site.")
    is_active = models.BooleanField(default=True)

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
        ]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email
