"""Reads for accounts."""

from __future__ import annotations

import uuid

from django.core.cache import cache

from emporium.accounts.models import User
from emporium.core.context import get_current_tenant_id

USER_CACHE_SECONDS = 300


def user_cache_key(user_id: uuid.UUID | str) -> str:
    return f"accounts:user:{user_id}"


def user_get_for_token(*, user_id: uuid.UUID | str, token_version: int) -> User | None:
    """The current tenant's user an access token names, if the token's version is current.

    Cached per user (an authenticated request then costs no user query); every write to a user
    clears the entry (see `User.save`), and the version check makes revocation immediate.
    """
    key = user_cache_key(user_id)
    user: User | None = cache.get(key)
    if user is None:
        user = User.objects.filter(id=user_id).first()
        if user is None:
            return None
        cache.set(key, user, timeout=USER_CACHE_SECONDS)
    if user.tenant_id != get_current_tenant_id() or user.token_version != token_version:
        return None
    return user
