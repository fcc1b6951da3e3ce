"""Writes for GDPR data exports: request one, build its JSON file, sign its download link,
delete expired ones.

The document is assembled from `EXPORTERS`, one callable per top-level section. Domains built
later add their section from their AppConfig.ready, replacing the empty placeholder:

    from emporium.accounts.services_exports import exporter_register
    exporter_register(section="orders", exporter=orders_for_export)

An exporter receives the user (the user's tenant is in context) and returns JSON-serialisable
data (datetimes, UUIDs and Decimals are fine: DjangoJSONEncoder writes them).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from emporium.accounts import selectors_preferences, selectors_profile
from emporium.accounts.models import DataExport, User
from emporium.accounts.retention import retention_period
from emporium.core.context import tenant_context
from emporium.core.errors import ApplicationError
from emporium.core.logging import get_logger

log = get_logger(__name__)
security_log = get_logger("emporium.security")

FORMAT = "emporium.data-export/1"
DOWNLOAD_SALT = "emporium.accounts.exports.download"
DEFAULT_DOWNLOAD_MAX_AGE = timedelta(minutes=15)

Exporter = Callable[[User], Any]


class DownloadLinkInvalid(ApplicationError):
    status = 403
    code = "signature_invalid"
    title = _("This download link is invalid.")


class DownloadLinkExpired(ApplicationError):
    status = 403
    code = "signature_expired"
    title = _("This download link has expired: ask for the export's status again for a new one.")


# --- The document ------------------------------------------------------------------------------


def _profile(user: User) -> dict[str, Any]:
    avatar = selectors_profile.avatar_get_for_user(user=user)
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "locale": user.locale,
        "email_verified_at": user.email_verified_at,
        "created_at": user.created_at,
        "last_login": user.last_login,
        "paused_at": user.paused_at,
        "avatar": (
            {"image": avatar.image_path, "thumbnail": avatar.thumbnail_path}
            if avatar is not None
            else None
        ),
    }


ADDRESS_FIELDS = (
    "id",
    "label",
    "first_name",
    "last_name",
    "company",
    "line1",
    "line2",
    "city",
    "postal_code",
    "region",
    "country",
    "phone",
    "is_default_shipping",
    "is_default_billing",
    "created_at",
    "updated_at",
)


def _addresses(user: User) -> list[dict[str, Any]]:
    return list(selectors_profile.address_list_for_user(user=user).values(*ADDRESS_FIELDS))


def _notification_preferences(user: User) -> dict[str, dict[str, bool]]:
    return selectors_preferences.notification_preferences_get(user=user)


def _consents(user: User) -> list[Any]:
    """Every consent decision, newest first (the first record per purpose is the current one)."""
    return list(
        selectors_preferences.consent_history_for(user=user).values(
            "purpose", "granted", "source", "policy_version", "ip_address", "created_at"
        )
    )


def _nothing_yet(user: User) -> list[Any]:
    return []


EXPORTERS: dict[str, Exporter] = {
    "profile": _profile,
    "addresses": _addresses,
    "notification_preferences": _notification_preferences,
    "consents": _consents,
    "login_history": _nothing_yet,
    "orders": _nothing_yet,
    "reviews": _nothing_yet,
}

# Sections that cannot hold data yet say why; registering a real exporter drops the note.
NOTES: dict[str, StrOrPromise] = {
    "login_history": _("Sign-ins are not recorded individually yet, so there is none to export."),
    "orders": _("There are no orders to export yet."),
    "reviews": _("There are no reviews to export yet."),
}


def exporter_register(*, section: str, exporter: Exporter) -> None:
    """Add (or replace) a top-level section of the export document; call from AppConfig.ready."""
    EXPORTERS[section] = exporter
    NOTES.pop(section, None)


def data_export_document(*, export: DataExport) -> dict[str, Any]:
    """The export's JSON document: one key per registered section, plus notes."""
    user: User = export.user
    with (
        tenant_context(export.tenant_id),
        translation.override(user.locale or settings.LANGUAGE_CODE),
    ):
        sections = {name: exporter(user) for name, exporter in EXPORTERS.items()}
        notes = {name: str(note) for name, note in NOTES.items() if name in sections}
    return {
        "format": FORMAT,
        "export_id": export.id,
        "generated_at": timezone.now(),
        **sections,
        "notes": notes,
    }


def export_file_path(export: DataExport) -> str:
    """Where the export's file is stored: one fixed name per export, so a rerun overwrites it."""
    return f"exports/{export.tenant_id}/{export.user_id}/{export.id}.json"


# --- Requesting and building -------------------------------------------------------------------


def _active_export(user: User) -> DataExport | None:
    export: DataExport | None = DataExport.objects.filter(
        user_id=user.id, status__in=DataExport.ACTIVE
    ).first()
    return export


