"""Stock services: each change's effect on the stock row, its movement rows and notifications."""

import uuid

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from emporium.catalog import events
from emporium.inventory.models import InventoryMovement, Stock
from emporium.inventory.selectors import stock_available_by_product, stock_available_by_sku
from emporium.inventory.services import (
    InsufficientStock,
    StockLine,
    StockStateError,
    stock_adjust,
    stock_commit,
    stock_release,
    stock_reserve,
    stock_restock,
)

pytestmark = pytest.mark.django_db


def stock(product):
    row = Stock.objects.get(product=product)
    return row.quantity, row.reserved


def movements(product):
    return [
        (m.reason, m.quantity_delta, m.reserved_delta, m.order_id)
        for m in InventoryMovement.objects.filter(product=product).order_by("created_at", "id")
    ]


@pytest.fixture
def announced():
    """Product ids announced to the catalog (after commit)."""
    seen = []

    def receiver(*, tenant_id, product_ids, **kwargs):
        seen.append(set(product_ids))

    events.product_changes.connect(receiver)
    yield seen
    events.product_changes.disconnect(receiver)


def test_reserve_holds_units_and_records_a_movement(
    make_product, announced, django_capture_on_commit_callbacks
):
    mug, tee = make_product(quantity=5), make_product(quantity=3, reserved=1)
    order = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        stock_reserve(
            lines=[StockLine(mug.id, 2), StockLine(tee.id, 2), StockLine(mug.id, 1)],
            order_id=order,
        )
    assert stock(mug) == (5, 3)  # two lines of the same product add up
    assert stock(tee) == (3, 3)
    assert movements(mug) == [("reserve", 0, 3, order)]
    assert movements(tee) == [("reserve", 0, 2, order)]
    assert announced == [{mug.id, tee.id}]
    assert stock_available_by_product(product_ids=[mug.id, tee.id]) == {mug.id: 2, tee.id: 0}


def test_insufficient_stock_lists_every_shortage_and_writes_nothing(make_product, announced):
    plenty = make_product(quantity=10)
    short = make_product(quantity=3, reserved=2, sku="SHORT")
    missing = make_product(quantity=None, sku="NO-ROW")
    with pytest.raises(InsufficientStock) as raised, transaction.atomic():
        stock_reserve(
            lines=[StockLine(plenty.id, 1), StockLine(short.id, 2), StockLine(missing.id, 1)],
            order_id=None,
        )
    error = raised.value
    assert error.status == 409
    assert error.code == "insufficient_stock"
    assert sorted(error.shortages, key=lambda s: s["sku"]) == [
        {"product_id": str(missing.id), "sku": "NO-ROW", "requested": 1, "available": 0},
        {"product_id": str(short.id), "sku": "SHORT", "requested": 2, "available": 1},
    ]
    assert stock(plenty) == (10, 0)
    assert stock(short) == (3, 2)
    assert not InventoryMovement.objects.exists()
    assert announced == []


def test_release_gives_reserved_units_back(make_product):
    product = make_product(quantity=5)
    order = uuid.uuid4()
    with transaction.atomic():
        stock_reserve(lines=[StockLine(product.id, 4)], order_id=order)
        stock_release(lines=[StockLine(product.id, 4)], order_id=order)
    assert stock(product) == (5, 0)
    assert movements(product) == [("reserve", 0, 4, order), ("release", 0, -4, order)]


def test_commit_takes_sold_units_off_hand(make_product):
    product = make_product(quantity=5)
    order = uuid.uuid4()
    with transaction.atomic():
        stock_reserve(lines=[StockLine(product.id, 2)], order_id=order)
        stock_commit(lines=[StockLine(product.id, 2)], order_id=order)
    assert stock(product) == (3, 0)
    assert movements(product)[-1] == ("commit", -2, -2, order)


def test_restock_puts_units_back_and_creates_a_missing_stock_row(make_product):
    product = make_product(quantity=1)
    without_row = make_product(quantity=None)
    order = uuid.uuid4()
    with transaction.atomic():
        stock_restock(
            lines=[StockLine(product.id, 2), StockLine(without_row.id, 3)], order_id=order
        )
    assert stock(product) == (3, 0)
    assert stock(without_row) == (3, 0)
    assert movements(without_row) == [("restock", 3, 0, order)]


@pytest.mark.parametrize("service", [stock_release, stock_commit])
def test_giving_back_more_than_reserved_is_refused(make_product, service):
    product = make_product(quantity=5, reserved=1)
    with pytest.raises(StockStateError) as raised, transaction.atomic():
        service(lines=[StockLine(product.id, 2)], order_id=None)
    assert raised.value.status == 409
    assert stock(product) == (5, 1)
    assert movements(product) == []


def test_adjust_changes_the_quantity_on_hand_but_never_below_reserved(make_product):
    product = make_product(quantity=5, reserved=3)
    row = stock_adjust(product_id=product.id, delta=4)
    assert (row.quantity, row.reserved, row.available) == (9, 3, 6)
    stock_adjust(product_id=product.id, delta=-6, reason="adjust")
    assert stock(product) == (3, 3)
    with pytest.raises(StockStateError):
        stock_adjust(product_id=product.id, delta=-1)
    assert stock(product) == (3, 3)
    assert movements(product) == [("adjust", 4, 0, None), ("adjust", -6, 0, None)]


def test_adjust_creates_the_stock_row_of_a_product_without_one(make_product):
    product = make_product(quantity=None)
    stock_adjust(product_id=product.id, delta=7, reason="restock")
    assert stock(product) == (7, 0)
    assert movements(product) == [("restock", 7, 0, None)]


@pytest.mark.django_db(transaction=True)
def test_services_refuse_to_run_outside_a_transaction(make_product):
    product = make_product(quantity=5)
    with pytest.raises(TransactionManagementError):
        stock_reserve(lines=[StockLine(product.id, 1)], order_id=None)
    assert stock(product) == (5, 0)


def test_available_by_sku_only_sees_visible_products(make_product):
    make_product(sku="ON-SALE", quantity=4, reserved=1)
    make_product(sku="HIDDEN", quantity=4, is_active=False)
    make_product(sku="NO-ROW", quantity=None)
    gone = make_product(sku="GONE", quantity=4)
    gone.delete()
    result = stock_available_by_sku(skus=["ON-SALE", "HIDDEN", "NO-ROW", "GONE", "UNKNOWN"])
    assert result == {"ON-SALE": 3, "NO-ROW": 0}
