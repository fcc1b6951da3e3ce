"""Search benchmark: `product_search_queryset` against a naive `icontains` filter, in one run.

On the configured database (DATABASE_URL=postgresql://... for the real figures) with N generated
products (created once, reused when enough exist), each query is timed as the product list would
run it: the total (`count()`) and the first page of 20 (fetched as the search endpoint does:
the page's ids, then those rows). The naive baseline is the same query as
`Q(name__icontains=q) | Q(description__icontains=q)` over the same visible products.

    DATABASE_URL=postgresql://... .venv/bin/python bench/search.py
    .venv/bin/python bench/search.py --products 20000 --queries 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "false")  # as in production: no query is recorded

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Q, QuerySet  # noqa: E402

from emporium.catalog.fixtures import catalog_generate  # noqa: E402
from emporium.catalog.models import Product  # noqa: E402
from emporium.catalog.selectors import product_list  # noqa: E402
from emporium.core.context import tenant_context  # noqa: E402
from emporium.search.selectors import page_of, product_search_queryset  # noqa: E402
from emporium.tenants.commandline import command_tenant_id  # noqa: E402

# What shoppers type into a catalog of "Alpine Navy Tent 123"-style names: words, prefixes,
# substrings, two words, SKUs, numbers and typos.
QUERIES = [
    "merino",
    "alpine tent",
    "navy jacket",
    "backpa",
    "linen shirt",
    "olive",
    "lighting",
    "SKU-0042424",
    "everyday bike",
    "ackpac",
    "kitchen 777",
    "trouser",
    "jakcet",
    "urban sand shoe",
    "classic",
    "textil",
]
PAGE = 20


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _page_and_count(queryset: QuerySet[Product]) -> Callable[[], object]:
    # The page as the search endpoint fetches it (ids first, then rows), for both sides.
    return lambda: (queryset.count(), page_of(queryset, offset=0, limit=PAGE))


def _ours(q: str) -> QuerySet[Product]:
    return product_search_queryset(product_list(), q)


def _naive(q: str) -> QuerySet[Product]:
    return product_list().filter(Q(name__icontains=q) | Q(description__icontains=q))


def _run(build: Callable[[str], QuerySet[Product]], q: str) -> object:
    return _page_and_count(build(q))()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=len(QUERIES) * 5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tenant_context(command_tenant_id()):
        existing = Product.objects.count()
        if existing < args.products:
            print(f"generating {args.products - existing} products ...", flush=True)
            catalog_generate(products=args.products - existing, seed=args.seed)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE catalog_product")
        total = Product.objects.count()
        queries = [QUERIES[i % len(QUERIES)] for i in range(args.queries)]
        for q in QUERIES:  # warm-up: caches, plans
            _page_and_count(_ours(q))()
            _page_and_count(_naive(q))()

        # Interleaved, so both see the same machine noise.
        ours: dict[str, list[float]] = {q: [] for q in QUERIES}
        naive: dict[str, list[float]] = {q: [] for q in QUERIES}
        for q in queries:
            # product_search_queryset's own work (the typo pass' lookups) counts too.
            ours[q].append(_timed(partial(_run, _ours, q)))
            naive[q].append(_timed(partial(_run, _naive, q)))

    print(
        f"{connection.vendor}, {total} products, {len(queries)} queries "
        f"(count + first page of {PAGE} each)"
    )
    print(f"{'query':<20}{'hits':>8}{'search ms':>12}{'naive ms':>12}{'speed-up':>10}")
    with tenant_context(command_tenant_id()):
        for q in QUERIES:
            if not ours[q]:
                continue
            mine, theirs = statistics.median(ours[q]), statistics.median(naive[q])
            hits = _ours(q).count()
            print(
                f"{q:<20}{hits:>8}{mine * 1000:>12.1f}{theirs * 1000:>12.1f}{theirs / mine:>9.1f}x"
            )
    mine_total = sum(sum(times) for times in ours.values())
    theirs_total = sum(sum(times) for times in naive.values())
    print(
        f"{'all queries':<20}{'':>8}{mine_total * 1000 / len(queries):>12.1f}"
        f"{theirs_total * 1000 / len(queries):>12.1f}{theirs_total / mine_total:>9.1f}x"
        "   (mean per query)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
