"""CSV import of products: parse, validate and upsert by SKU with bulk queries.

One row is one product, matched by `sku` among the shop's live products: unknown SKUs create a
product (and its stock row), known ones are updated where a cell differs, the rest are counted
as unchanged. Rows are handled in chunks of `CHUNK_SIZE`: one query reads the chunk's existing
products, a few more check slugs, and the writes are `bulk_create` / `bulk_update`. The whole
import is one transaction; without `partial` it is rolled back as soon as any row is invalid,
but every row is still checked so that all errors are reported (with the row's line number,
header = line 1). `dry_run` checks everything and writes nothing.

Empty cells: a column left out of the file is never touched. An empty cell means "no value":
`description`, `attributes`, `compare_at_price`, `category`, `publish_at` and `unpublish_at`
are cleared; fields that always have a value (`name`, `slug`, `price`, `currency`,
`is_active`, `stock_quantity`) keep the current one, and a new product gets the default
(`name` and `price` have none, so they are required for new products).

Text cells are escaped against CSV injection on export (see `csv_escape`); the importer
undoes it, so an export re-imports unchanged. Large files go to a background job
(`ProductImportJob`, task `catalog.import_products`): see `product_import_job_create`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, Storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from emporium.catalog import events
from emporium.catalog.models import Category, Product, ProductImportJob, ProductSlugRedirect
from emporium.catalog.services import (
    CURRENCY_RE,
    RESERVED_SLUGS,
    SLUG_MAX_LENGTH,
    _check_prices,
    _check_window,
    _slug_base,
)
from emporium.core.context import require_current_tenant_id, tenant_context
from emporium.core.errors import ApplicationError
from emporium.core.ids import uuid7
from emporium.core.logging import get_logger
from emporium.inventory import services as inventory_services
from emporium.inventory.models import Stock

log = get_logger(__name__)

# Import and export share these columns, in this order.
COLUMNS = (
    "sku",
    "name",
    "slug",
    "description",
    "price",
    "compare_at_price",
    "currency",
    "category",
    "attributes",
    "is_active",
    "publish_at",
    "unpublish_at",
    "stock_quantity",
)
# Free-text columns: escaped against CSV injection on export, unescaped on import.
TEXT_COLUMNS = frozenset({"sku", "name", "slug", "description", "category"})
# A spreadsheet treats a cell starting with one of these as a formula (OWASP's list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"

CHUNK_SIZE = 1000
ERRORS_KEPT = 1000
DEFAULT_CURRENCY = "EUR"
SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 255
MONEY_MAX_DIGITS = 12
MONEY_DECIMAL_PLACES = 2
STOCK_MAX = 2_147_483_647
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


def max_rows() -> int:
    """Rows allowed in one file (`settings.CATALOG_IMPORT_MAX_ROWS`)."""
    return int(settings.CATALOG_IMPORT_MAX_ROWS)


def max_bytes() -> int:
    """Bytes allowed in one file (`settings.CATALOG_IMPORT_MAX_BYTES`)."""
    return int(settings.CATALOG_IMPORT_MAX_BYTES)


def sync_max_bytes() -> int:
    """Files up to this size are imported during the request; larger ones by a job."""
    return int(settings.CATALOG_IMPORT_SYNC_MAX_BYTES)


# --- Errors ----------------------------------------------------------------------------------


class ImportFileError(ApplicationError):
    """The file as a whole cannot be imported (encoding, CSV syntax, header, size)."""

    status = 400
    code = "invalid_csv"
    title = _lazy("The file is not a valid CSV file.")

    def __init__(self, detail: str | None = None, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(detail)


class FileTooLarge(ImportFileError):
    code = "file_too_large"
    title = _lazy("The file is too large.")


class UnknownColumns(ImportFileError):
    code = "unknown_columns"


class MissingColumns(ImportFileError):
    code = "missing_columns"


class DuplicateColumns(ImportFileError):
    code = "duplicate_columns"


class ImportConflict(ApplicationError):
    status = 409
    code = "import_conflict"
    title = _lazy(
        "Another change to the same products happened during the import; nothing was "
        "written. Try again."
    )


class _CellError(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


# --- Report ----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did (or, for a dry run or a rejected file, would do)."""

    dry_run: bool = False
    partial: bool = False
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_count: int = 0
    # The first ERRORS_KEPT errors: {"line", "field", "code", "message"}.
    errors: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False

    def add_error(self, *, line: int, field_name: str, code: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(
                {"line": line, "field": field_name, "code": code, "message": str(message)}
            )

    @property
    def rejected(self) -> bool:
        """True when invalid rows stopped an all-or-nothing import from writing anything."""
        return self.error_count > 0 and not self.partial and not self.dry_run

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "partial": self.partial,
            "written": self.written,
            "total_rows": self.total_rows,
            "processed_rows": self.total_rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "error_count": self.error_count,
            "errors": self.errors,
        }


