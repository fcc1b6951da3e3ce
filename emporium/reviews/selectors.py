"""Review reads: the current shop's reviews, visibility, and rating summaries from MongoDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from emporium.core.context import require_current_tenant_id
from emporium.core.mongo import mongo_connect
from emporium.reviews.documents import RATINGS, Review, ReviewStatus

REVIEW_ORDERINGS: dict[str, tuple[str, ...]] = {
    # The id (UUIDv7, time-ordered) breaks ties so pages never overlap.
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "highest": ("-rating", "-created_at", "-id"),
    "lowest": ("rating", "-created_at", "-id"),
    "most_helpful": ("-helpful_count", "-created_at", "-id"),
}
DEFAULT_REVIEW_ORDERING = "newest"
AVERAGE_QUANTUM = Decimal("0.01")


@dataclass(frozen=True)
class RatingSummary:
    """Published reviews of one product: how many of each rating, their count and average."""

    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))

    @property
    def count(self) -> int:
        return sum(self.distribution.values())

    @property
    def average(self) -> Decimal | None:
        """Exact mean rounded half up to 2 places; None without reviews."""
        if not self.count:
            return None
        total = sum(rating * n for rating, n in self.distribution.items())
        return (Decimal(total) / Decimal(self.count)).quantize(
            AVERAGE_QUANTUM, rounding=ROUND_HALF_UP
        )


def review_queryset() -> Any:
    """Every review of the current shop (a mongoengine QuerySet)."""
    mongo_connect()
    return Review.objects(tenant_id=require_current_tenant_id())


def review_list_for_product(
    *,
    product_id: uuid.UUID,
    ordering: str = DEFAULT_REVIEW_ORDERING,
    statuses: Iterable[str] = (ReviewStatus.PUBLISHED,),
) -> Any:
    """The product's reviews in `statuses` (customers: published only), in a stable order."""
    return (
        review_queryset()
        .filter(product=product_id, status__in=list(statuses))
        .order_by(*REVIEW_ORDERINGS[ordering])
    )


def review_get_for_caller(*, review_id: uuid.UUID, user: Any) -> Review | None:
    """The review if the caller may see it: published ones for everyone, any status for its
    author and staff; None otherwise (another shop's review included)."""
    review: Review | None = review_queryset().filter(id=review_id).first()
    if review is None:
        return None
    if review.status == ReviewStatus.PUBLISHED or getattr(user, "is_staff", False):
        return review
    if getattr(user, "is_authenticated", False) and review.user_id == user.pk:
        return review
    return None


def _summaries(match: dict[str, Any], group_by_product: bool) -> dict[Any, RatingSummary]:
    group_id: Any = {"product": "$product", "rating": "$rating"} if group_by_product else "$rating"
    pipeline = [
        {"$match": {**match, "status": ReviewStatus.PUBLISHED.value}},
        {"$group": {"_id": group_id, "count": {"$sum": 1}}},
    ]
    mongo_connect()
    summaries: dict[Any, RatingSummary] = {}
    for row in Review._get_collection().aggregate(pipeline):
        key = row["_id"]["product"] if group_by_product else None
        rating = row["_id"]["rating"] if group_by_product else row["_id"]
        summary = summaries.setdefault(key, RatingSummary())
        if rating in summary.distribution:  # the document schema keeps ratings in 1..5
            summary.distribution[rating] += row["count"]
    return summaries


def product_rating_summary(*, product_id: uuid.UUID) -> RatingSummary:
    """The product's published reviews counted per rating: one aggregation."""
    match = {"tenant_id": require_current_tenant_id(), "product": product_id}
    return _summaries(match, group_by_product=False).get(None, RatingSummary())


def product_rating_summaries() -> dict[uuid.UUID, RatingSummary]:
    """Every reviewed product of the current shop and its summary: one aggregation."""
    return _summaries({"tenant_id": require_current_tenant_id()}, group_by_product=True)
