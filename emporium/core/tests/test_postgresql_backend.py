"""The PostgreSQL backend: a health check with no round trip for a healthy connection (a
connection the server closed is replaced before the request uses it), and prepared statements
for the hottest reads only, whose values arrive as text."""

import select
import time
import uuid

import pytest
from django.db import connection, connections
from psycopg.pq import TransactionStatus

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's check"),
]


@pytest.fixture
def other():
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def test_a_healthy_idle_connection_is_usable_without_a_statement(other, monkeypatch):
    def no_statements(*args, **kwargs):
        raise AssertionError("the health check ran a statement")

    monkeypatch.setattr(other.connection, "cursor", no_statements)
    assert other.is_usable()


def test_a_connection_the_server_closed_is_not_usable(other):
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's farewell reaches the socket shortly after.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if select.select([other.connection.fileno()], [], [], 0.1)[0]:
            break
    assert not other.is_usable()


def test_a_request_after_the_server_closed_the_connection_succeeds(client):
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        killer.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if select.select([connection.connection.fileno()], [], [], 0.1)[0]:
            break
    # A persistent connection with health checks on: the next request checks it first.
    connection.health_check_enabled = True
    connection.health_check_done = False
    response = client.get("/health/ready")
    assert response.status_code == 200


def _prepared(wrapper):
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_hot_reads_are_prepared_once_and_nothing_else_is(other):
    from emporium.catalog import queries
    from emporium.catalog.models import Category

    with other.raw_cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT %s::int + 1", [41])
            assert cursor.fetchall() == [("42",)]
    with other.cursor() as cursor:
        for _ in range(10):  # an ORM-style statement, however often it runs, is never prepared
            cursor.execute("SELECT count(*) FROM catalog_category WHERE slug = %s", ["x"])
    assert _prepared(other) == ["SELECT $1::int + 1"]
    # The product list's page uses such a cursor, on the request's own connection, with its
    # bounds written as numbers: PostgreSQL may then reuse one plan for every execution (with
    # unknown bounds, that plan reads every row: the server plans each execution afresh).
    Category.objects.count()
    for _ in range(8):
        queries.product_page(queries.ProductFilter(), offset=0, limit=20)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%LIMIT 20 OFFSET 0%"],
        )
        assert cursor.fetchone()[0] > 0


def test_a_connection_keeps_a_bounded_number_of_hot_statements(other, monkeypatch):
    from emporium.core.postgresql import base

    monkeypatch.setattr(base, "HOT_STATEMENTS", 3)
    with other.raw_cursor() as cursor:
        for number in range(5):
            cursor.execute(f"SELECT {number} + %s::int", [1])
            assert cursor.fetchall() == [(str(number + 1),)]
        cursor.execute("SELECT 4 + %s::int", [2])  # still prepared: no new statement
        assert cursor.fetchall() == [("6",)]
        cursor.execute("SELECT '100%'")  # without parameters, as Django: no placeholders
        assert cursor.fetchall() == [("100%",)]
    assert sorted(_prepared(other)) == [
        "SELECT '100%'",
        *(f"SELECT {n} + $1::int" for n in (3, 4)),
    ]


def test_a_hot_read_inside_a_transaction_sees_its_writes_and_fails_like_any_statement():
    from django.db import DatabaseError, transaction

    from emporium.core.postgresql.base import HotCursor, TextCursor

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE hot_probe (n int) ON COMMIT DROP")
            cursor.execute("INSERT INTO hot_probe VALUES (7)")
        with connection.raw_cursor() as cursor:
            assert isinstance(cursor.cursor, HotCursor)  # libpq, within the open transaction
            cursor.execute("SELECT n FROM hot_probe WHERE n = %s", [7])
            assert cursor.fetchall() == [("7",)]
    # A transaction opened by atomic() and not started yet: psycopg starts it first.
    with transaction.atomic(), connection.raw_cursor() as cursor:
        assert isinstance(cursor.cursor, TextCursor)
        with pytest.raises(DatabaseError):
            cursor.execute("SELECT 1 / %s::int", [0])
        transaction.set_rollback(True)
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE
    with connection.raw_cursor() as cursor:  # the connection is fine afterwards
        cursor.execute("SELECT %s::int", [5])
        assert cursor.fetchall() == [("5",)]


def test_prepared_statements_can_be_turned_off(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    wrapper = connections.create_connection("default")
    try:
        with wrapper.raw_cursor() as cursor:
            for _ in range(3):
                cursor.execute("SELECT %s::int + 1", [41])
                assert cursor.fetchall() == [("42",)]
        assert _prepared(wrapper) == []
    finally:
        wrapper.close()


RAW_READ = (
    "SELECT %s::uuid, 12.50::numeric, 7::int2, 8::int4, 9::int8, true, NULL::int4,"
    " '2026-11-27 10:00:00+00'::timestamptz, '{\"a\": [1, 2]}'::jsonb, 'text'::varchar"
)


def test_hot_reads_arrive_as_text_and_load_as_the_driver_would():
    from emporium.core.sql import fetch_raw

    product_id = uuid.uuid4()
    rows, typed = fetch_raw(RAW_READ, [product_id])
    assert rows == [
        (
            *(str(product_id), "12.50", "7", "8", "9", "t", None),
            *("2026-11-27 10:00:00+00", '{"a": [1, 2]}', "text"),
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(RAW_READ, [product_id])
        loaded = list(cursor.fetchone())
    assert typed(rows[0]) == loaded
    assert [type(value) for value in typed(rows[0])] == [type(value) for value in loaded]


def test_a_hot_read_of_a_type_it_cannot_keep_as_text_is_refused():
    from emporium.core.sql import fetch_raw

    with pytest.raises(TypeError, match="as text"):
        fetch_raw("SELECT '1 day'::interval", [])
