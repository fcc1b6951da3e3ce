"""Reviews are MongoDB documents; the products and users they point at stay relational."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone
from mongoengine import (  # type: ignore[import-untyped]
    BooleanField,
    DateTimeField,
    Document,
    IntField,
    ListField,
    StringField,
    UUIDField,
    ValidationError,
)

from emporium.core.context import require_current_tenant_id
from emporium.core.ids import uuid7
from emporium.reviews.fields import RelationalReference

TITLE_MAX_LENGTH = 120
BODY_MAX_LENGTH = 5000
RATINGS = (1, 2, 3, 4, 5)


class ReviewStatus(models.TextChoices):
    PUBLISHED = "published", "Published"
    PENDING = "pending", "Pending"
    REJECTED = "rejected", "Rejected"


class Review(Document):  # type: ignore[misc]
    """One customer's review of one product in one shop."""

    id = UUIDField(primary_key=True, binary=True, default=uuid7)
    tenant_id = UUIDField(binary=True, required=True)
    product = RelationalReference("catalog.Product", required=True)
    # None once the author deleted their account (the review stays, anonymised).
    user = RelationalReference("accounts.User", null=True)
    rating = IntField(required=True, min_value=1, max_value=5)
    title = StringField(max_length=TITLE_MAX_LENGTH, default="")
    body = StringField(max_length=BODY_MAX_LENGTH, default="")
    status = StringField(required=True, choices=ReviewStatus.values, default=ReviewStatus.PUBLISHED)
    verified_purchase = BooleanField(default=False)
    helpful_count = IntField(default=0, min_value=0)
    # Who marked the review helpful, so each user counts once.
    helpful_voters = ListField(UUIDField(binary=True))
    anonymised_at = DateTimeField(null=True)
    created_at = DateTimeField(required=True, default=timezone.now)
    updated_at = DateTimeField(required=True, default=timezone.now)

    meta: dict[str, Any] = {
        "collection": "reviews",
        # Created by `manage.py mongo_ensure_indexes` (make run, deploys), not on first use.
        "auto_create_index": False,
        "indexes": [
            {
                "name": "reviews_one_per_customer",
                "fields": ["tenant_id", "product", "user"],
                "unique": True,
                # Anonymised reviews (no user) may be several per product.
                "partialFilterExpression": {"user": {"$type": "binData"}},
            },
            {
                "name": "reviews_product_status_created",
                "fields": ["tenant_id", "product", "status", "-created_at"],
            },
            {"name": "reviews_user", "fields": ["tenant_id", "user"]},
        ],
    }

    def clean(self) -> None:
        # References are checked against the current tenant: the document must belong to it.
        if self.tenant_id != require_current_tenant_id():
            raise ValidationError("The review belongs to another shop.")

    @property
    def product_id(self) -> uuid.UUID:
        value: uuid.UUID = Review.product.id_of(self)
        return value

    @property
    def user_id(self) -> uuid.UUID | None:
        value: uuid.UUID | None = Review.user.id_of(self)
        return value
