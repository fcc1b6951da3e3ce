"""What a search asks and answers, independent of the backend, plus the typo-matching helpers.

Both backends take a `SearchParams` and return a `SearchPage`; the database backend and the
Elasticsearch backend then render identically (see api.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings

from emporium.catalog.models import Category

MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 200
# Words beyond this are ignored: each one is another index condition.
MAX_TERMS = 8
# Typo tolerance: how many candidate rows the correction looks at.
FUZZY_CANDIDATES = 200

# Letters and digits; underscores and punctuation separate words (as the index parsers do).
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def search_terms(q: str) -> list[str]:
    """The query's words, lowercased, de-duplicated, in order (punctuation separates words)."""
    words = [word.lower() for word in _WORD.findall(q)]
    return list(dict.fromkeys(words))[:MAX_TERMS]


def price_bucket_bounds() -> tuple[Decimal, ...]:
    """The lower bounds of the price facet's buckets (setting SEARCH_PRICE_BUCKETS)."""
    bounds = settings.SEARCH_PRICE_BUCKETS
    return tuple(Decimal(str(bound)) for bound in bounds)


def fuzzy_min_hits() -> int:
    """Below this many hits, substrings and then corrected spellings are tried (setting)."""
    return int(settings.SEARCH_FUZZY_MIN_HITS)


@dataclass(frozen=True)
class SearchParams:
    """A validated search: the query, the product-list filters and the page wanted."""

    q: str
    now: datetime
    category_ids: frozenset[UUID] | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    ordering: str | None = None  # None: by relevance
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True)
class PriceBucket:
    """Products priced in [low, high); `high` None means no upper bound."""

    low: Decimal
    high: Decimal | None
    count: int


@dataclass(frozen=True)
class CategoryCount:
    """A visible category and how many matching products lie in it or below it."""

    category: Category
    count: int


@dataclass
class SearchPage:
    """One page of results (products in rank order, as rows of `catalog.product_rows` with their
    `images`, which `catalog.serializers.product_body` renders) with the total and the facets."""

    count: int
    products: list[dict[str, Any]]
    categories: list[CategoryCount] = field(default_factory=list)
    prices: list[PriceBucket] = field(default_factory=list)


def price_buckets(counts: list[int]) -> list[PriceBucket]:
    """Buckets for per-bound counts (aligned with `price_bucket_bounds()`); empty ones dropped."""
    bounds = price_bucket_bounds()
    buckets: list[PriceBucket] = []
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        high = bounds[index + 1] if index + 1 < len(bounds) else None
        buckets.append(PriceBucket(low=bounds[index], high=high, count=count))
    return buckets


def category_counts(direct: dict[UUID, int], categories: list[Category]) -> list[CategoryCount]:
    """Roll per-category counts up the tree: a category counts its own products and those of
    its descendants, the same set its `category` filter selects. `categories` are the visible
    ones (`category_list()`); products in hidden categories are not offered as facets."""
    parents = {category.id: category.parent_id for category in categories}
    totals: dict[UUID, int] = {}
    for category_id, count in direct.items():
        node: UUID | None = category_id
        seen: set[UUID] = set()
        while node is not None and node in parents and node not in seen:
            seen.add(node)
            totals[node] = totals.get(node, 0) + count
            node = parents[node]
    facets = [
        CategoryCount(category=category, count=totals[category.id])
        for category in categories
        if totals.get(category.id)
    ]
    facets.sort(key=lambda facet: (-facet.count, facet.category.name, facet.category.slug))
    return facets


# --- Typo tolerance ---------------------------------------------------------------------------


def allowed_edits(word: str) -> int:
    """Edits tolerated in a word, as Elasticsearch's `fuzziness: AUTO`: 0, 1 from 3, 2 from 6."""
    if len(word) < 3:
        return 0
    return 1 if len(word) < 6 else 2


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap of neighbours is 1."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def word_edits(term: str, word: str) -> int:
    """Fewest edits turning `term` into `word` or into a prefix of it."""
    best = edit_distance(term, word)
    for length in (len(term) - 1, len(term), len(term) + 1):
        if 0 < length < len(word):
            best = min(best, edit_distance(term, word[:length]))
    return best


def _word_edits_within(term: str, word: str, limit: int) -> int | None:
    """`word_edits(term, word)` when it is at most `limit`, else None. A string with more than
    `limit` letters that `term` lacks altogether is more than `limit` edits away (each edit
    brings in at most one letter), so most of the vocabulary is ruled out without computing
    an edit distance."""
    letters = set(term)
    best: int | None = None
    candidates = [word] + [
        word[:length]
        for length in (len(term) - 1, len(term), len(term) + 1)
        if 0 < length < len(word)
    ]
    for candidate in candidates:
        if sum(ch not in letters for ch in candidate) > limit:
            continue
        edits = edit_distance(term, candidate)
        if edits <= limit and (best is None or edits < best):
            best = edits
    return best


def search_terms_all(text: str) -> list[str]:
    """Every word of `text`, lowercased (no limit: for matching candidates)."""
    return [word.lower() for word in _WORD.findall(text)]


def fuzzy_variants(term: str) -> list[str]:
    """Cheap near-spellings of a term that catch the commonest typos as exact substrings:
    neighbours swapped ("lpatop" -> "laptop") and, for longer words, one letter dropped."""
    variants: list[str] = []
    for i in range(len(term) - 1):
        variants.append(term[:i] + term[i + 1] + term[i] + term[i + 2 :])
    if len(term) >= 5:
        variants.extend(term[:i] + term[i + 1 :] for i in range(len(term)))
    return [v for v in dict.fromkeys(variants) if v != term and len(v) >= 3]


def trigrams(term: str) -> list[str]:
    """The term's three-letter substrings, in order, de-duplicated."""
    return list(dict.fromkeys(term[i : i + 3] for i in range(len(term) - 2)))


def correctable(term: str) -> bool:
    """Whether a term may be a misspelling: words of four letters or more, not numbers or codes
    (a one-letter slip on a three-letter word or a SKU usually means another product)."""
    return len(term) >= 4 and not any(ch.isdigit() for ch in term)


def correct_terms(terms: list[str], texts: list[str]) -> list[str]:
    """Each term, or the closest word of `texts` within its allowed edits when the term is
    found nowhere in them (fewest edits, then the commonest word). Numbers are not corrected."""
    vocabulary = Counter(word for text in texts for word in search_terms_all(text))
    corrected: list[str] = []
    for term in terms:
        limit = allowed_edits(term) if correctable(term) else 0
        if limit == 0 or any(term in word for word in vocabulary):
            corrected.append(term)
            continue
        best: tuple[int, int, str] | None = None
        for word, frequency in vocabulary.items():
            if len(word) < len(term) - limit:
                continue
            edits = _word_edits_within(term, word, limit)
            if edits is not None and (best is None or (edits, -frequency, word) < best):
                best = (edits, -frequency, word)
        corrected.append(best[2] if best is not None else term)
    return corrected
