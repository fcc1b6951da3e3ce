"""Helpers for hand-written SQL on hot paths: values bound and loaded exactly as the ORM would,
on PostgreSQL and SQLite alike (see `emporium/catalog/queries.py`, `emporium/cart/queries.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import UUIDField

Converter = Callable[[Any, Any, Any], Any]
_UUID = UUIDField()


def database() -> BaseDatabaseWrapper:
    """This thread's default connection (one look-up instead of one per attribute of the
    `django.db.connection` proxy)."""
    return connections[DEFAULT_DB_ALIAS]


def hot_cursor(db: BaseDatabaseWrapper | None = None) -> Any:
    """A cursor for the hottest hand-written reads: prepared on the server where the backend
    can (`emporium.core.postgresql`), else a plain one."""
    db = db or database()
    prepared = getattr(db, "prepared_cursor", None)
    return db.cursor() if prepared is None else prepared()


def db_uuid(value: UUID, db: BaseDatabaseWrapper | None = None) -> Any:
    """A UUID as the database stores it (native on PostgreSQL, hex text on SQLite)."""
    return _UUID.get_db_prep_value(value, db or database())


class RowConverter:
    """Loads rows whose columns hold `fields` (one model field per column, in order) as the ORM
    loads them: the backend's and the fields' own converters, worked out once per database
    kind."""

    def __init__(self, fields: Iterable[Any]) -> None:
        self.fields = tuple(fields)
        self._by_vendor: dict[str, list[tuple[int, list[Converter], Any]]] = {}

    def convert(self, values: Sequence[Any], db: BaseDatabaseWrapper | None = None) -> list[Any]:
        """`values` (one row, or its first `len(fields)` columns) as the ORM would load them."""
        db = db or database()
        converters = self._by_vendor.get(db.vendor)
        if converters is None:
            converters = self._by_vendor[db.vendor] = self._converters(db)
        converted = list(values)
        for index, functions, expression in converters:
            value = converted[index]
            for function in functions:
                value = function(value, expression, db)
            converted[index] = value
        return converted

    def _converters(self, db: BaseDatabaseWrapper) -> list[tuple[int, list[Converter], Any]]:
        result = []
        for index, field in enumerate(self.fields):
            expression = field.get_col("x")
            functions = [*db.ops.get_db_converters(expression), *field.get_db_converters(db)]
            if functions:
                result.append((index, functions, expression))
        return result