def data_export_request(*, user: User) -> tuple[DataExport, bool]:
    """Start an export of `user`'s data, or return the one already pending or running.

    Returns `(export, created)`; a new export is built by a task after the commit.
    """
    with transaction.atomic():
        existing = _active_export(user)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                export = DataExport.objects.create(
                    user=user, expires_at=timezone.now() + retention_period("exports")
                )
        except IntegrityError:
            # A concurrent request created it first (one active export per user).
            existing = _active_export(user)
            if existing is None:
                raise
            return existing, False
        export_id = str(export.id)
        transaction.on_commit(lambda: _build_later(export_id))
    security_log.info("data_export_requested", user_id=str(user.id), export_id=export_id)
    return export, True


def _build_later(export_id: str) -> None:
    from emporium.accounts.tasks_exports import build_data_export

    build_data_export.delay(export_id)


def data_export_build(*, export_id: uuid.UUID | str) -> DataExport | None:
    """Write the export's file and mark it ready. Idempotent: an export that is ready (or
    failed, or gone) is left alone, and a rerun after a crash overwrites the same file."""
    found: DataExport | None = DataExport.unscoped.filter(id=export_id).first()
    if found is None or found.status not in DataExport.ACTIVE:
        return found
    with tenant_context(found.tenant_id):
        DataExport.objects.filter(id=found.id, status=DataExport.Status.PENDING).update(
            status=DataExport.Status.RUNNING, updated_at=timezone.now()
        )
        with transaction.atomic():
            # The lock makes a concurrent run wait, then find the export ready.
            export: DataExport | None = (
                DataExport.objects.select_for_update()
                .select_related("user")
                .filter(id=found.id)
                .first()
            )
            if export is None or export.status != DataExport.Status.RUNNING:
                return export
            content = json.dumps(
                data_export_document(export=export),
                cls=DjangoJSONEncoder,
                ensure_ascii=False,
                indent=2,
            ).encode()
            path = export_file_path(export)
            if default_storage.exists(path):  # left by a run that crashed before its commit
                default_storage.delete(path)
            export.file_path = default_storage.save(path, ContentFile(content))
            export.status = DataExport.Status.READY
            export.completed_at = timezone.now()
            export.expires_at = export.completed_at + retention_period("exports")
            export.save(
                update_fields=["file_path", "status", "completed_at", "expires_at", "updated_at"]
            )
    log.info("data_export_ready", export_id=str(export.id), size=len(content))
    return export


def data_export_fail(*, export_id: uuid.UUID | str) -> None:
    """Mark an export that could not be built as failed (the user may request a new one)."""
    export: DataExport | None = DataExport.unscoped.filter(id=export_id).first()
    if export is None:
        return
    with tenant_context(export.tenant_id):
        DataExport.objects.filter(id=export.id, status__in=DataExport.ACTIVE).update(
            status=DataExport.Status.FAILED, updated_at=timezone.now()
        )
    log.error("data_export_failed", export_id=str(export_id))


# --- Download links ---------------------------------------------------------------------------


def download_link_max_age() -> timedelta:
    """How long a signed download link works (`settings.ACCOUNT_EXPORT_LINK_MAX_AGE`)."""
    max_age: timedelta = getattr(settings, "ACCOUNT_EXPORT_LINK_MAX_AGE", DEFAULT_DOWNLOAD_MAX_AGE)
    return max_age


def data_export_download_signature(*, export: DataExport) -> str:
    """The `signature` query parameter of the export's download link (timestamped)."""
    signed = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign(str(export.id))
    return signed.split(signing.TimestampSigner().sep, 1)[1]


def data_export_download_check(*, export_id: uuid.UUID, signature: str) -> None:
    """Raise `DownloadLinkInvalid` or `DownloadLinkExpired` unless `signature` was made for
    this export within the link's lifetime."""
    signer = signing.TimestampSigner(salt=DOWNLOAD_SALT)
    try:
        signer.unsign(f"{export_id}{signer.sep}{signature}", max_age=download_link_max_age())
    except signing.SignatureExpired as exc:
        raise DownloadLinkExpired() from exc
    except signing.BadSignature as exc:
        raise DownloadLinkInvalid() from exc


# --- Deletion ---------------------------------------------------------------------------------


def _delete_exports(exports: Any) -> int:
    deleted = 0
    for export in exports:
        if export.file_path:
            try:
                default_storage.delete(export.file_path)
            except OSError:
                # Keep the row so the next run tries the file again.
                log.warning("data_export_file_not_deleted", export_id=str(export.id))
                continue
        export.delete()
        deleted += 1
    return deleted


def data_exports_purge_expired(*, now: datetime | None = None) -> int:
    """Delete the files and rows of every tenant's expired exports; returns how many."""
    now = now or timezone.now()
    return _delete_exports(DataExport.unscoped.filter(expires_at__lte=now).iterator())


def data_exports_delete_for_user(*, user: User) -> int:
    """Delete every export of `user` (for account deletion; fits an account anonymiser). The
    rows go now, the files after the commit, so a rolled-back deletion keeps both."""
    exports = DataExport.objects.filter(user_id=user.id)
    paths = [path for path in exports.values_list("file_path", flat=True) if path]
    deleted, _rows = exports.delete()
    transaction.on_commit(lambda: _delete_files(paths))
    return int(deleted)


def _delete_files(paths: list[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(path)
        except OSError:
            log.warning("data_export_file_not_deleted", path=path)
