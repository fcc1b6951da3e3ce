"""Data retention: how long each class of account data is kept, and the daily purge.

Periods come from `settings.ACCOUNT_RETENTION` (a dict of timedelta; keys left out keep their
default), else these defaults:

- `unverified_accounts` (30 days): accounts whose email was never verified are deleted; staff
  accounts and verified accounts never are.
- `deleted_accounts` (30 days): leftovers of deleted accounts (anonymised rows), through a
  purger the deletion module registers; nothing to do until then.
- `login_history` (90 days): sign-in records, through a purger registered once they exist.
- `exports` (7 days): GDPR export files and their rows, counted from when the file was ready
  (or requested, for an export that never finished).

Two classes carry their own expiry instead of a period: one-time email tokens (deleted once
expired, or a day after use: `account_tokens_purge_expired`) and sessions (Django's
`clearsessions` command deletes expired database sessions).

`retention_purge()` works across every tenant; the Celery task `accounts.retention_purge`
runs it daily.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.management import call_command
from django.db.models import ProtectedError
from django.utils import timezone

from emporium.accounts.models import User
from emporium.accounts.services import account_tokens_purge_expired
from emporium.core.context import tenant_context
from emporium.core.logging import get_logger

log = get_logger(__name__)
security_log = get_logger("emporium.security")

DEFAULT_RETENTION: dict[str, timedelta] = {
    "unverified_accounts": timedelta(days=30),
    "deleted_accounts": timedelta(days=30),
    "login_history": timedelta(days=90),
    "exports": timedelta(days=7),
}

# A purger deletes (or anonymises) what is older than the cutoff and returns how many rows.
Purger = Callable[[datetime], int]

# Purgers for data kept by other modules (the deletion flow's leftovers, the sign-in history),
# registered from their AppConfig.ready with `retention_purger_register`. Until then the class
# is reported with 0.
PURGERS: dict[str, Purger] = {}


def retention_period(data_class: str) -> timedelta:
    """How long `data_class` is kept: `settings.ACCOUNT_RETENTION[data_class]` or the default."""
    configured: dict[str, timedelta] = getattr(settings, "ACCOUNT_RETENTION", {}) or {}
    return configured.get(data_class, DEFAULT_RETENTION[data_class])


def retention_purger_register(*, data_class: str, purger: Purger) -> None:
    """Let another module purge its data of `data_class` (`deleted_accounts`, `login_history`)
    in the daily run; `purger(cutoff)` removes what was created before `cutoff`."""
    if data_class not in DEFAULT_RETENTION:
        raise ValueError(f"Unknown retention data class {data_class!r}")
    PURGERS[data_class] = purger


def retention_purge(now: datetime | None = None) -> dict[str, int]:
    """Purge every data class that is due, in every tenant; returns how many rows per class.

    Safe to run twice: a second run finds nothing left to do.
    """
    from emporium.accounts.services_exports import data_exports_purge_expired

    now = now or timezone.now()
    counts = {
        "unverified_accounts": _purge_unverified_accounts(
            now - retention_period("unverified_accounts")
        ),
        "deleted_accounts": _run_purger("deleted_accounts", now),
        "login_history": _run_purger("login_history", now),
        "exports": data_exports_purge_expired(now=now),
        "expired_tokens": account_tokens_purge_expired(),
        "sessions": _purge_sessions(),
    }
    log.info("retention_purged", **counts)
    return counts


def _run_purger(data_class: str, now: datetime) -> int:
    purger = PURGERS.get(data_class)
    if purger is None:
        return 0
    return purger(now - retention_period(data_class))


def _purge_unverified_accounts(cutoff: datetime) -> int:
    due = User.unscoped.filter(
        email_verified_at__isnull=True,
        created_at__lte=cutoff,
        is_staff=False,
        is_superuser=False,
    ).only("id", "tenant_id")
    deleted = 0
    for user in due.iterator():
        # Deleted one by one in the user's tenant: a user another domain protects (an order
        # pointing at it) is skipped and logged instead of failing the whole run.
        with tenant_context(user.tenant_id):
            try:
                user.delete()
            except ProtectedError:
                log.warning("unverified_account_kept", user_id=str(user.id), reason="protected")
                continue
        security_log.info("unverified_account_purged", user_id=str(user.id))
        deleted += 1
    return deleted


def _purge_sessions() -> int:
    """Expired database sessions (Django's `clearsessions`; cache-backed sessions expire by
    themselves, so the command does nothing for them)."""
    from django.contrib.sessions.models import Session

    counts_rows = settings.SESSION_ENGINE in {
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    }
    before = Session.objects.count() if counts_rows else 0
    call_command("clearsessions")
    after = Session.objects.count() if counts_rows else 0
    return max(0, before - after)
