"""CSV export of products, streamed in constant memory, in the import's columns.

An export re-imports unchanged: the same columns (`imports.COLUMNS`), prices with two decimal
places, times in ISO 8601 UTC, `attributes` as a JSON object, `is_active` as true/false, empty
cells for missing values. Text cells that a spreadsheet would run as a formula (starting with
`=`, `+`, `-`, `@`, tab or carriage return) are prefixed with `'` (CSV injection); so is a text
cell that already starts with `'`. The importer removes that one `'` again.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Iterator
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet

from emporium.catalog.imports import COLUMNS, csv_escape
from emporium.catalog.models import Product

# Rows fetched per database round trip, and rows per chunk of the response body.
FETCH_SIZE = 2000
ROWS_PER_CHUNK = 500


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _time(value: datetime.datetime | None) -> str:
    return "" if value is None else value.astimezone(datetime.UTC).isoformat()


def _stock(product: Product) -> int:
    try:
        return int(product.stock.quantity)
    except ObjectDoesNotExist:  # no stock row: nothing on hand
        return 0


def product_csv_row(product: Product) -> list[str]:
    """One product's cells in `COLUMNS` order (category and stock read from the joined rows)."""
    return [
        csv_escape(product.sku),
        csv_escape(product.name),
        csv_escape(product.slug),
        csv_escape(product.description),
        _money(product.price),
        _money(product.compare_at_price),
        product.currency,
        csv_escape(product.category.slug) if product.category is not None else "",
        json.dumps(product.attributes or {}, ensure_ascii=False, sort_keys=True),
        "true" if product.is_active else "false",
        _time(product.publish_at),
        _time(product.unpublish_at),
        str(_stock(product)),
    ]


def product_csv_chunks(products: QuerySet[Product]) -> Iterator[bytes]:
    """The CSV file of `products` (header first) as UTF-8 byte chunks of several rows each.

    The queryset is read with `.iterator()`, so memory stays flat however many rows there are;
    category and stock are joined here.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    products = products.select_related("category", "stock")
    for rows, product in enumerate(products.iterator(chunk_size=FETCH_SIZE), start=1):
        writer.writerow(product_csv_row(product))
        if rows % ROWS_PER_CHUNK == 0:
            yield _drain(buffer)
    tail = _drain(buffer)
    if tail:
        yield tail


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data
