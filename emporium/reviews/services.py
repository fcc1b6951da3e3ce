"""Review writes. Each one keeps the product's `rating_average` / `rating_count` exact.

Decisions:
- A new review is published at once (post-moderation): staff hide it with `rejected` or hold it
  with `pending`; only published reviews count towards the rating and are shown to customers.
- The document is written first, then the product row is recomputed from MongoDB under the
  product's row lock (so concurrent writers cannot store a stale average). If that second step
  fails, `reviews_reconcile` (nightly) repairs the drift.
- Title and body are stored as plain text (markup stripped), at most 120 and 5000 characters
  after stripping; both may be empty, the rating is required.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from mongoengine import NotUniqueError  # type: ignore[import-untyped]
from mongoengine import ValidationError as DocumentValidationError

from emporium.catalog import events
from emporium.catalog.models import Product
from emporium.core.context import require_current_tenant_id, tenant_context
from emporium.core.errors import ApplicationError
from emporium.core.logging import get_logger
from emporium.core.mongo import mongo_connect
from emporium.orders.selectors import order_paid_product_ids_for_customer
from emporium.reviews.documents import Review, ReviewStatus
from emporium.reviews.selectors import (
    RatingSummary,
    product_rating_summaries,
    product_rating_summary,
    review_queryset,
)
from emporium.reviews.text import review_text_clean
from emporium.tenants.models import Tenant

log = get_logger(__name__)
ZERO = Decimal("0.00")


class ReviewExists(ApplicationError):
    status = 409
    code = "review_exists"
    title = _("You have already reviewed this product; edit your review instead.")


class NotReviewAuthor(ApplicationError):
    status = 403
    code = "not_review_author"
    title = _("Only the author can change this review.")


class AlreadyVoted(ApplicationError):
    status = 409
    code = "already_voted"
    title = _("You have already marked this review as helpful.")


class OwnReviewVote(ApplicationError):
    status = 400
    code = "own_review"
    title = _("You cannot mark your own review as helpful.")


class InvalidReview(ApplicationError):
    status = 400
    code = "invalid_review"
    title = _("The review is not valid.")


def _save(review: Review, **options: Any) -> None:
    mongo_connect()
    try:
        review.save(**options)
    except NotUniqueError as exc:
        raise ReviewExists() from exc
    except DocumentValidationError as exc:
        # References to missing or other-shop rows, out-of-range values.
        raise InvalidReview(str(exc.message or exc)) from exc


# --- ratings -----------------------------------------------------------------------------------


def product_rating_refresh(*, product_id: uuid.UUID) -> RatingSummary:
    """Recompute the product's rating from its published reviews and store it on the product
    row (average 0 when there are none); the product caches are invalidated after commit."""
    with transaction.atomic():
        # The lock orders concurrent refreshes: the last one to write also read last.
        locked = Product.all_objects.select_for_update().filter(pk=product_id)
        if not list(locked.values_list("pk", flat=True)):
            return RatingSummary()
        summary = product_rating_summary(product_id=product_id)
        Product.all_objects.filter(pk=product_id).update(
            rating_average=summary.average if summary.average is not None else ZERO,
            rating_count=summary.count,
            updated_at=timezone.now(),
        )
        events.products_changed([product_id])
    return summary


# --- customer writes ---------------------------------------------------------------------------


def review_create(
    *, product: Product, user: Any, rating: int, title: str = "", body: str = ""
) -> Review:
    """The customer's review of `product`, published at once; `ReviewExists` on a second one.
    `verified_purchase` is set when the customer has a paid order with the product."""
    bought = order_paid_product_ids_for_customer(customer_id=user.pk, product_ids=[product.pk])
    review = Review(
        tenant_id=require_current_tenant_id(),
        product=product,
        user=user,
        rating=rating,
        title=review_text_clean(title),
        body=review_text_clean(body),
        status=ReviewStatus.PUBLISHED,
        verified_purchase=product.pk in bought,
    )
    _save(review, force_insert=True)
    product_rating_refresh(product_id=product.pk)
    log.info("review_created", review_id=str(review.id), product_id=str(product.pk))
    return review


def review_update(
    *,
    review: Review,
    user: Any,
    rating: int | None = None,
    title: str | None = None,
    body: str | None = None,
) -> Review:
    """The author changes their review (only the fields given)."""
    if review.user_id is None or review.user_id != user.pk:
        raise NotReviewAuthor()
    if rating is not None:
        review.rating = rating
    if title is not None:
        review.title = review_text_clean(title)
    if body is not None:
        review.body = review_text_clean(body)
    review.updated_at = timezone.now()
    _save(review)
    product_rating_refresh(product_id=review.product_id)
    return review


def review_delete(*, review: Review, user: Any) -> None:
    """The author, or staff, removes the review for good."""
    if not getattr(user, "is_staff", False) and (
        review.user_id is None or review.user_id != user.pk
    ):
        raise NotReviewAuthor()
    product_id = review.product_id
    mongo_connect()
    review.delete()
    product_rating_refresh(product_id=product_id)
    log.info("review_deleted", review_id=str(review.id), product_id=str(product_id))


def review_moderate(*, review: Review, status: str, moderator: Any) -> Review:
    """Staff publish, hold (`pending`) or reject a review."""
    if status not in ReviewStatus.values:
        raise InvalidReview(gettext("Unknown review status."))
    if review.status != status:
        review.status = status
        review.updated_at = timezone.now()
        _save(review)
        log.info(
            "review_moderated",
            review_id=str(review.id),
            status=status,
            moderator_id=str(moderator.pk),
        )
    product_rating_refresh(product_id=review.product_id)
    return review


def review_mark_helpful(*, review: Review, user: Any) -> Review:
    """Count the user's "helpful" vote once (atomic: a second vote is `AlreadyVoted`)."""
    if review.user_id == user.pk:
        raise OwnReviewVote()
    voter = uuid.UUID(str(user.pk))
    updated = (
        review_queryset()
        .filter(id=review.id, helpful_voters__ne=voter)
        .update_one(push__helpful_voters=voter, inc__helpful_count=1)
    )
    if not updated:
        raise AlreadyVoted()
    review.reload()
    return review


