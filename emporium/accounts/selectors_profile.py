"""Reads for a customer's profile: the avatar and the address book."""

from __future__ import annotations

import uuid

from django.core.files.storage import default_storage
from django.db.models import QuerySet

from emporium.accounts.models import Address, Avatar, User


def avatar_get_for_user(*, user: User) -> Avatar | None:
    """The user's avatar, if any."""
    avatar: Avatar | None = Avatar.objects.filter(user_id=user.id).first()
    return avatar


def avatar_urls(*, avatar: Avatar) -> tuple[str, str]:
    """Storage URLs (possibly relative, e.g. /media/...) of the image and the thumbnail."""
    return default_storage.url(avatar.image_path), default_storage.url(avatar.thumbnail_path)


def address_list_for_user(*, user: User) -> QuerySet[Address]:
    """The user's addresses, oldest first (a stable order for pagination)."""
    addresses: QuerySet[Address] = Address.objects.filter(user_id=user.id)
    return addresses.order_by("created_at", "id")


def address_get_for_user(*, user: User, address_id: uuid.UUID) -> Address | None:
    """One of the user's addresses; None for another user's (or another shop's) address."""
    address: Address | None = address_list_for_user(user=user).filter(id=address_id).first()
    return address
