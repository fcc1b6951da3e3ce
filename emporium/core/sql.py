"""Helpers for hand-written SQL on hot paths: values bound and loaded exactly as the ORM would,
on PostgreSQL and SQLite alike (see `emporium/catalog/queries.py`, `emporium/cart/queries.py`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import UUIDField
from psycopg.abc import Transformer
from psycopg.adapt import AdaptersMap
from psycopg.adapt import Transformer as load_with
from psycopg.types.composite import RecordLoader
from psycopg.types.datetime import TimestamptzLoader

from emporium.core.postgresql.base import RAW_TYPES

Converter = Callable[[Any, Any, Any], Any]
_UUID = UUIDField()
# What `fetch_raw` reads as text: the raw cursor's types, and the text types.
_READ_AS_TEXT = {
    *RAW_TYPES,
    *(psycopg.postgres.types[name].oid for name in ("text", "varchar", "bpchar", "name")),
}
_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
# psycopg's own loader (compiled when psycopg-binary is installed), not Django's override.
_PSYCOPG_TIMESTAMPTZ = (
    psycopg.adapters.get_loader(_TIMESTAMPTZ, psycopg.pq.Format.TEXT) or TimestamptzLoader
)


def database() -> BaseDatabaseWrapper:
    """This thread's default connection (one look-up instead of one per attribute of the
    `django.db.connection` proxy)."""
    return connections[DEFAULT_DB_ALIAS]


def fetch_raw(
    sql: str, params: Sequence[Any], db: BaseDatabaseWrapper | None = None
) -> tuple[list[tuple[Any, ...]], Callable[[Sequence[Any]], list[Any]]]:
    """The rows of a hot read with their values as the database sent them, and a function
    that loads one such row as the driver would have (what `RowConverter` expects).

    On PostgreSQL the statement runs on the backend's raw cursor (`emporium.core.postgresql`),
    prepared once per connection, and values arrive as their text: loading a page of products
    into UUIDs, decimals and datetimes costs more than the rest of the read, and raw values
    make cheap, exact keys for memos of what is derived from them, so a caller loads only the
    rows it has not seen. SQLite's values are loaded already (a `typed` copy is returned)."""
    db = db or database()
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall(), list
    # The backend's own (emporium.core.postgresql), which the settings always select.
    with db.raw_cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        result = cursor.cursor.pgresult  # (`description` builds an object per column)
        types = [result.ftype(index) for index in range(result.nfields)]
    if unknown := set(types) - _READ_AS_TEXT:
        raise TypeError(f"fetch_raw does not read columns of the types {unknown} as text")
    return rows, _TypedLoader(db.connection, types)


# Splits a record's text into its values' texts (NULL as None).
_RECORD = RecordLoader(psycopg.postgres.types["record"].oid)
# The column types of a statement (`record_values`), and loaders for them per connection.
_COLUMN_TYPES: dict[str, list[int]] = {}
_RECORD_LOADERS: WeakKeyDictionary[psycopg.Connection[Any], dict[str, _TypedLoader]] = (
    WeakKeyDictionary()
)


def record_values(record: str, columns_of: str, db: BaseDatabaseWrapper | None = None) -> list[Any]:
    """The values of a record's text (`ROW(...)::text`, PostgreSQL) loaded as the driver would
    load them as columns (what `RowConverter` expects): `columns_of` is a statement selecting
    columns of the record's types, in order, whose types are read once per process by running
    it for no row."""
    db = db or database()
    loaders = _RECORD_LOADERS.setdefault(db.connection, {})
    loader = loaders.get(columns_of)
    if loader is None:
        types = _COLUMN_TYPES.get(columns_of)
        if types is None:
            _rows, typed = fetch_raw(f"{columns_of} LIMIT 0", [], db)
            assert isinstance(typed, _TypedLoader)  # noqa: S101 (PostgreSQL's)
            types = _COLUMN_TYPES[columns_of] = typed.types
        loader = loaders[columns_of] = _TypedLoader(db.connection, types)
    return loader(_RECORD.load(record.encode()))


class _TypedLoader:
    """Loads raw rows of one result (columns of `types`) as the connection's cursors would,
    except timestamps: psycopg's compiled loader rather than Django's pure-Python one (the
    same instants, in UTC)."""

    def __init__(self, connection: psycopg.Connection[Any], types: list[int]) -> None:
        self.connection = connection
        self.types = types
        self._transformer: Transformer | None = None

    def __call__(self, values: Sequence[Any]) -> list[Any]:
        if self._transformer is None:  # only for rows the caller has not seen before
            self.adapters = AdaptersMap(self.connection.adapters)
            self.adapters.register_loader(_TIMESTAMPTZ, _PSYCOPG_TIMESTAMPTZ)
            self._transformer = load_with(self)
            self._transformer.set_loader_types(self.types, psycopg.pq.Format.TEXT)
        return list(
            self._transformer.load_sequence(
                [None if value is None else value.encode() for value in values]
            )
        )


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
