"""Checkout throughput: concurrent customers turning their carts into orders (PostgreSQL).

    eval "$(scripts/services.sh env)"
    .venv/bin/python bench/checkout.py --customers 400 --lines 3 --concurrency 16

In a fresh tenant of its own: P products with ample stock, shipping and tax rates, an
unlimited stackable discount, and N customers each holding an active cart of `--lines` lines
with the code applied (prepared with bulk inserts before the clock starts). Then
`--concurrency` threads, each with its own database connection, run
`order_create_from_cart` for every customer, as `POST /api/v1/orders/` does after parsing:
cart lock, quote at current prices, stock reservation (row locks in pk order), discount claim,
order, lines, history, outbox event, cart conversion. Stripe is not configured and the
confirmation email is not queued (no broker needed), so the figures are the checkout itself.

Prints orders per second, p50/p95/p99 latency, the SQL queries of one checkout (counted
in-process with CaptureQueriesContext, for 1 line and for 10 lines: they must be equal), and a
baseline measured in the same run with the same threads: a transaction that locks one row and
inserts one row (the least any order-creating write costs). The tenant and all its rows are
deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "ERROR")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from emporium.accounts.models import User  # noqa: E402
from emporium.cart.models import Cart, CartDiscount, CartLine  # noqa: E402
from emporium.catalog.models import Product  # noqa: E402
from emporium.core.context import tenant_context  # noqa: E402
from emporium.core.ids import uuid7  # noqa: E402
from emporium.core.models import OutboxEvent  # noqa: E402
from emporium.inventory.models import InventoryMovement, Stock  # noqa: E402
from emporium.orders import tasks as order_tasks  # noqa: E402
from emporium.orders.models import Order, OrderDiscount, OrderLine, OrderStatusChange  # noqa: E402
from emporium.orders.services import order_create_from_cart  # noqa: E402
from emporium.payments.models import Payment  # noqa: E402
from emporium.pricing.models import Discount, DiscountUsage, ShippingRate, TaxRate  # noqa: E402
from emporium.tenants.models import Tenant  # noqa: E402

PRODUCTS = 50
CODE = "BENCH10"


def fresh_tenant() -> Tenant:
    suffix = uuid7().hex[-10:]
    tenant: Tenant = Tenant.objects.create(name="Bench checkout", slug=f"bench-checkout-{suffix}")
    return tenant


def prepare(
    tenant: Tenant, *, customers: int, lines: int, discount: bool = True
) -> list[tuple[Cart, User]]:
    """Products, rates, a discount and one cart per customer, with bulk inserts."""
    with tenant_context(tenant.id), transaction.atomic():
        t = tenant.id
        products = Product.objects.bulk_create(
            [
                Product(
                    tenant_id=t,
                    name=f"Bench product {i}",
                    slug=f"bench-product-{i}",
                    sku=f"BENCH-{i:04d}",
                    price=Decimal(5 + i % 40),
                    currency="EUR",
                )
                for i in range(PRODUCTS)
            ]
        )
        Stock.objects.bulk_create(
            [Stock(tenant_id=t, product=p, quantity=10 * customers * lines) for p in products]
        )
        ShippingRate.objects.create(country="DE", currency="EUR", amount=Decimal("4.90"))
        TaxRate.objects.create(country="DE", rate=Decimal("0.19"))
        Discount.objects.create(code=CODE, name=CODE, kind="percentage", value=10, stackable=True)
        users = User.unscoped.bulk_create(
            [
                User(tenant_id=t, email=f"bench{i}@example.com", password="!")  # noqa: S106
                for i in range(customers)
            ]
        )
        carts = Cart.objects.bulk_create([Cart(tenant_id=t, customer=u) for u in users])
        CartLine.objects.bulk_create(
            [
                CartLine(
                    tenant_id=t,
                    cart=cart,
                    product=products[(n * lines + k) % PRODUCTS],
                    quantity=1 + k % 2,
                )
                for n, cart in enumerate(carts)
                for k in range(lines)
            ]
        )
        if discount:
            CartDiscount.objects.bulk_create(
                [CartDiscount(tenant_id=t, cart=c, code=CODE) for c in carts]
            )
        return list(zip(carts, users, strict=True))


def checkout(cart: Cart, user: User) -> Order:
    return order_create_from_cart(
        cart=cart,
        customer=user,
        shipping_country="DE",
        shipping_address={"name": "Bench", "city": "Berlin"},
    )


def run_threads(tenant: Tenant, jobs: list[Any], concurrency: int, work: Any) -> dict[str, float]:
    """Run `work(job)` for every job on `concurrency` threads; throughput and latency."""
    pending: queue.Queue[Any] = queue.Queue()
    for job in jobs:
        pending.put(job)
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with tenant_context(tenant.id):
                while True:
                    try:
                        job = pending.get_nowait()
                    except queue.Empty:
                        return
                    started = time.perf_counter()
                    try:
                        work(job)
                    except Exception as error:
                        with lock:
                            errors.append(error)
                        continue
                    elapsed = time.perf_counter() - started
                    with lock:
                        latencies.append(elapsed)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.perf_counter() - started
    if errors:
        print(f"  {len(errors)} errors, first: {errors[0]!r}")
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "count": len(latencies),
        "per_second": len(latencies) / duration,
        "p50": q[49] * 1000,
        "p95": q[94] * 1000,
        "p99": q[98] * 1000,
        "errors": len(errors),
    }


def queries_per_checkout(tenant: Tenant, *, lines: int) -> int:
    """SQL statements of one checkout of a cart with `lines` lines (on-commit work included)."""
    with tenant_context(tenant.id):
        [(cart, user)] = prepare_one(tenant, lines=lines)
        with CaptureQueriesContext(connection) as captured:
            checkout(cart, user)
        return len(captured)


def prepare_one(tenant: Tenant, *, lines: int) -> list[tuple[Cart, User]]:
    with tenant_context(tenant.id), transaction.atomic():
        user = User.unscoped.create(
            tenant_id=tenant.id,
            email=f"probe-{uuid7().hex}@example.com",
            password="!",  # noqa: S106
        )
        cart = Cart.objects.create(customer=user)
        products = list(Product.objects.order_by("sku")[:lines])
        CartLine.objects.bulk_create(
            [CartLine(tenant_id=tenant.id, cart=cart, product=p, quantity=1) for p in products]
        )
        CartDiscount.objects.create(cart=cart, code=CODE)
        return [(cart, user)]


def baseline(tenant: Tenant, *, count: int, concurrency: int) -> dict[str, float]:
    """Lock one row and insert one row per transaction: the floor for any order write."""
    with tenant_context(tenant.id):
        stock_ids = list(Stock.objects.values_list("pk", flat=True))

    def work(n: int) -> None:
        with transaction.atomic():
            Stock.objects.select_for_update().get(pk=stock_ids[n % len(stock_ids)])
            OutboxEvent.objects.create(name="bench.baseline", payload={"n": n})

    return run_threads(tenant, list(range(count)), concurrency, work)


def cleanup(tenant: Tenant) -> None:
    t = tenant.id
    with transaction.atomic():
        Payment.unscoped.filter(tenant_id=t).delete()
        models: tuple[Any, ...] = (OrderStatusChange, OrderDiscount, OrderLine)
        for model in models:
            model.unscoped.filter(tenant_id=t).delete()
        Order.unscoped.filter(tenant_id=t).hard_delete()
        DiscountUsage.unscoped.filter(tenant_id=t).delete()
        models = (InventoryMovement, Stock, CartDiscount, CartLine)
        for model in models:
            model.unscoped.filter(tenant_id=t).delete()
        Cart.unscoped.filter(tenant_id=t).hard_delete()
        models = (Discount, ShippingRate, TaxRate, OutboxEvent)
        for model in models:
            model.unscoped.filter(tenant_id=t).delete()
        Product.unscoped.filter(tenant_id=t).hard_delete()
        User.unscoped.filter(tenant_id=t).delete()
        tenant.delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--no-discount", action="store_true", help="carts without the discount code"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    settings.STRIPE_SECRET_KEY = None  # the order stays pending without a payment
    # No broker needed: the email is not part of what is measured.
    order_tasks.send_order_confirmation.delay = lambda *a, **k: None  # type: ignore[method-assign,assignment]
    print(
        f"database: {connection.vendor}, customers: {args.customers}, lines per cart: "
        f"{args.lines}, products: {PRODUCTS}, concurrency: {args.concurrency}, "
        f"discount code: {'no' if args.no_discount else 'one shared code'}"
    )
    tenant = fresh_tenant()
    try:
        jobs = prepare(
            tenant, customers=args.customers, lines=args.lines, discount=not args.no_discount
        )
        one, ten = (queries_per_checkout(tenant, lines=n) for n in (1, 10))
        result = run_threads(tenant, jobs, args.concurrency, lambda job: checkout(*job))
        floor = baseline(tenant, count=args.customers, concurrency=args.concurrency)
        with tenant_context(tenant.id):
            negative = Stock.objects.filter(reserved__gt=models_quantity()).count()
    finally:
        cleanup(tenant)
    print(f"{'':<34}{'per s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for label, r in (("checkout", result), ("baseline (lock + insert)", floor)):
        print(
            f"{label:<34}{r['per_second']:>10.1f}{r['p50']:>10.1f}{r['p95']:>10.1f}"
            f"{r['p99']:>10.1f}{int(r['errors']):>8}"
        )
    print(
        f"{'checkout / baseline throughput':<34}{result['per_second'] / floor['per_second']:>10.2f}"
    )
    print(f"SQL queries per checkout: {one} (1 line), {ten} (10 lines)")
    if negative or one != ten or result["errors"]:
        print("FAILED: stock over-reserved, query count grows with lines, or errors")
        return 1
    return 0


def models_quantity() -> Any:
    from django.db.models import F

    return F("quantity")


if __name__ == "__main__":
    sys.exit(main())
