"""Django's PostgreSQL backend, with a cheaper check of a reused connection.

With `CONN_HEALTH_CHECKS`, Django checks a persistent connection before its first query of each
request by running `SELECT 1`: a round trip to the server on every request, whose waits hand
the GIL to other threads and back. A connection the server closed (a restart, an idle timeout,
`pg_terminate_backend`) shows as a readable socket, since the server sends its farewell or the
end of the stream; so does any unexpected message. The check here asks the kernel whether the
socket is readable, without waiting, and falls back to Django's `SELECT 1` only if it is. A
connection lost without a word (a cable cut) is found by the next query, as without checks.

`prepared_cursor()` gives the hottest hand-written reads (a page of products, one product) a
cursor that binds parameters on the server and prepares each statement once per connection:
planning the product page cost the server twice as much as running it. Django prepares
nothing by default, for connection poolers in transaction mode; PgBouncer 1.21+ tracks
prepared statements (`max_prepared_statements`). `DATABASE_PREPARED_STATEMENTS=0` turns this
off for older poolers.
"""

from __future__ import annotations

import select
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base, operations
from django.db.backends.utils import CursorWrapper
from psycopg.pq import TransactionStatus


class PreparedCursor(base.ServerBindingCursor):
    """A cursor binding parameters on the server and preparing every statement it runs."""

    def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
        return super().execute(query, params, **{**options, "prepare": True})  # type: ignore[misc]


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor: Any, sql: str, params: Any) -> str:
        """The statement with its values, as recorded when queries are (DEBUG, tests)."""
        if isinstance(cursor, PreparedCursor):
            return str(self.compose_sql(sql, params))
        return super().last_executed_query(cursor, sql, params)


# psycopg prepares nothing while a connection's threshold is None (Django's default); this one
# lets `PreparedCursor` prepare its statements and never prepares anything else.
ONLY_WHEN_ASKED = 2**62


class DatabaseWrapper(base.DatabaseWrapper):
    """`django.db.backends.postgresql` with a health check that polls the socket, and cursors
    for prepared statements."""

    ops_class = DatabaseOperations

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if connection.prepare_threshold is None and _prepared_statements():
            connection.prepare_threshold = ONLY_WHEN_ASKED
        return connection

    def prepared_cursor(self) -> CursorWrapper:
        """A cursor (logged like any other) whose statements are prepared on the server, or a
        plain cursor when `DATABASE_PREPARED_STATEMENTS` is off."""
        if not _prepared_statements():
            return self.cursor()
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            prepare = self._prepare_cursor  # type: ignore[attr-defined]
            cursor: CursorWrapper = prepare(PreparedCursor(self.connection))  # type: ignore[call-arg]
            return cursor

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
