"""Reads for GDPR data exports."""

from __future__ import annotations

import uuid

from django.utils import timezone

from emporium.accounts.models import DataExport, User


def data_export_get_for_user(*, user: User, export_id: uuid.UUID) -> DataExport | None:
    """One of the user's exports that has not expired; None for anyone else's."""
    export: DataExport | None = DataExport.objects.filter(
        id=export_id, user_id=user.id, expires_at__gt=timezone.now()
    ).first()
    return export


def data_export_get_ready(*, export_id: uuid.UUID) -> DataExport | None:
    """The export of the current shop with this id if its file is ready and not expired."""
    export: DataExport | None = DataExport.objects.filter(
        id=export_id, status=DataExport.Status.READY, expires_at__gt=timezone.now()
    ).first()
    return export