# --- CSV injection escaping -------------------------------------------------------------------


def csv_escape(value: str) -> str:
    """Prefix `'` to a cell a spreadsheet would run as a formula (and to one already starting
    with `'`, so that `csv_unescape` restores every value exactly)."""
    if value.startswith((*FORMULA_TRIGGERS, ESCAPE)):
        return ESCAPE + value
    return value


def csv_unescape(value: str) -> str:
    """Undo `csv_escape`: drop one leading `'` before a formula character or another `'`."""
    if (
        value.startswith(ESCAPE)
        and value[1:2]
        and value[1:].startswith((*FORMULA_TRIGGERS, ESCAPE))
    ):
        return value[1:]
    return value


# --- Reading the file ------------------------------------------------------------------------


@dataclass
class CsvFile:
    """The header (normalised column names) and the data rows of an open CSV file."""

    columns: list[str]
    rows: Iterator[tuple[int, list[str]]]


@contextlib.contextmanager
def _decoded(source: IO[bytes]) -> Iterator[io.TextIOWrapper]:
    """The file as text. utf-8-sig drops a byte-order mark; newline="" is what the csv module
    expects. The wrapper is detached afterwards so that it does not close `source`."""
    binary = getattr(source, "file", source)  # a Django File: its underlying file object
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
    try:
        yield text
    finally:
        text.detach()


