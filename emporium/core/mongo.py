"""The MongoDB connection (mongoengine) used by document-backed domains such as reviews.

It reads exactly two settings, `MONGODB_URI` and `MONGODB_DB` (validated from the environment
variables of the same names), connects lazily on first use, once per process, and forgets the
connection in a forked child (Celery's prefork pool) so the child opens its own sockets.
`make run` sets `MONGODB_URI` to the embedded SecantusDB server it starts; anywhere else an
unset `MONGODB_URI` fails with `MongoNotConfigured` when MongoDB is first used.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import mongoengine  # type: ignore[import-untyped]
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALIAS = "default"
# Fail fast: a request should not hang for pymongo's default 30 s when the server is down.
SERVER_SELECTION_TIMEOUT_MS = 3000
CONNECT_TIMEOUT_MS = 3000

_lock = threading.Lock()
_connected_to: tuple[str, str] | None = None


class MongoNotConfigured(ImproperlyConfigured):
    """MongoDB was used while `MONGODB_URI` is unset."""


def mongo_settings() -> tuple[str, str]:
    """(`settings.MONGODB_URI`, `settings.MONGODB_DB`); raises `MongoNotConfigured` when the
    URI is unset."""
    uri: str | None = settings.MONGODB_URI
    database: str = settings.MONGODB_DB
    if not uri:
        raise MongoNotConfigured(
            "MONGODB_URI is not set: point it at MongoDB (mongodb://host:27017) or run "
            "`make run`, which starts the embedded server and sets it."
        )
    return uri, database


def mongo_connect() -> None:
    """Register the mongoengine connection for the current settings (once; no I/O here, the
    driver connects on the first command)."""
    global _connected_to
    wanted = mongo_settings()
    if _connected_to == wanted:
        return
    with _lock:
        if _connected_to == wanted:
            return
        if _connected_to is not None:  # the settings changed (tests override them)
            mongoengine.disconnect(alias=ALIAS)
        mongoengine.connect(
            db=wanted[1],
            host=wanted[0],
            alias=ALIAS,
            uuidRepresentation="standard",
            tz_aware=True,
            serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            connectTimeoutMS=CONNECT_TIMEOUT_MS,
            connect=False,
            appname="emporium",
        )
        _connected_to = wanted


def mongo_database() -> Any:
    """The `pymongo.database.Database` of `MONGODB_DB`, connecting first if needed."""
    mongo_connect()
    return mongoengine.get_db(alias=ALIAS)


def mongo_ping() -> None:
    """Round-trip to the server (for /health/); raises when it cannot be reached."""
    mongo_database().command("ping")


def mongo_is_connected() -> bool:
    """Whether this process has registered its connection."""
    return _connected_to is not None


def mongo_disconnect() -> None:
    """Close and forget the connection; the next use connects again."""
    global _connected_to
    with _lock:
        mongoengine.disconnect(alias=ALIAS)
        _connected_to = None


def _forget_after_fork() -> None:
    # The parent's client (its sockets and monitor threads) must not be used by the child.
    global _connected_to, _lock
    _lock = threading.Lock()
    if _connected_to is not None:
        with contextlib.suppress(Exception):
            mongoengine.disconnect(alias=ALIAS)
        _connected_to = None


os.register_at_fork(after_in_child=_forget_after_fork)
