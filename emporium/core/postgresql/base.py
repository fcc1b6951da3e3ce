"""Django's PostgreSQL backend, with a cheaper check of a reused connection and a cursor for the
hottest reads.

With `CONN_HEALTH_CHECKS`, Django checks a persistent connection before its first query of each
request by running `SELECT 1`: a round trip to the server on every request, whose waits hand
the GIL to other threads and back. A connection the server closed (a restart, an idle timeout,
`pg_terminate_backend`) shows as a readable socket, since the server sends its farewell or the
end of the stream; so does any unexpected message. The check here asks the kernel whether the
socket is readable, without waiting, and falls back to Django's `SELECT 1` only if it is. A
connection lost without a word (a cable cut) is found by the next query, as without checks.

`raw_cursor()` serves the hottest hand-written reads (a page of products, one product, see
`emporium.core.sql.fetch_raw`): values arrive as the text PostgreSQL sends, and each statement
is prepared once per connection (planning the product page cost the server twice as much as
running it). It runs its statements through libpq directly (`HotCursor`): psycopg's cursor
machinery around one statement cost more client time than the statement's own round trip and
rows (bench/RESULTS.md). It is still wrapped like any Django cursor: execute wrappers, query
logging, error translation and broken-transaction checks all apply.

Django prepares nothing by default, for connection poolers in transaction mode; PgBouncer 1.21+
tracks prepared statements (`max_prepared_statements`). `DATABASE_PREPARED_STATEMENTS=0` turns
preparing off for older poolers.
"""

from __future__ import annotations

import select
from collections import OrderedDict
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base, operations
from django.db.backends.utils import CursorWrapper
from psycopg import pq
from psycopg._queries import PostgresQuery
from psycopg.adapt import AdaptersMap, Transformer
from psycopg.pq import TransactionStatus
from psycopg.types.string import TextLoader

# Types whose values a raw cursor reads as the text PostgreSQL sends (text types already are).
RAW_TYPES = tuple(
    psycopg.postgres.types[name].oid
    for name in ("uuid", "numeric", "int2", "int4", "int8", "bool", "timestamptz", "jsonb")
)
# Statements a connection keeps prepared for raw cursors (the least recently used go first), as
# psycopg bounds its own (`prepared_max`): the product page's bounds are part of its text.
HOT_STATEMENTS = 100


def _read_as_text(adapters: AdaptersMap) -> AdaptersMap:
    """`adapters`, loading `RAW_TYPES` as the text PostgreSQL sends."""
    for oid in RAW_TYPES:
        adapters.register_loader(oid, TextLoader)
    return adapters


