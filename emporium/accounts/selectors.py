"""Reads for accounts."""

from __future__ import annotations

import uuid

from django.core.cache import cache

from emporium.accounts.models import User
from emporium.core.cache_backends import CACHE_ERRORS, cache_available, cache_failed
from emporium.core.context import get_current_tenant_id
from emporium.tenants.models import DEFAULT_TENANT_ID

USER_CACHE_SECONDS = 300


def user_cache_key(user_id: uuid.UUID | str) -> str:
    return f"accounts:user:{user_id}"


def user_get_for_token(*, user_id: uuid.UUID | str, token_version: int) -> User | None:
    """The current tenant's user an access token names, if the token's version is current.

    Cached per user (an authenticated request then costs no user query); every write to a user
    clears the entry (see `User.save`), and the version check makes revocation immediate.
    """
    key = user_cache_key(user_id)
    user: User | None = None
    if cache_available():
        try:
            user = cache.get(key)
        except CACHE_ERRORS as error:  # the cache server is down: the database answers
            cache_failed(error, operation="user read")
    if user is None:
        user = User.objects.filter(id=user_id).first() or platform_staff_get(user_id=user_id)
        if user is None:
            return None
        _remember_user(key, user)
    own_shop = user.tenant_id == get_current_tenant_id()
    if not (own_shop or user.is_platform_staff) or user.token_version != token_version:
        return None
    return user


def _remember_user(key: str, user: User) -> None:
    if cache_available():
        try:
            cache.set(key, user, timeout=USER_CACHE_SECONDS)
        except CACHE_ERRORS as error:
            cache_failed(error, operation="user store")


def platform_staff_get(
    *, email: str | None = None, user_id: uuid.UUID | str | None = None
) -> User | None:
    """An active platform staff member (a staff user of the default shop allowed in every
    shop), by email or id, whichever shop is in context."""
    if email is None and user_id is None:
        return None
    staff = User.unscoped.filter(
        tenant_id=DEFAULT_TENANT_ID, is_platform_staff=True, is_staff=True, is_active=True
    )
    if email is not None:
        staff = staff.filter(email__iexact=email)
    if user_id is not None:
        staff = staff.filter(id=user_id)
    found: User | None = staff.first()
    return found
