"""Django's PostgreSQL backend, with a cheaper check of a reused connection.

With `CONN_HEALTH_CHECKS`, Django checks a persistent connection before its first query of each
request by running `SELECT 1`: a round trip to the server on every request, whose waits hand
the GIL to other threads and back. A connection the server closed (a restart, an idle timeout,
`pg_terminate_backend`) shows as a readable socket, since the server sends its farewell or the
end of the stream; so does any unexpected message. The check here asks the kernel whether the
socket is readable, without waiting, and falls back to Django's `SELECT 1` only if it is. A
connection lost without a word (a cable cut) is found by the next query, as without checks.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    """`django.db.backends.postgresql` with a health check that polls the socket."""

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
