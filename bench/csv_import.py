"""CSV product import against a raw bulk insert of the same rows, measured in the same run.

    DATABASE_URL=postgresql://... .venv/bin/python bench/csv_import.py --rows 100000
    .venv/bin/python bench/csv_import.py --rows 20000          # embedded SQLite

Generates a CSV file of new products (every column filled, a few categories), then, each in a
fresh tenant of its own: (1) the baseline, `Product.objects.bulk_create` plus the stock rows
from already-parsed values, and (2) `emporium.catalog.imports.product_import` on the file
(parsing, validation, slug generation, bulk writes, one transaction). Prints both durations
and the ratio (target: the import takes at most 3x the baseline). Both tenants and their rows
are deleted afterwards.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "false")  # as in production: no query is recorded
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from emporium.catalog.imports import COLUMNS, product_import  # noqa: E402
from emporium.catalog.models import Category, Product, ProductImportJob  # noqa: E402
from emporium.core.context import tenant_context  # noqa: E402
from emporium.core.ids import uuid7  # noqa: E402
from emporium.inventory.models import Stock  # noqa: E402
from emporium.tenants.models import Tenant  # noqa: E402

CATEGORIES = ("kitchen", "garden", "clothing", "books", "toys")
BATCH_SIZE = 1000


def generate_csv(rows: int) -> bytes:
    """`rows` new products with every column filled."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for i in range(rows):
        writer.writerow(
            [
                f"BENCH-{i:07d}",
                f"Bench product {i}",
                "",
                f"Description of bench product {i}, with a comma.",
                f"{(i % 10000) / 100 + 1:.2f}",
                f"{(i % 10000) / 100 + 5:.2f}",
                "EUR",
                CATEGORIES[i % len(CATEGORIES)],
                json.dumps({"color": ["red", "blue"][i % 2], "size": i % 5}),
                "true",
                "2025-01-01T00:00:00+00:00",
                "",
                str(i % 100),
            ]
        )
    return buffer.getvalue().encode()


def fresh_tenant(label: str) -> Tenant:
    suffix = uuid7().hex[-10:]
    tenant: Tenant = Tenant.objects.create(name=f"Bench {label}", slug=f"bench-{label}-{suffix}")
    with tenant_context(tenant.id):
        for position, slug in enumerate(CATEGORIES):
            Category.objects.create(name=slug.title(), slug=slug, position=position)
    return tenant


def raw_bulk_create(tenant: Tenant, content: bytes) -> float:
    """The baseline: the same rows, parsed beforehand, inserted with bulk_create."""
    with tenant_context(tenant.id):
        categories = {c.slug: c for c in Category.objects.all()}
        records = list(csv.DictReader(io.StringIO(content.decode())))
        started = time.perf_counter()
        with transaction.atomic():
            now = timezone.now()
            products: list[Product] = []
            stock: list[Stock] = []
            for i, row in enumerate(records):
                product = Product(
                    id=uuid7(),
                    tenant_id=tenant.id,
                    sku=row["sku"],
                    name=row["name"],
                    slug=f"bench-product-{i}",
                    description=row["description"],
                    price=Decimal(row["price"]),
                    compare_at_price=Decimal(row["compare_at_price"]),
                    currency=row["currency"],
                    category=categories[row["category"]],
                    attributes=json.loads(row["attributes"]),
                    is_active=True,
                    publish_at=now,
                    created_at=now,
                    updated_at=now,
                )
                products.append(product)
                stock.append(
                    Stock(
                        tenant_id=tenant.id,
                        product_id=product.id,
                        quantity=int(row["stock_quantity"]),
                    )
                )
                if len(products) >= BATCH_SIZE:
                    Product.objects.bulk_create(products)
                    Stock.objects.bulk_create(stock)
                    products, stock = [], []
            Product.objects.bulk_create(products)
            Stock.objects.bulk_create(stock)
        return time.perf_counter() - started


def csv_import(tenant: Tenant, content: bytes) -> tuple[float, Any]:
    with tenant_context(tenant.id):
        started = time.perf_counter()
        report = product_import(source=io.BytesIO(content))
        return time.perf_counter() - started, report


def cleanup(tenant: Tenant) -> None:
    with tenant_context(tenant.id), transaction.atomic():
        Stock.objects.all().delete()
        Product.all_objects.all().hard_delete()
        ProductImportJob.objects.all().delete()
        Category.objects.all().delete()
    tenant.delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    from django.db import connection

    print(f"database: {connection.vendor}, rows: {args.rows}")
    content = generate_csv(args.rows)
    print(f"file: {len(content) / 1_000_000:.1f} MB")
    baseline_tenant = fresh_tenant("raw")
    import_tenant = fresh_tenant("import")
    try:
        baseline = raw_bulk_create(baseline_tenant, content)
        imported, report = csv_import(import_tenant, content)
        with tenant_context(import_tenant.id):
            stored = Product.objects.count()
        if report.created != args.rows or stored != args.rows:
            raise SystemExit(f"import incomplete: {report.as_dict()}, {stored} stored")
    finally:
        cleanup(baseline_tenant)
        cleanup(import_tenant)
    print(f"{'bulk_create (baseline)':<28}{baseline:>10.2f} s{args.rows / baseline:>12.0f} rows/s")
    print(f"{'product_import':<28}{imported:>10.2f} s{args.rows / imported:>12.0f} rows/s")
    print(f"{'ratio import / baseline':<28}{imported / baseline:>10.2f} x   (target <= 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
