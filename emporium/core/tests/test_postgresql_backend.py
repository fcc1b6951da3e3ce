"""The PostgreSQL backend: a health check with no round trip for a healthy connection (a
connection the server closed is replaced before the request uses it), and prepared statements
for the hottest reads only."""

import select
import time

import pytest
from django.db import connection, connections

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

    with other.prepared_cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT %s::int + 1", [41])
            assert cursor.fetchone()[0] == 42
    with other.cursor() as cursor:
        for _ in range(10):  # an ORM-style statement, however often it runs, is never prepared
            cursor.execute("SELECT count(*) FROM catalog_category WHERE slug = %s", ["x"])
    assert _prepared(other) == ["SELECT $1::int + 1"]
    # The product list's page uses such a cursor, on the request's own connection.
    Category.objects.count()
    queries.product_page(queries.ProductFilter(), offset=0, limit=20)
    assert any("LIMIT $" in statement for statement in _prepared(connection))


def test_prepared_statements_can_be_turned_off(settings):
    settings.DATABASE_PREPARED_STATEMENTS = False
    wrapper = connections.create_connection("default")
    try:
        with wrapper.prepared_cursor() as cursor:
            for _ in range(3):
                cursor.execute("SELECT %s::int + 1", [41])
        assert _prepared(wrapper) == []
    finally:
        wrapper.close()
