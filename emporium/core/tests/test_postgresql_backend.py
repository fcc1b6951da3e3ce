"""The PostgreSQL backend's health check: no round trip for a healthy connection, and a
connection the server closed is replaced before the request uses it."""

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
