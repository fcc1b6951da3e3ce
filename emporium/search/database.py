"""Full-text search in the database: SQLite FTS5 (trigram) or PostgreSQL tsvector + pg_trgm.

SQLite: `search_product_fts` is an FTS5 external-content table over catalog_product (name, sku,
description) with the trigram tokenizer, kept in sync by triggers, so every quoted term is a
case-insensitive substring match (prefixes included) ranked by bm25 (name 10, sku 4,
description 1). Django's SQLite schema editor rebuilds a table to alter it, which drops the
triggers and may renumber rowids: `ensure_sqlite_index` (run after every `migrate`) restores
them and rebuilds the index when they were missing.

PostgreSQL: two expression GIN indexes on catalog_product, both partial on alive rows: the
weighted tsvector of name (A), sku (B) and description (C) for word prefixes (`lapt:*`), and
`lower(name || ' ' || sku) gin_trgm_ops` for substrings (`LIKE '%apto%'`) and the typo pass.
The expressions below are the indexed ones, character for character; the EXPLAIN test guards
that. The two are never ORed in one condition: a bitmap re-check of the OR would recompute the
tsvector of every matching row. For the same reason ranking does not use ts_rank (it rebuilds the
tsvector per row) but counts the terms that start a word of the name.

Typo tolerance on both: when fewer than SEARCH_FUZZY_MIN_HITS products match, names and SKUs of
products containing a near-spelling of a term (or sharing trigrams with it) are fetched through
the index, each unknown term is corrected to their closest word within `allowed_edits`
("lpatop" -> "laptop"), and the corrected query answers when it finds more.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import and_, or_
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Length

from emporium.catalog.models import Category, Product
from emporium.search.query import (
    FUZZY_CANDIDATES,
    CategoryCount,
    PriceBucket,
    category_counts,
    correct_terms,
    correctable,
    fuzzy_min_hits,
    fuzzy_variants,
    price_bucket_bounds,
    price_buckets,
    search_terms,
    trigrams,
)

if TYPE_CHECKING:
    from django.db.models.sql.compiler import SQLCompiler, _AsSqlType

FTS_TABLE = "search_product_fts"
# bm25 column weights: name, sku, description.
BM25 = f"bm25({FTS_TABLE}, 10.0, 4.0, 1.0)"
PRODUCT_TABLE = "catalog_product"

# Literal SQL (the names are constants): the same statements as migrations/0001.
SQLITE_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_product_fts USING fts5("
    "name, sku, description, content='catalog_product', content_rowid='rowid', "
    "tokenize='trigram')"
)
SQLITE_TRIGGERS = {
    "search_product_fts_ai": (
        "CREATE TRIGGER IF NOT EXISTS search_product_fts_ai AFTER INSERT ON catalog_product "
        "BEGIN INSERT INTO search_product_fts(rowid, name, sku, description) "
        "VALUES (new.rowid, new.name, new.sku, new.description); END"
    ),
    "search_product_fts_ad": (
        "CREATE TRIGGER IF NOT EXISTS search_product_fts_ad AFTER DELETE ON catalog_product "
        "BEGIN INSERT INTO search_product_fts(search_product_fts, rowid, name, sku, description) "
        "VALUES ('delete', old.rowid, old.name, old.sku, old.description); END"
    ),
    # Only the indexed columns: price, stock or publish changes leave the index alone.
    "search_product_fts_au": (
        "CREATE TRIGGER IF NOT EXISTS search_product_fts_au "
        "AFTER UPDATE OF name, sku, description ON catalog_product BEGIN "
        "INSERT INTO search_product_fts(search_product_fts, rowid, name, sku, description) "
        "VALUES ('delete', old.rowid, old.name, old.sku, old.description); "
        "INSERT INTO search_product_fts(rowid, name, sku, description) "
        "VALUES (new.rowid, new.name, new.sku, new.description); END"
    ),
}
SQLITE_REBUILD = "INSERT INTO search_product_fts(search_product_fts) VALUES ('rebuild')"
SQLITE_OPTIMIZE = "INSERT INTO search_product_fts(search_product_fts) VALUES ('optimize')"


def ensure_sqlite_index(db: BaseDatabaseWrapper) -> bool:
    """Create the FTS table and triggers when missing; rebuild the index if any trigger was
    missing (a table rebuild by a migration drops them). Returns whether it rebuilt."""
    if db.vendor != "sqlite":
        return False
    with db.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {row[0] for row in cursor.fetchall()}
        if present >= {FTS_TABLE, *SQLITE_TRIGGERS}:
            return False
        cursor.execute(SQLITE_TABLE)
        for statement in SQLITE_TRIGGERS.values():
            cursor.execute(statement)
        cursor.execute(SQLITE_REBUILD)
    return True


def rebuild_index(db: BaseDatabaseWrapper) -> str:
    """Rebuild the database index (SQLite) or refresh planner statistics (PostgreSQL)."""
    if db.vendor == "sqlite":
        ensure_sqlite_index(db)
        with db.cursor() as cursor:
            cursor.execute(SQLITE_REBUILD)
            cursor.execute(SQLITE_OPTIMIZE)
        return "rebuilt the SQLite FTS5 index from catalog_product"
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute("ANALYZE catalog_product")
        return (
            "PostgreSQL expression indexes follow the table by themselves; "
            "refreshed the planner statistics (ANALYZE catalog_product)"
        )
    return f"nothing to do on {db.vendor}"


# --- PostgreSQL expressions (identical to the indexed ones in migrations/0001) ----------------

# The weighted tsvector of migrations/0001, character for character (the planner matches an
# expression index by its text). Built as one template rather than from SearchVector objects:
# compiling those costs more CPU than the database spends on a selective query.
_PG_DOCUMENT = (
    "((setweight(to_tsvector('simple'::regconfig, COALESCE({name}, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, COALESCE({sku}, '')), 'B')) || "
    "setweight(to_tsvector('simple'::regconfig, COALESCE({description}, '')), 'C'))"
)


class _DocumentMatches(Func):
    """The indexed tsvector of name, SKU and description @@ to_tsquery('simple', query)."""

    output_field = BooleanField()

    def __init__(self, query: str) -> None:
        super().__init__(F("name"), F("sku"), F("description"), Value(query))

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> _AsSqlType:
        (name, sku, description, query), params = _compiled(self, compiler)
        document = _PG_DOCUMENT.format(name=name, sku=sku, description=description)
        return f"{document} @@ to_tsquery('simple'::regconfig, {query})", tuple(params)


class _NameAndSku(Func):
    """lower(name || ' ' || sku): the trigram-indexed text."""

    template = "LOWER(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()


def _pg_name_and_sku() -> Func:
    return _NameAndSku(F("name"), F("sku"))


def _pg_query(terms: list[str]) -> _DocumentMatches:
    # Terms are letters and digits only (query.search_terms), so raw syntax is safe.
    return _DocumentMatches(" & ".join(f"{term}:*" for term in terms))


# --- Matching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """The products matching a query counted per category (None: no category) and price bucket
    (an index into `price_bucket_bounds()`; -1 below the first bound): the total and both
    facets, from one query."""

    counts: dict[tuple[UUID | None, int], int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def categories(self, categories: list[Category]) -> list[CategoryCount]:
        """Per visible category, the matching products in it or below it."""
        direct: dict[UUID, int] = {}
        for (category_id, _bucket), products in self.counts.items():
            if category_id is not None:
                direct[category_id] = direct.get(category_id, 0) + products
        return category_counts(direct, categories)

    def prices(self) -> list[PriceBucket]:
        """The matching products per price bucket."""
        per_bucket = [0] * len(price_bucket_bounds())
        for (_category_id, bucket), products in self.counts.items():
            if bucket >= 0:
                per_bucket[bucket] += products
        return price_buckets(per_bucket)


def _tally(queryset: QuerySet[Product]) -> Tally:
    """Count `queryset` per category and price bucket: one pass over the matching rows, where
    a count, the category facet and the price facet took three. A row's bucket is the first
    bound its price is below (a CASE: a few comparisons a row, not one per bucket)."""
    bounds = price_bucket_bounds()
    bucket = Case(
        *(When(price__lt=bound, then=Value(index - 1)) for index, bound in enumerate(bounds)),
        default=Value(len(bounds) - 1),
        output_field=IntegerField(),
    )
    rows = (
        queryset.order_by()
        .annotate(price_bucket=bucket)
        .values("category_id", "price_bucket")
        .annotate(products=Count("pk"))
        .values_list("category_id", "price_bucket", "products")
    )
    return Tally({(category_id, int(at)): int(products) for category_id, at, products in rows})


@dataclass(frozen=True)
class Matched:
    """The products matching a query: unordered (counts, facets) and ordered by relevance;
    counted when exactly counted (`database_search`)."""

    matching: QuerySet[Product]
    ranked: QuerySet[Product]
    tally: Tally | None = None


def _first_ids(queryset: QuerySet[Product], limit: int) -> list[UUID]:
    # Unordered and limited: cheap even when a common word matches thousands of rows.
    return list(queryset.order_by().values_list("id", flat=True)[:limit])


def _sqlite_join(queryset: QuerySet[Product], match: str) -> QuerySet[Product]:
    # A join on rowid lets SQLite drive the query from the FTS index; extra() is the only way
    # to put a virtual table into the FROM clause.
    # Constant SQL; the match expression is a parameter.
    return queryset.extra(  # noqa: S610  # nosec B610
        tables=[FTS_TABLE],
        where=[f"{FTS_TABLE}.rowid = {PRODUCT_TABLE}.rowid", f"{FTS_TABLE} MATCH %s"],
        params=[match],
        select={"search_rank": BM25},
    )


def _found(queryset: QuerySet[Product], minimum: int, *, exact: bool) -> tuple[int, Tally | None]:
    """How many products `queryset` holds: all of them, counted per category and price bucket,
    when `exact`; else up to `minimum`."""
    if exact:
        tally = _tally(queryset)
        return tally.total, tally
    return (len(_first_ids(queryset, minimum)) if minimum > 0 else 0), None


def _match(
    queryset: QuerySet[Product], terms: list[str], minimum: int, *, exact: bool
) -> tuple[QuerySet[Product], int, Tally | None]:
    """Products containing every term, and how many there are: exactly (with their `Tally`)
    when `exact`, else up to `minimum` (0 when `minimum` is 0). Either way the caller decides
    on the typo pass without asking again.

    SQLite: each term of three letters or more is a substring (FTS5 trigram), shorter ones a
    substring of the name or SKU. PostgreSQL: each term starts a word of the name, SKU or
    description (the tsvector index, no per-row re-check); when that finds fewer than `minimum`
    products, each term may also be a substring of the name or SKU (the trigram index).
    """
    long_terms = [term for term in terms if len(term) >= 3]
    if connection.vendor == "postgresql":
        words = queryset.filter(_pg_query(terms))
        hits = None if exact or minimum <= 0 else _first_ids(words, minimum)
        if hits is None:
            found, tally = _found(words, minimum, exact=exact)
        else:
            found, tally = len(hits), None
        if found >= minimum or not long_terms:
            return words, found, tally
        if hits is None:  # counted: at most minimum - 1 products, fetched in one small query
            hits = _first_ids(words, minimum) if found else []
        substrings = reduce(and_, (Q(search_text__contains=term) for term in long_terms))
        either = queryset.alias(search_text=_pg_name_and_sku()).filter(Q(pk__in=hits) | substrings)
        return either, *_found(either, minimum, exact=exact)
    for term in terms:
        if len(term) < 3:  # the trigram tokenizer cannot look these up
            queryset = queryset.filter(Q(name__icontains=term) | Q(sku__icontains=term))
    matching = queryset
    if long_terms:
        matching = _sqlite_join(queryset, " AND ".join(f'"{term}"' for term in long_terms))
    return matching, *_found(matching, minimum, exact=exact)


def _compiled(expression: Func, compiler: SQLCompiler) -> tuple[list[str], list[Any]]:
    """The SQL of each source expression of `expression`, and their parameters in order."""
    parts: list[str] = []
    params: list[Any] = []
    for source in expression.get_source_expressions():
        sql, source_params = compiler.compile(source)
        parts.append(sql)
        params.extend(source_params)
    return parts, params


class _NameTier(Func):
    """2 when the lowercased name starts with the text, 1 when it contains it elsewhere, else 0.

    A simple CASE over one STRPOS (INSTR on SQLite): lower(name) is computed once per row
    rather than once per LIKE, which is most of the ranking's cost on thousands of matches.
    PostgreSQL lowercases an ASCII text's candidates with the "C" collation: ASCII letters only,
    which is all an ASCII text can match, at a fraction of the cost of the database locale's
    case mapping (SQLite's lower() is ASCII-only anyway)."""

    output_field = IntegerField()
    _TEMPLATE = "CASE {function}({lowered}, {text}) WHEN 0 THEN 0 WHEN 1 THEN 2 ELSE 1 END"

    def __init__(self, text: str) -> None:
        super().__init__(F("name"), Value(text))
        self.ascii = text.isascii()

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> _AsSqlType:
        (name, text), params = _compiled(self, compiler)
        return self._TEMPLATE.format(function="INSTR", lowered=f"LOWER({name})", text=text), tuple(
            params
        )

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> _AsSqlType:
        (name, text), params = _compiled(self, compiler)
        lowered = f'LOWER({name} COLLATE "C")' if self.ascii else f"LOWER({name})"
        return self._TEMPLATE.format(function="STRPOS", lowered=lowered, text=text), tuple(params)


def _ranked(matching: QuerySet[Product], terms: list[str]) -> QuerySet[Product]:
    """Order: names starting with the query, then names containing it, then the rest (matches
    in the SKU or description only); SQLite then uses bm25 (name 10, SKU 4, description 1).
    Ties go to shorter names (a name equal to the query comes first), then id. Every key is
    cheap for thousands of rows: no per-row tsvector, no collation-aware string sort."""
    tier = _NameTier(" ".join(terms))
    ordering: list[str] = ["-search_tier"]
    if "search_rank" in matching.query.extra:
        ordering.append("search_rank")
    return matching.annotate(search_tier=tier, search_length=Length("name")).order_by(
        *ordering, "search_length", "id"
    )


def _corrected_terms(queryset: QuerySet[Product], terms: list[str]) -> list[str]:
    """The terms corrected against the names and SKUs of up to FUZZY_CANDIDATES products
    containing a near-spelling of a term (neighbours swapped, a letter dropped) or, failing that,
    sharing a trigram with one; `terms` itself when nothing closer is found. The sample is not
    ranked: ranking it would cost a similarity computation per matching row."""
    fixable = [term for term in terms if correctable(term)]
    variants = [v for term in fixable for v in fuzzy_variants(term)]
    grams = [g for term in fixable for g in trigrams(term)]
    for patterns in (variants, grams):
        if not patterns:
            continue
        candidates: QuerySet[Product]
        if connection.vendor == "postgresql":
            candidates = queryset.alias(search_text=_pg_name_and_sku()).filter(
                reduce(or_, (Q(search_text__contains=p) for p in dict.fromkeys(patterns)))
            )
        else:
            match = " OR ".join(f'"{p}"' for p in dict.fromkeys(patterns))
            candidates = _sqlite_join(queryset, match)
        rows = candidates.values_list("name", "sku")[:FUZZY_CANDIDATES]
        corrected = correct_terms(terms, [f"{name} {sku}" for name, sku in rows])
        if corrected != terms:
            return corrected
    return terms


def _database_match(queryset: QuerySet[Product], q: str, *, exact: bool) -> tuple[Matched, int]:
    terms = search_terms(q)
    queryset = queryset.order_by()
    if not terms:
        return Matched(matching=queryset.none(), ranked=queryset.none()), 0
    minimum = fuzzy_min_hits()
    matching, found, tally = _match(queryset, terms, minimum, exact=exact)
    if found < minimum:
        corrected = _corrected_terms(queryset, terms)
        if corrected != terms:
            better, better_found, better_tally = _match(queryset, corrected, minimum, exact=exact)
            if better_found > found:
                ranked = _ranked(better, corrected)
                return Matched(better, ranked, better_tally), better_found
    return Matched(matching, _ranked(matching, terms), tally), found


def database_match(queryset: QuerySet[Product], q: str) -> Matched:
    """Restrict `queryset` to products matching `q`, ranked by relevance. When fewer than
    SEARCH_FUZZY_MIN_HITS products match, misspelt terms are corrected to the closest word of
    similar products (within `allowed_edits`) and the corrected query answers if it finds more."""
    matched, _found_up_to_minimum = _database_match(queryset, q, exact=False)
    return matched


def database_search(queryset: QuerySet[Product], q: str) -> tuple[Matched, int]:
    """`database_match` plus the exact number of matching products, counted with the facets
    (`Matched.tally`). The count is taken first and also decides on the typo pass, so a search
    needs no separate look-ahead query."""
    return _database_match(queryset, q, exact=True)