def _check_columns(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise UnknownColumns(
            _("Unknown columns: %(columns)s. Allowed: %(allowed)s.")
            % {"columns": ", ".join(unknown) or '""', "allowed": ", ".join(COLUMNS)},
            line=1,
        )
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise DuplicateColumns(
            _("Columns appear more than once: %(columns)s.") % {"columns": ", ".join(duplicates)},
            line=1,
        )
    if "sku" not in columns:
        raise MissingColumns(_("The column sku is required."), line=1)
    return columns


def open_csv(text: IO[str], *, row_limit: int | None = None) -> CsvFile:
    """Read and check the header of a CSV text stream; rows are read lazily.

    Raises `ImportFileError` (and subclasses) for a bad header here and for bad bytes, broken
    CSV syntax or too many rows while the rows are read.
    """
    reader = csv.reader(text, strict=True)
    limit = row_limit if row_limit is not None else max_rows()
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _file_error(exc, line=1) from exc
    if header is None or not any(cell.strip() for cell in header):
        raise ImportFileError(_("The file is empty: a header row is required."), line=1)
    columns = _check_columns(header)

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = 1
        count = 0
        while True:
            try:
                cells = next(reader, None)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise _file_error(exc, line=line + 1) from exc
            if cells is None:
                return
            line += 1
            if any("\x00" in cell for cell in cells):
                # No database text column can hold it (PostgreSQL refuses NUL outright).
                raise ImportFileError(
                    _("Line %(line)s contains a NUL character.") % {"line": line}, line=line
                )
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are skipped, still counted for line numbers
            count += 1
            if count > limit:
                raise FileTooLarge(
                    _("The file has more than %(limit)s rows; split it.") % {"limit": limit},
                    line=line,
                )
            yield line, cells

    return CsvFile(columns=columns, rows=rows())


def _file_error(exc: Exception, *, line: int) -> ImportFileError:
    if isinstance(exc, UnicodeDecodeError):
        return ImportFileError(
            _("Line %(line)s is not valid UTF-8; save the file as UTF-8 CSV.") % {"line": line},
            line=line,
        )
    return ImportFileError(
        _("Line %(line)s is not valid CSV: %(error)s") % {"line": line, "error": str(exc)},
        line=line,
    )


def check_header(source: IO[bytes]) -> list[str]:
    """The file's columns; raises `ImportFileError` for a bad header. Rewinds `source`."""
    with _decoded(source) as text:
        columns = open_csv(text).columns
    source.seek(0)
    return columns


def count_rows(source: IO[bytes]) -> int:
    """How many data rows the file has (checks encoding, syntax and the limits on the way).
    Rewinds `source`."""
    with _decoded(source) as text:
        total = sum(1 for _row in open_csv(text).rows)
    source.seek(0)
    return total


# --- Parsing cells ---------------------------------------------------------------------------


def _parse_money(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _CellError("invalid", _("Enter a number such as 12.50.")) from None
    if not value.is_finite():
        raise _CellError("invalid", _("Enter a number such as 12.50."))
    if value < 0:
        raise _CellError("min_value", _("Must not be negative."))
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if places > MONEY_DECIMAL_PLACES:
        raise _CellError("max_decimal_places", _("Use at most 2 decimal places."))
    quantized = value.quantize(Decimal("0.01"))
    if len(quantized.as_tuple().digits) > MONEY_MAX_DIGITS:
        raise _CellError("max_digits", _("Use at most 12 digits."))
    return quantized


def _parse_bool(raw: str) -> bool:
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _CellError("invalid", _("Use true or false (also 1/0, yes/no)."))


def _parse_datetime(raw: str) -> datetime.datetime:
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw)
            if day is not None:
                value = datetime.datetime.combine(day, datetime.time())
    except ValueError:
        value = None
    if value is None:
        raise _CellError("invalid", _("Use an ISO 8601 time such as 2025-03-01T09:00:00Z."))
    if timezone.is_naive(value):
        value = value.replace(tzinfo=datetime.UTC)  # documented: times without offset are UTC
    return value


def _parse_attributes(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise _CellError(
            "invalid_json", _('Enter a JSON object such as {"color": "red"}.')
        ) from None
    if not isinstance(value, dict):
        raise _CellError("not_an_object", _('Enter a JSON object such as {"color": "red"}.'))
    return value


def _parse_stock(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _CellError("invalid", _("Enter a whole number.")) from None
    if value < 0:
        raise _CellError("min_value", _("Must not be negative."))
    if value > STOCK_MAX:
        raise _CellError("max_value", _("The number is too large."))
    return value


def _parse_slug(raw: str) -> str:
    if len(raw) > SLUG_MAX_LENGTH:
        raise _CellError("max_length", _("Use at most 255 characters."))
    if not SLUG_RE.match(raw):
        raise _CellError("invalid", _("Use only letters, digits, hyphens and underscores."))
    if raw in RESERVED_SLUGS:
        raise _CellError("reserved", _("This slug is reserved; choose another."))
    return raw


def _parse_text(raw: str, *, max_length: int) -> str:
    if len(raw) > max_length:
        raise _CellError("max_length", _("Use at most %(n)s characters.") % {"n": max_length})
    return raw


def _parse_currency(raw: str) -> str:
    if not CURRENCY_RE.match(raw):
        raise _CellError("invalid", _("Use an ISO 4217 code of three capital letters, e.g. EUR."))
    return raw


# --- Validating rows -------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    sku: str
    product: Product | None  # None: a new product
    # Field name -> new value (category as a Category or None); only fields the row sets.
    values: dict[str, Any]
    stock_quantity: int | None
    slug_wanted: str | None  # an explicit slug different from the current one
    changed: set[str] = field(default_factory=set)
    stock_changed: bool = False
    old_slug: str | None = None


@dataclass
class _State:
    """What the import remembers across chunks: kept small (sets of strings)."""

    tenant_id: UUID
    categories: dict[str, Category]
    seen_skus: set[str] = field(default_factory=set)
    # Slugs the file has given out so far, plus old slugs of renamed products (redirects).
    claimed_slugs: set[str] = field(default_factory=set)
    next_suffix: dict[str, int] = field(default_factory=dict)


def _cell(row: dict[str, str], column: str) -> str:
    raw = row.get(column, "")
    if column != "description":
        raw = raw.strip()
    return csv_unescape(raw) if column in TEXT_COLUMNS else raw


def _parse_row(
    line: int, row: dict[str, str], product: Product | None, state: _State, report: ImportReport
) -> _Row | None:
    """The row's intended values, or None after reporting its errors."""
    sku = _cell(row, "sku")
    errors: list[tuple[str, str, str]] = []
    values: dict[str, Any] = {}
    stock_quantity: int | None = None

    def parse(column: str, parser: Callable[[str], Any]) -> None:
        if column not in row:
            return
        raw = _cell(row, column)
        try:
            value = parser(raw) if raw else None
        except _CellError as exc:
            errors.append((column, exc.code, exc.message))
            return
        if value is None:
            if column in ("description",):
                values[column] = ""
            elif column == "attributes":
                values[column] = {}
            elif column in ("compare_at_price", "category", "publish_at", "unpublish_at"):
                values[column] = None
            # Other columns: an empty cell keeps the current value (or the default).
            return
        values[column] = value

    def category(raw: str) -> Category:
        found = state.categories.get(raw)
        if found is None:
            raise _CellError("does_not_exist", _("No category with this slug exists."))
        return found

    parse("name", lambda raw: _parse_text(raw, max_length=NAME_MAX_LENGTH))
    parse("slug", _parse_slug)
    parse("description", lambda raw: raw)
    parse("price", _parse_money)
    parse("compare_at_price", _parse_money)
    parse("currency", _parse_currency)
    parse("category", category)
    parse("attributes", _parse_attributes)
    parse("is_active", _parse_bool)
    parse("publish_at", _parse_datetime)
    parse("unpublish_at", _parse_datetime)
    if "stock_quantity" in row and _cell(row, "stock_quantity"):
        try:
            stock_quantity = _parse_stock(_cell(row, "stock_quantity"))
        except _CellError as exc:
            errors.append(("stock_quantity", exc.code, exc.message))

    if product is None:
        for required in ("name", "price"):
            if required not in values and not any(e[0] == required for e in errors):
                errors.append((required, "required", _("Required for a new product.")))
    if not errors:
        try:
            _check_prices(
                price=values.get("price", product.price if product else Decimal("0")),
                compare_at_price=values.get(
                    "compare_at_price", product.compare_at_price if product else None
                ),
            )
            _check_window(
                publish_at=values.get("publish_at", product.publish_at if product else None),
                unpublish_at=values.get("unpublish_at", product.unpublish_at if product else None),
            )
        except ValidationError as exc:
            for key, messages in exc.error_dict.items():
                errors.append((key, messages[0].code or "invalid", messages[0].messages[0]))
    for column, code, message in errors:
        report.add_error(line=line, field_name=column, code=code, message=message)
    if errors:
        return None

    slug_wanted = values.pop("slug", None)
    if product is not None and slug_wanted == product.slug:
        slug_wanted = None
    return _Row(
        line=line,
        sku=sku,
        product=product,
        values=values,
        stock_quantity=stock_quantity,
        slug_wanted=slug_wanted,
    )


def _diff(row: _Row) -> None:
    """Record which fields of an existing product the row changes."""
    product = row.product
    if product is None:
        return
    for name, value in row.values.items():
        if name == "category":
            if (value.pk if value is not None else None) != product.category_id:
                row.changed.add(name)
        elif getattr(product, name) != value:
            row.changed.add(name)
    if row.slug_wanted is not None:
        row.changed.add("slug")
    if row.stock_quantity is not None:
        stock = _stock_of(product)
        current = stock.quantity if stock is not None else 0
        row.stock_changed = row.stock_quantity != current


def _stock_of(product: Product) -> Stock | None:
    try:
        stock: Stock = product.stock
    except Stock.DoesNotExist:
        return None
    return stock


def _taken_slugs(candidates: set[str], *, prefixes: set[str]) -> set[str]:
    """Slugs among `candidates` (exact) or starting with `prefixes` used by live products or
    redirects."""
    if not candidates and not prefixes:
        return set()
    taken: set[str] = set()
    for model in (Product, ProductSlugRedirect):
        query = Q(slug__in=candidates) if candidates else Q()
        for prefix in sorted(prefixes):
            query |= Q(slug__startswith=prefix)
        taken.update(model.objects.filter(query).values_list("slug", flat=True))
    return taken


def _assign_slugs(rows: list[_Row], state: _State, report: ImportReport) -> list[_Row]:
    """Explicit slugs are checked first, then new products without one get `name`,
    `name-2`... free in the database, among redirects, reserved words and the file."""
    explicit = {row.slug_wanted for row in rows if row.slug_wanted is not None}
    owners: dict[str, UUID] = {}
    if explicit:
        owners = dict(Product.objects.filter(slug__in=explicit).values_list("slug", "id"))
    kept: list[_Row] = []
    for row in rows:
        slug = row.slug_wanted
        if slug is None:
            kept.append(row)
            continue
        own_id = row.product.pk if row.product is not None else None
        if slug in state.claimed_slugs or owners.get(slug, own_id) != own_id:
            report.add_error(
                line=row.line,
                field_name="slug",
                code="unique",
                message=_("Another product (or another row of the file) uses this slug."),
            )
            continue
        state.claimed_slugs.add(slug)
        if row.product is not None:
            row.old_slug = row.product.slug
            state.claimed_slugs.add(row.product.slug)  # becomes a redirect
        kept.append(row)

    generated = [row for row in kept if row.product is None and row.slug_wanted is None]
    bases = {_slug_base(str(row.values["name"])) for row in generated}
    taken = _taken_slugs(bases, prefixes=set())
    crowded = {
        base
        for base in bases
        if base in taken or base in state.claimed_slugs or base in RESERVED_SLUGS
    }
    if crowded:
        # Only names already in use need the wider look-up for their numbered variants.
        taken |= _taken_slugs(set(), prefixes=crowded)
    for row in generated:
        base = _slug_base(str(row.values["name"]))
        slug = base
        suffix = state.next_suffix.get(base, 1)
        while slug in taken or slug in state.claimed_slugs or slug in RESERVED_SLUGS:
            suffix += 1
            slug = f"{base}-{suffix}"
        if slug != base:
            state.next_suffix[base] = suffix
        state.claimed_slugs.add(slug)
        row.slug_wanted = slug
    return kept


def _validate_chunk(
    chunk: list[tuple[int, list[str]]], columns: list[str], state: _State, report: ImportReport
) -> list[_Row]:
    records: list[tuple[int, dict[str, str]]] = []
    for line, cells in chunk:
        if len(cells) != len(columns):
            report.add_error(
                line=line,
                field_name="",
                code="wrong_column_count",
                message=_("The row has %(got)s cells; the header has %(want)s.")
                % {"got": len(cells), "want": len(columns)},
            )
            continue
        record = dict(zip(columns, cells, strict=True))
        sku = _cell(record, "sku")
        problem: tuple[str, str] | None = None
        if not sku:
            problem = ("required", _("Every row needs a SKU."))
        elif len(sku) > SKU_MAX_LENGTH:
            problem = ("max_length", _("Use at most 64 characters."))
        elif sku in state.seen_skus:
            problem = ("duplicate", _("This SKU appears on an earlier line of the file."))
        if problem is not None:
            report.add_error(line=line, field_name="sku", code=problem[0], message=problem[1])
            continue
        state.seen_skus.add(sku)
        records.append((line, record))

    skus = [_cell(record, "sku") for _line, record in records]
    existing = {
        product.sku: product
        for product in Product.objects.filter(sku__in=skus).select_related("stock")
    }
    rows: list[_Row] = []
    for line, record in records:
        parsed = _parse_row(line, record, existing.get(_cell(record, "sku")), state, report)
        if parsed is not None:
            rows.append(parsed)
    rows = _assign_slugs(rows, state, report)
    accepted: list[_Row] = []
    for row in rows:
        if row.product is None:
            report.created += 1
            accepted.append(row)
            continue
        _diff(row)
        stock = _stock_of(row.product)
        if (
            row.stock_changed
            and stock is not None
            and row.stock_quantity is not None
            and row.stock_quantity < stock.reserved
        ):
            report.add_error(
                line=row.line,
                field_name="stock_quantity",
                code="below_reserved",
                message=_("Unpaid orders hold %(reserved)d units: the quantity cannot be lower.")
                % {"reserved": stock.reserved},
            )
            continue
        if row.changed or row.stock_changed:
            report.updated += 1
        else:
            report.unchanged += 1
        accepted.append(row)
    return accepted


# --- Writing ---------------------------------------------------------------------------------


def _write_chunk(rows: list[_Row], state: _State) -> None:
    now = timezone.now()
    new_products: list[Product] = []
    new_stock: list[Stock] = []
    changed_products: list[Product] = []
    changed_fields: set[str] = set()
    changed_stock: dict[UUID, int] = {}
    claimed: list[str] = []
    redirects: list[ProductSlugRedirect] = []
    for row in rows:
        if row.product is None:
            product = Product(
                id=uuid7(),
                tenant_id=state.tenant_id,
                sku=row.sku,
                slug=str(row.slug_wanted),
                currency=DEFAULT_CURRENCY,
                created_at=now,
                updated_at=now,
            )
            for name, value in row.values.items():
                setattr(product, name, value)
            new_products.append(product)
            new_stock.append(
                Stock(
                    tenant_id=state.tenant_id,
                    product_id=product.id,
                    quantity=row.stock_quantity or 0,
                )
            )
            claimed.append(product.slug)
            continue
        product = row.product
        if row.changed:
            for name in row.changed:
                if name == "slug":
                    product.slug = str(row.slug_wanted)
                else:
                    setattr(product, name, row.values[name])
            product.updated_at = now
            changed_products.append(product)
            changed_fields |= row.changed
        if row.old_slug is not None:
            claimed.extend([product.slug, row.old_slug])
            redirects.append(
                ProductSlugRedirect(tenant_id=state.tenant_id, product=product, slug=row.old_slug)
            )
        if row.stock_changed and row.stock_quantity is not None:
            # Existing products go through inventory: locked, checked against reservations,
            # and audited with a movement row.
            changed_stock[product.pk] = row.stock_quantity
    if changed_products:
        Product.objects.bulk_update(changed_products, [*sorted(changed_fields), "updated_at"])
    if claimed:
        # A live product owns its slug: redirects of the same slugs give way (and an old slug
        # is re-pointed at the renamed product below).
        ProductSlugRedirect.objects.filter(slug__in=claimed).delete()
    if redirects:
        ProductSlugRedirect.objects.bulk_create(redirects)
    if new_products:
        Product.objects.bulk_create(new_products)
    if new_stock:
        Stock.objects.bulk_create(new_stock)
    if changed_stock:
        inventory_services.stock_set_many(quantities=changed_stock)
    events.products_changed(
        [p.pk for p in new_products] + [p.pk for p in changed_products] + list(changed_stock)
    )


# --- The import ------------------------------------------------------------------------------


def _chunks(
    rows: Iterator[tuple[int, list[str]]], size: int
) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def product_import(
    *,
    source: IO[bytes],
    dry_run: bool = False,
    partial: bool = False,
    on_progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Import products of the current shop from a CSV file (see the module docstring).

    Raises `ImportFileError` when the file as a whole is unusable; row errors are in the
    report. Without `partial`, any invalid row means nothing is written (`report.rejected`).
    `on_progress(rows_done)` is called after each chunk.
    """
    with _decoded(source) as text:
        return _import(
            open_csv(text),
            dry_run=dry_run,
            partial=partial,
            on_progress=on_progress,
            chunk_size=chunk_size,
        )


def _import(
    data: CsvFile,
    *,
    dry_run: bool,
    partial: bool,
    on_progress: Callable[[int], None] | None,
    chunk_size: int,
) -> ImportReport:
    report = ImportReport(dry_run=dry_run, partial=partial)
    state = _State(
        tenant_id=require_current_tenant_id(),
        categories={category.slug: category for category in Category.objects.all()},
    )
    # A dry run opens no transaction: it holds no locks, and its progress is visible.
    scope = contextlib.nullcontext() if dry_run else transaction.atomic()
    try:
        with scope:
            for chunk in _chunks(data.rows, chunk_size):
                rows = _validate_chunk(chunk, data.columns, state, report)
                report.total_rows += len(chunk)
                if not dry_run and (partial or report.error_count == 0):
                    _write_chunk(rows, state)
                if on_progress is not None:
                    on_progress(report.total_rows)
            report.written = not dry_run and (partial or report.error_count == 0)
            if not dry_run and not report.written:
                transaction.set_rollback(True)
    except IntegrityError as exc:
        # A concurrent writer took a SKU or slug between the checks and the write.
        raise ImportConflict() from exc
    log.info(
        "products_imported",
        dry_run=dry_run,
        partial=partial,
        written=report.written,
        rows=report.total_rows,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        errors=report.error_count,
    )
    return report


# --- Background jobs for large files ---------------------------------------------------------


def import_storage() -> Storage:
    """Where uploaded files wait for the worker: a private directory, never served
    (`settings.CATALOG_IMPORT_ROOT`, default `VAR_DIR/imports`)."""
    root = settings.CATALOG_IMPORT_ROOT
    return FileSystemStorage(location=str(root))


def product_import_job_create(
    *,
    upload: File[Any],
    filename: str,
    dry_run: bool,
    partial: bool,
    created_by_id: UUID | None,
) -> ProductImportJob:
    """Store the file privately and queue `catalog.import_products` after the commit. The
    header is checked now, so a wrong column is a 400 instead of a failed job."""
    check_header(upload)  # rows are read by the job
    job_id = uuid7()
    tenant_id = require_current_tenant_id()
    storage = import_storage()
    path = storage.save(f"{tenant_id}/{job_id}.csv", upload)
    try:
        with transaction.atomic():
            job: ProductImportJob = ProductImportJob.objects.create(
                id=job_id,
                created_by_id=created_by_id,
                filename=filename[:255],
                file_path=path,
                dry_run=dry_run,
                partial=partial,
            )
            transaction.on_commit(lambda: _run_later(str(job_id)))
    except Exception:
        storage.delete(path)
        raise
    log.info("product_import_queued", job_id=str(job_id), size=upload.size)
    return job


def _run_later(job_id: str) -> None:
    from emporium.catalog.tasks_imports import import_products

    import_products.delay(job_id)


def _save_job(job: ProductImportJob, report: ImportReport, status: str) -> None:
    job.status = status
    job.total_rows = report.total_rows
    job.processed_rows = report.total_rows
    job.created_count = report.created
    job.updated_count = report.updated
    job.unchanged_count = report.unchanged
    job.error_count = report.error_count
    job.errors = report.errors
    job.finished_at = timezone.now()
    job.save()


def _file_failure(exc: ImportFileError) -> ImportReport:
    report = ImportReport()
    report.add_error(line=exc.line or 0, field_name="", code=exc.code, message=exc.detail)
    return report


def product_import_job_run(*, job_id: UUID | str) -> ProductImportJob | None:
    """Run a queued import. Idempotent: a finished job is left alone, and a rerun after a
    crash starts again (the write phase is one transaction, so nothing half-done remains).

    First a checking pass (a dry run) counts the rows and updates `processed_rows` chunk by
    chunk; then, unless it was a dry run or invalid rows reject the file, the writing pass
    runs in one transaction.
    """
    found: ProductImportJob | None = ProductImportJob.unscoped.filter(id=job_id).first()
    finished = (ProductImportJob.Status.SUCCEEDED, ProductImportJob.Status.FAILED)
    if found is None or found.status in finished:
        return found
    with tenant_context(found.tenant_id):
        job: ProductImportJob = ProductImportJob.objects.get(id=found.id)
        job.status = ProductImportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.processed_rows = 0
        job.save(update_fields=["status", "started_at", "processed_rows", "updated_at"])
        storage = import_storage()
        try:
            with storage.open(job.file_path, "rb") as source:
                total = count_rows(source)
                ProductImportJob.objects.filter(id=job.id).update(
                    total_rows=total, updated_at=timezone.now()
                )

                def progress(done: int) -> None:
                    ProductImportJob.objects.filter(id=job.id).update(
                        processed_rows=done, updated_at=timezone.now()
                    )

                report = product_import(
                    source=source, dry_run=True, partial=job.partial, on_progress=progress
                )
                if not job.dry_run and (job.partial or report.error_count == 0):
                    source.seek(0)
                    report = product_import(source=source, partial=job.partial)
                elif not job.dry_run:
                    report.dry_run = False  # rejected: report it as the real import
        except ImportFileError as exc:
            _save_job(job, _file_failure(exc), ProductImportJob.Status.FAILED)
        else:
            status = (
                ProductImportJob.Status.FAILED
                if report.rejected
                else ProductImportJob.Status.SUCCEEDED
            )
            _save_job(job, report, status)
        _delete_file(storage, job.file_path)
    log.info("product_import_finished", job_id=str(job.id), status=job.status)
    return job


def product_import_job_fail(*, job_id: UUID | str) -> None:
    """Mark a job that crashed (after its last retry) as failed and drop its file."""
    job: ProductImportJob | None = ProductImportJob.unscoped.filter(id=job_id).first()
    if job is None:
        return
    with tenant_context(job.tenant_id):
        ProductImportJob.objects.filter(
            id=job.id,
            status__in=[ProductImportJob.Status.PENDING, ProductImportJob.Status.RUNNING],
        ).update(status=ProductImportJob.Status.FAILED, finished_at=timezone.now())
        _delete_file(import_storage(), job.file_path)
    log.error("product_import_failed", job_id=str(job_id))


def _delete_file(storage: Storage, path: str) -> None:
    if not path:
        return
    try:
        storage.delete(path)
    except OSError:
        log.warning("product_import_file_not_deleted", path=path)


def product_import_job_get(*, job_id: UUID) -> ProductImportJob | None:
    """A job of the current shop, or None."""
    job: ProductImportJob | None = ProductImportJob.objects.filter(id=job_id).first()
    return job


def job_report(job: ProductImportJob) -> dict[str, Any]:
    """The report of a job, in the shape of `ImportReport.as_dict`."""
    return {
        "dry_run": job.dry_run,
        "partial": job.partial,
        "written": job.status == ProductImportJob.Status.SUCCEEDED and not job.dry_run,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "error_count": job.error_count,
        "errors": job.errors,
    }
