"""Concurrent adds to one cart (PostgreSQL, threads): quantities add up, the line limit holds."""

import threading

import pytest
from django.db import connection, connections
from django.test import Client

from conftest import service_unavailable
from emporium.cart.models import Cart, CartLine
from emporium.cart.tests.helpers import add, token_header

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL")


def _add_at_once(products, token):
    """Each product added (1 unit) by its own thread, all at once; the responses."""
    barrier = threading.Barrier(len(products), timeout=30)
    responses = [None] * len(products)
    errors = []

    def send(index):
        try:
            client = Client()
            barrier.wait()
            responses[index] = add(client, products[index], 1, **token_header(token))
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(products))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert all(not thread.is_alive() for thread in threads)
    return responses


def test_concurrent_adds_of_one_product_make_one_line_holding_every_unit(client, make_product):
    mug, tee = make_product(quantity=50), make_product(quantity=50)
    token = add(client, tee).json()["token"]

    responses = _add_at_once([mug] * THREADS, token)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (THREADS - 1) + [201], [r.content for r in responses]
    assert sorted(response.json()["quantity"] for response in responses) == list(
        range(1, THREADS + 1)
    )
    assert CartLine.objects.get(product=mug).quantity == THREADS


def test_concurrent_new_lines_stop_at_cart_max_lines(client, make_product, settings):
    settings.CART_MAX_LINES = 3
    token = add(client, make_product(quantity=50)).json()["token"]
    add(client, make_product(quantity=50), **token_header(token))

    responses = _add_at_once([make_product(quantity=50) for _ in range(THREADS)], token)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (THREADS - 1), [r.content for r in responses]
    assert all(r.json()["code"] == "too_many_lines" for r in responses if r.status_code == 409)
    assert CartLine.objects.filter(cart=Cart.objects.get(token=token)).count() == 3
