"""Writes for accounts."""

from __future__ import annotations

from django.db import transaction

from emporium.accounts.models import User


@transaction.atomic
def user_create(
    *, email: str, password: str | None, is_staff: bool = False, is_superuser: bool = False
) -> User:
    """Create a user of the current tenant (email unique per tenant, case-insensitively)."""
    return User.objects.create_user(
        email, password, is_staff=is_staff or is_superuser, is_superuser=is_superuser
    )
