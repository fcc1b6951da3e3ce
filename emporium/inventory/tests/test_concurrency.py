"""Reservations under real concurrency (PostgreSQL, threads): stock is never oversold."""

import threading
import uuid

import pytest
from django.db import connection, connections, transaction

from conftest import service_unavailable
from emporium.core.context import tenant_context
from emporium.inventory.models import InventoryMovement, Stock
from emporium.inventory.services import InsufficientStock, StockLine, stock_reserve
from emporium.tenants.models import DEFAULT_TENANT_ID

THREADS = 50
UNITS = 10


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_reservations_of_ten_units_sell_exactly_ten(make_product):
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL")
    product = make_product(quantity=UNITS)
    barrier = threading.Barrier(THREADS, timeout=30)
    outcomes = []
    errors = []
    lock = threading.Lock()

    def reserve():
        try:
            with tenant_context(DEFAULT_TENANT_ID):
                barrier.wait()
                try:
                    with transaction.atomic():
                        stock_reserve(lines=[StockLine(product.id, 1)], order_id=uuid.uuid4())
                    outcome = "reserved"
                except InsufficientStock:
                    outcome = "refused"
            with lock:
                outcomes.append(outcome)
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reserve) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert all(not thread.is_alive() for thread in threads)

    assert outcomes.count("reserved") == UNITS
    assert outcomes.count("refused") == THREADS - UNITS
    row = Stock.objects.get(product=product)
    assert (row.quantity, row.reserved) == (UNITS, UNITS)
    moves = InventoryMovement.objects.filter(product=product)
    assert moves.count() == UNITS
    assert sum(m.reserved_delta for m in moves) == row.reserved - 0
    assert sum(m.quantity_delta for m in moves) == 0
