"""Base models every domain builds on: UUIDv7 keys, timestamps, soft delete and tenancy.

Managers on tenant-owned models:
    objects      rows of the current tenant (soft-deleted rows hidden where applicable)
    all_objects  rows of the current tenant including soft-deleted ones (soft-delete models)
    unscoped     every row of every tenant: for migrations, system jobs and platform admin only
Related-object access uses Django's plain base manager, so an order line still reaches a product
that was soft-deleted later.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q, UniqueConstraint
from django.utils import timezone

from emporium.core.context import get_current_tenant_id, require_current_tenant_id
from emporium.core.ids import uuid7


class TenantMismatch(RuntimeError):
    """A row of one tenant was about to be saved while another tenant is in context."""


class BaseModel(models.Model):
    """UUIDv7 primary key plus creation and modification timestamps (UTC)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class SoftDeleteQuerySet(models.QuerySet[Any]):
    """`delete()` marks rows deleted; `hard_delete()` removes them; `restore()` undoes."""

    def delete(self) -> tuple[int, dict[str, int]]:
        now = timezone.now()
        count = self.filter(deleted_at__isnull=True).update(deleted_at=now, updated_at=now)
        return count, {self.model._meta.label: count}

    def hard_delete(self) -> tuple[int, dict[str, int]]:
        return super().delete()

    def restore(self) -> int:
        return self.filter(deleted_at__isnull=False).update(
            deleted_at=None, updated_at=timezone.now()
        )


class ScopedManager(models.Manager[Any]):
    """A manager that can scope rows to the current tenant and hide soft-deleted rows."""

    def __init__(self, *, tenant_scoped: bool = False, hide_deleted: bool = False) -> None:
        super().__init__()
        self.tenant_scoped = tenant_scoped
        self.hide_deleted = hide_deleted

    def get_queryset(self) -> models.QuerySet[Any]:
        queryset = super().get_queryset()
        if self.tenant_scoped:
            queryset = queryset.filter(tenant_id=require_current_tenant_id())
        if self.hide_deleted:
            queryset = queryset.filter(deleted_at__isnull=True)
        return queryset


class SoftDeleteManager(ScopedManager.from_queryset(SoftDeleteQuerySet)):  # type: ignore[misc]
    """ScopedManager whose querysets soft-delete."""


class SoftDeleteModel(BaseModel):
    """Rows are marked deleted instead of removed; `restore()` brings them back."""

    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[Any] = SoftDeleteManager(hide_deleted=True)
    all_objects: ClassVar[Any] = SoftDeleteManager()

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def delete(self, using: Any = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        """Soft delete: set `deleted_at` (related rows are left alone)."""
        if self.deleted_at is not None:
            return 0, {}
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])
        return 1, {self._meta.label: 1}

    def restore(self) -> None:
        """Undo a soft delete."""
        if self.deleted_at is None:
            return
        self.deleted_at = None
        self.save(update_fields=["deleted_at", "updated_at"])

    def hard_delete(self) -> tuple[int, dict[str, int]]:
        """Remove the row for good (cascades as configured on the foreign keys)."""
        return super().delete()


def unique_among_alive(*fields: str, name: str) -> UniqueConstraint:
    """A unique constraint that ignores soft-deleted rows, so a deleted slug can be reused."""
    return UniqueConstraint(fields=list(fields), condition=Q(deleted_at__isnull=True), name=name)


class TenantOwnedModel(BaseModel):
    """A row that belongs to one tenant; `objects` only ever sees the current tenant's rows."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.PROTECT, related_name="+", editable=False
    )

    objects: ClassVar[Any] = ScopedManager(tenant_scoped=True)
    unscoped: ClassVar[Any] = ScopedManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        current = get_current_tenant_id()
        if self.tenant_id is None:
            self.tenant_id = require_current_tenant_id()
        elif current is not None and self.tenant_id != current:
            raise TenantMismatch(f"{self._meta.label} {self.pk} belongs to another tenant")
        super().save(*args, **kwargs)


class TenantSoftDeleteModel(TenantOwnedModel, SoftDeleteModel):
    """Tenant-owned and soft-deletable (products, orders, carts...)."""

    objects: ClassVar[Any] = SoftDeleteManager(tenant_scoped=True, hide_deleted=True)
    all_objects: ClassVar[Any] = SoftDeleteManager(tenant_scoped=True)
    unscoped: ClassVar[Any] = SoftDeleteManager()

    class Meta:
        abstract = True


class IdempotencyRecord(BaseModel):
    """The outcome of one POST sent with an `Idempotency-Key`, kept to answer its retries.

    Not tenant-owned on purpose: `scope` (the caller key) already starts with the tenant, and the
    middleware and the hourly purge work outside any tenant's manager. `tenant_id` is for admins.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    scope = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    tenant_id = models.UUIDField(null=True, blank=True, editable=False)
    request_path = models.CharField(max_length=2000)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    expires_at = models.DateTimeField(db_index=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    # None on a completed record: the response was streamed or too large to keep.
    response_body = models.BinaryField(null=True, blank=True)

    class Meta:
        constraints = [
            UniqueConstraint(fields=["scope", "key"], name="core_idempotency_scope_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class OutboxEvent(TenantOwnedModel):
    """A domain event written in the same transaction as the change it announces.

    `core.relay_outbox` hands unpublished events to their handlers and marks them published;
    see emporium/core/outbox.py.
    """

    name = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            # The relay's scan: unpublished events, oldest first.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(published_at__isnull=True),
                name="core_outbox_unpublished",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.pk})"