# --- account deletion --------------------------------------------------------------------------


def reviews_anonymise_for_user(*, user_id: uuid.UUID) -> int:
    """Detach a deleted account from its reviews (in every shop): the reviews stay, with no
    author, and their helpful votes stay counted without the voter's id. Idempotent; returns
    how many reviews lost their author."""
    mongo_connect()
    now = timezone.now()
    anonymised: int = Review.objects(user=user_id).update(
        set__user=None, set__anonymised_at=now, set__updated_at=now
    )
    Review.objects(helpful_voters=user_id).update(pull__helpful_voters=user_id)
    log.info("reviews_anonymised", user_id=str(user_id), count=anonymised)
    return anonymised


# --- reconciliation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingDrift:
    tenant_id: uuid.UUID
    product_id: uuid.UUID
    stored_average: Decimal
    stored_count: int
    average: Decimal
    count: int


@dataclass
class ReconcileReport:
    products_checked: int = 0
    repaired: list[RatingDrift] = field(default_factory=list)


def reviews_reconcile() -> ReconcileReport:
    """Recompute every product's rating in every shop from MongoDB and repair any that drifted
    (one aggregation per shop, a locked refresh per drifted product). Safe to run twice."""
    report = ReconcileReport()
    for tenant_id in Tenant.objects.order_by("id").values_list("id", flat=True):
        with tenant_context(tenant_id):
            _reconcile_current_tenant(report)
    if report.repaired:
        log.warning("reviews_reconcile_repaired", repaired=len(report.repaired))
    return report


def _reconcile_current_tenant(report: ReconcileReport) -> None:
    tenant_id = require_current_tenant_id()
    summaries = product_rating_summaries()
    rows = Product.all_objects.order_by("id").values_list("id", "rating_average", "rating_count")
    for product_id, stored_average, stored_count in rows.iterator():
        report.products_checked += 1
        summary = summaries.get(product_id, RatingSummary())
        average = summary.average if summary.average is not None else ZERO
        if average == stored_average and summary.count == stored_count:
            continue
        fresh = product_rating_refresh(product_id=product_id)
        report.repaired.append(
            RatingDrift(
                tenant_id=tenant_id,
                product_id=product_id,
                stored_average=stored_average,
                stored_count=stored_count,
                average=fresh.average if fresh.average is not None else ZERO,
                count=fresh.count,
            )
        )