class TextCursor(base.ServerBindingCursor):
    """A psycopg cursor reading `RAW_TYPES` as text and preparing what it runs (when allowed):
    the raw cursor when psycopg must first open the transaction Django asked for (`atomic`)."""

    def __init__(self, *args: Any, prepare: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare = prepare or None  # None: psycopg's threshold, never reached here
        _read_as_text(self.adapters)  # type: ignore[attr-defined]

    def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
        return super().execute(query, params, **{**options, "prepare": self._prepare})  # type: ignore[misc]


class _HotStatements:
    """What one connection's raw cursors share: its prepared statements by text and parameter
    types, and how to dump parameters and load text."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.dumper = Transformer(connection)
        self.adapters = _read_as_text(AdaptersMap(connection.adapters))  # (read by `Transformer`)
        self.loader = Transformer(self)
        self.queries: dict[str, PostgresQuery] = {}  # statements converted for libpq
        self.names: OrderedDict[tuple[bytes, tuple[int, ...]], bytes] = OrderedDict()
        self.created = 0


class HotCursor:
    """The DB-API part Django's cursor wrappers use (`execute`, `fetchall`, `close`), over libpq:
    one statement, its rows as text. The raw cursor, unless psycopg must first start the
    transaction Django opened (then `TextCursor`)."""

    def __init__(self, statements: _HotStatements, *, prepare: bool) -> None:
        self._statements = statements
        self._prepare = prepare
        self.pgresult: pq.abc.PGresult | None = None

    def execute(self, sql: str, params: Any = None) -> None:
        statements = self._statements
        connection = statements.connection
        query = statements.queries.get(sql)
        if query is None:
            if len(statements.queries) >= HOT_STATEMENTS:
                statements.queries.clear()
            query = statements.queries[sql] = PostgresQuery(statements.dumper)
            query.convert(sql, params)
        else:
            query.dump(params)
        pgconn = connection.pgconn
        if self._prepare:
            name = self._prepared(query)
            # (psycopg's stubs leave NULL out of the parameters `exec_prepared` takes)
            result = pgconn.exec_prepared(name, query.params, query.formats)  # type: ignore[arg-type]
        else:
            result = pgconn.exec_params(query.query, query.params, query.types, query.formats)
        _check(result, connection)
        self.pgresult = result

    def fetchall(self) -> list[tuple[Any, ...]]:
        result = self.pgresult
        if result is None:
            raise psycopg.ProgrammingError("no result available")
        loader = self._statements.loader
        loader.set_pgresult(result)
        return loader.load_rows(0, result.ntuples, tuple)

    def close(self) -> None:
        self.pgresult = None

    def _prepared(self, query: PostgresQuery) -> bytes:
        """The name of the statement `query` is prepared as on this connection (prepared now if
        it was not)."""
        statements = self._statements
        key = (query.query, tuple(query.types))
        name = statements.names.get(key)
        if name is not None:
            statements.names.move_to_end(key)
            return name
        pgconn = statements.connection.pgconn
        if len(statements.names) >= HOT_STATEMENTS:
            _old, oldest = statements.names.popitem(last=False)
            _check(pgconn.exec_(b"DEALLOCATE " + oldest), statements.connection)
        statements.created += 1
        name = f"emporium_hot_{statements.created}".encode()
        _check(pgconn.prepare(name, query.query, query.types), statements.connection)
        statements.names[key] = name
        return name


def _check(result: pq.abc.PGresult, connection: psycopg.Connection[Any]) -> None:
    """Raise the psycopg error a failed statement's result describes (Django translates it)."""
    if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
        raise psycopg.errors.error_from_result(result, encoding=connection.info.encoding)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str:
        """The statement with its values, as recorded when queries are (DEBUG, tests)."""
        if isinstance(cursor, (HotCursor, TextCursor)):
            return str(self.compose_sql(sql, params))
        return super().last_executed_query(cursor, sql, params)


# psycopg prepares nothing while a connection's threshold is None (Django's default); this one
# lets `TextCursor` prepare its statements and never prepares anything else.
ONLY_WHEN_ASKED = 2**62


class DatabaseWrapper(base.DatabaseWrapper):
    """`django.db.backends.postgresql` with a health check that polls the socket, and raw
    cursors for the hottest reads."""

    ops_class = DatabaseOperations
    _hot: _HotStatements | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if connection.prepare_threshold is None and _prepared_statements():
            connection.prepare_threshold = ONLY_WHEN_ASKED
        return connection

    def raw_cursor(self) -> CursorWrapper:
        """A cursor (logged and wrapped like any other) whose rows hold the text PostgreSQL
        sends for `RAW_TYPES`, and whose statements are prepared once per connection unless
        `DATABASE_PREPARED_STATEMENTS` is off."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        connection = self.connection
        prepare = _prepared_statements()
        with self.wrap_database_errors:
            cursor: Any
            if not connection.autocommit and (
                connection.pgconn.transaction_status == TransactionStatus.IDLE
            ):
                # Django opened a transaction (atomic) that psycopg starts with its next statement.
                cursor = TextCursor(connection, prepare=prepare)
            else:
                if self._hot is None or self._hot.connection is not connection:
                    self._hot = _HotStatements(connection)
                cursor = HotCursor(self._hot, prepare=prepare)
            prepare_cursor = self._prepare_cursor  # type: ignore[attr-defined]
            wrapped: CursorWrapper = prepare_cursor(cursor)
            return wrapped

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return bool(super().is_usable())
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable or bool(super().is_usable())


def _prepared_statements() -> bool:
    return bool(getattr(settings, "DATABASE_PREPARED_STATEMENTS", True))
