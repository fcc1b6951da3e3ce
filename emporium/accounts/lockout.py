"""Brute-force protection per account: after N consecutive failed sign-ins the account (or the
email, whether or not it has an account, so answers reveal nothing) is locked for a cool-down
that doubles with each further failure. Counters live in the shared cache."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from emporium.core.context import require_current_tenant_id


def now() -> float:
    """The clock (a function so tests can move it)."""
    return time.time()


def _keys(email: str) -> tuple[str, str]:
    subject = f"{require_current_tenant_id()}:{email.strip().lower()}"
    return f"accounts:login-failures:{subject}", f"accounts:login-locked:{subject}"


def login_lock_remaining(*, email: str) -> int:
    """Seconds until `email` may try again (0: not locked)."""
    _, locked_key = _keys(email)
    until = cache.get(locked_key)
    remaining = until - now() if until else 0
    return int(remaining) + 1 if remaining > 0 else 0


def login_failure_record(*, email: str) -> int:
    """Count a failed sign-in; returns the lock's length in seconds (0: not locked yet)."""
    failures_key, locked_key = _keys(email)
    keep = settings.LOGIN_LOCKOUT_MAX_SECONDS * 4
    cache.add(failures_key, 0, timeout=keep)
    failures = cache.incr(failures_key)
    cache.touch(failures_key, timeout=keep)
    excess = failures - settings.LOGIN_LOCKOUT_THRESHOLD
    if excess < 0:
        return 0
    seconds = min(
        settings.LOGIN_LOCKOUT_BASE_SECONDS * 2**excess, settings.LOGIN_LOCKOUT_MAX_SECONDS
    )
    cache.set(locked_key, now() + seconds, timeout=seconds * 2)
    return int(seconds)


def login_success_record(*, email: str) -> None:
    """A successful sign-in clears the failure count."""
    cache.delete_many(list(_keys(email)))
