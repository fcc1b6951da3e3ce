"""Add-to-cart benchmark: `POST /api/v1/cart/items/` throughput and latency as a ratio of the
same server's `/health/live` in the same run, plus the SQL queries one add costs.

    eval "$(scripts/services.sh env)"
    .venv/bin/python bench/cart.py

Meant for PostgreSQL (and Redis) with the generated catalog (`manage.py generate_fixtures`);
when the shop has fewer than 100 sellable products, BENCH_PRODUCTS (default 20000) are
generated first. The server starts as `make run` starts it (scripts/serve.sh).
Anonymous carts are created up front (BENCH_CARTS, default 500) and the load rotates over
them and over 90 products, so every request adds a unit to a cart that already has lines
(a new line or one more unit of an existing one), as a storefront does. Queries per add are
counted in-process through Django's test client with `CaptureQueriesContext`. Targets
(issue 6): at least 10% of /health/live's throughput, at most 8 queries. The carts made here
are deleted at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import run as http_bench  # noqa: E402  (bench/run.py: server start, wrk, baseline)

ADD_PATH = "/api/v1/cart/items/"
CARTS = int(os.environ.get("BENCH_CARTS", "500"))
PRODUCTS = 90  # below CART_MAX_LINES, so a cart never fills up
GENERATE = int(os.environ.get("BENCH_PRODUCTS", "20000"))
QUERY_TARGET = 8
RATIO_TARGET = 0.10
# Every limit lifted for the server measured: the load comes from one address.
RATE_LIMITS = "anon=100000000/min,user=100000000/min,cart_write=100000000/min"

WRK_SCRIPT = r"""
local counter = 0
request = function()
  local token = tokens[(counter % #tokens) + 1]
  local product = products[(math.floor(counter / #tokens) % #products) + 1]
  counter = counter + 1
  return wrk.format("POST", path,
    {["Content-Type"] = "application/json", ["X-Cart-Token"] = token},
    '{"product": "' .. product .. '", "quantity": 1}')
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %f %f %f %f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors))
end
"""


def prepare_products() -> list[str]:
    """Ids of PRODUCTS visible products with plenty of stock (generating a catalog if needed)."""
    import django

    django.setup()
    from django.db.models import F
    from django.utils import timezone

    from emporium.catalog.fixtures import catalog_generate
    from emporium.catalog.models import Product
    from emporium.catalog.selectors import product_visible_q
    from emporium.core.context import tenant_context
    from emporium.tenants.models import DEFAULT_TENANT_ID

    def sellable() -> list[str]:
        rows = (
            Product.objects.filter(product_visible_q(now=timezone.now()), currency="EUR")
            .annotate(units=F("stock__quantity") - F("stock__reserved"))
            .filter(units__gte=50)
            .order_by("id")
            .values_list("id", flat=True)[:PRODUCTS]
        )
        return [str(product_id) for product_id in rows]

    with tenant_context(DEFAULT_TENANT_ID):
        ids = sellable()
        if len(ids) < PRODUCTS:
            print(f"generating {GENERATE} products ...", flush=True)
            catalog_generate(products=GENERATE, seed=1)
            ids = sellable()
    if len(ids) < PRODUCTS:
        raise SystemExit(f"only {len(ids)} sellable products; generate more")
    return ids


def queries_per_add(product_ids: list[str]) -> tuple[list[int], list[str]]:
    """SQL queries of adds to an existing anonymous cart through the full middleware stack
    (a new line, then one more unit of it), after a warm-up request; plus the tokens made."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")

    def add(product_id: str, token: str | None) -> Any:
        response = client.post(
            ADD_PATH,
            {"product": product_id, "quantity": 1},
            content_type="application/json",
            headers={"X-Cart-Token": token} if token else None,
        )
        if response.status_code not in (200, 201):
            raise SystemExit(f"add to cart failed: {response.status_code} {response.content!r}")
        return response

    token = add(product_ids[0], None).json()["token"]
    counts = []
    for product_id in (product_ids[1], product_ids[1]):
        with CaptureQueriesContext(connection) as captured:
            add(product_id, token)
        counts.append(len(captured.captured_queries))
    return counts, [token]


def create_carts(base: str, product_ids: list[str]) -> list[str]:
    """CARTS anonymous carts holding one product each; their tokens."""

    async def create() -> list[str]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

            async def one(number: int) -> str:
                body = {"product": product_ids[number % len(product_ids)], "quantity": 1}
                response = await client.post(ADD_PATH, json=body)
                response.raise_for_status()
                return str(response.json()["token"])

            return list(await asyncio.gather(*(one(n) for n in range(CARTS))))

    return asyncio.run(create())


def measure_adds(base: str, tokens: list[str], product_ids: list[str]) -> dict[str, float]:
    if http_bench.WRK:
        return _measure_wrk(base, tokens, product_ids)
    return asyncio.run(_measure_httpx(base, tokens, product_ids))


def _measure_wrk(base: str, tokens: list[str], product_ids: list[str]) -> dict[str, float]:
    lua = (
        f"path = {json.dumps(ADD_PATH)}\n"
        f"tokens = {{{','.join(json.dumps(t) for t in tokens)}}}\n"
        f"products = {{{','.join(json.dumps(p) for p in product_ids)}}}\n" + WRK_SCRIPT
    )
    return http_bench.wrk_measure(base, lua, label="add to cart")


async def _measure_httpx(base: str, tokens: list[str], product_ids: list[str]) -> dict[str, float]:
    import statistics

    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(http_bench.REQUESTS):
        queue.put_nowait(number)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            token = tokens[number % len(tokens)]
            product = product_ids[(number // len(tokens)) % len(product_ids)]
            started = time.perf_counter()
            response = await client.post(
                ADD_PATH,
                json={"product": product, "quantity": 1},
                headers={"X-Cart-Token": token},
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=http_bench.CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(http_bench.CONCURRENCY)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50": quantiles[49] * 1000,
        "p95": quantiles[94] * 1000,
        "p99": quantiles[98] * 1000,
    }


def delete_carts(tokens: list[str]) -> int:
    from emporium.cart.models import Cart

    deleted, _rows = Cart.unscoped.filter(token__in=tokens).hard_delete()
    return int(deleted)


def main() -> int:
    # DEBUG off, as in production (the dev profile turns it on: every query is then recorded).
    env = {**os.environ, "LOG_LEVEL": "WARNING", "RATE_LIMITS": RATE_LIMITS, "DEBUG": "false"}
    subprocess.run([sys.executable, "manage.py", "bootstrap", "--no-admin"], cwd=ROOT, check=True)
    os.environ["RATE_LIMITS"] = RATE_LIMITS
    product_ids = prepare_products()
    counts, tokens = queries_per_add(product_ids)
    try:
        with http_bench.serving(env) as base:
            tokens += create_carts(base, product_ids)
            print(
                f"load: {'wrk' if http_bench.WRK else 'httpx'},"
                f" concurrency {http_bench.CONCURRENCY},"
                f" {CARTS} anonymous carts x {PRODUCTS} products"
            )
            before = http_bench._measure(base, http_bench.BASELINE)
            adds = measure_adds(base, tokens[1:], product_ids)
            after = http_bench._measure(base, http_bench.BASELINE)
    finally:
        delete_carts(tokens)
    # Against the mean of the baselines measured just before and just after (as bench/run.py).
    baseline = {key: (before[key] + after[key]) / 2 for key in before}
    ratio = adds["rps"] / baseline["rps"]
    print(f"{'endpoint':<20}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'ratio':>10}")
    for name, result in (("/health/live", baseline), ("add to cart", adds)):
        print(
            f"{name:<20}{result['rps']:>10.0f}{result['p50']:>10.1f}{result['p95']:>10.1f}"
            f"{result['p99']:>10.1f}{result['rps'] / baseline['rps']:>10.2f}"
        )
    print(
        f"add to cart / health: {ratio:.1%} (target >= {RATIO_TARGET:.0%}); "
        f"SQL queries per add (new line, more units): {counts} (target <= {QUERY_TARGET})"
    )
    return 0 if ratio >= RATIO_TARGET and max(counts) <= QUERY_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
