"""Primary keys: UUIDv7 (RFC 9562), time-ordered for index locality."""

from __future__ import annotations

import uuid

import uuid_utils.compat


def uuid7() -> uuid.UUID:
    """A new UUIDv7 as a standard `uuid.UUID`; monotonic within this process."""
    return uuid_utils.compat.uuid7()
