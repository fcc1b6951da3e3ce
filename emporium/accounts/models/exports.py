"""GDPR data exports: one JSON file per request, kept for the `exports` retention period."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from emporium.core.models import TenantOwnedModel

__all__ = ["DataExport"]


class DataExport(TenantOwnedModel):
    """A user's request for a copy of their data and, once built, where the file is stored."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    ACTIVE = (Status.PENDING, Status.RUNNING)

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file_path = models.CharField(max_length=255, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Set at creation and moved on when the file is ready: the retention purge deletes the row
    # and its file from then on, whatever the status (a stuck export does not live forever).
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=["pending", "running"]),
                name="accounts_dataexport_one_active_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"
