"""Categories and products of a shop."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from emporium.core.models import TenantOwnedModel, TenantSoftDeleteModel, unique_among_alive

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2}
# Hot indexes skip soft-deleted rows.
ALIVE = Q(deleted_at__isnull=True)


class Category(TenantOwnedModel):
    """A node of the shop's category tree."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="catalog_category_slug"),
        ]
        indexes = [models.Index(fields=["tenant", "parent", "position"])]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(TenantSoftDeleteModel):
    """Something a shop sells. Prices are Decimal with an ISO 4217 currency."""

    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255)
    sku = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    price = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    compare_at_price = models.DecimalField(
        **MONEY, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="EUR")
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    attributes = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    publish_at = models.DateTimeField(null=True, blank=True)
    unpublish_at = models.DateTimeField(null=True, blank=True)
    rating_average = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("0"))
    rating_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            unique_among_alive("tenant", "slug", name="catalog_product_slug_alive"),
            unique_among_alive("tenant", "sku", name="catalog_product_sku_alive"),
            models.CheckConstraint(condition=Q(price__gte=0), name="catalog_product_price_gte_0"),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "category", "price"], condition=ALIVE, name="catalog_p_cat_price"
            ),
            models.Index(fields=["tenant", "price"], condition=ALIVE, name="catalog_p_price"),
            models.Index(fields=["tenant", "name"], condition=ALIVE, name="catalog_p_name"),
            models.Index(
                fields=["tenant", "-created_at"], condition=ALIVE, name="catalog_p_created"
            ),
            models.Index(
                fields=["tenant", "-rating_average"], condition=ALIVE, name="catalog_p_rating"
            ),
            # The next scheduled (un)publish bounds how long cached pages live.
            models.Index(
                fields=["tenant", "publish_at"],
                condition=ALIVE & Q(publish_at__isnull=False),
                name="catalog_p_publish_at",
            ),
            models.Index(
                fields=["tenant", "unpublish_at"],
                condition=ALIVE & Q(unpublish_at__isnull=False),
                name="catalog_p_unpublish_at",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProductSlugRedirect(TenantOwnedModel):
    """An old slug of a renamed product: requests for it get a 301 to the current one."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="old_slugs")
    slug = models.SlugField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="catalog_slug_redirect"),
        ]

    def __str__(self) -> str:
        return self.slug


class ProductImportJob(TenantOwnedModel):
    """A CSV import: its options, progress and the per-row errors found."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    filename = models.CharField(max_length=255, blank=True)
    # Where the uploaded file waits for the worker (private, relative to MEDIA_ROOT).
    file_path = models.CharField(max_length=255, blank=True)
    dry_run = models.BooleanField(default=False)
    partial = models.BooleanField(default=False)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # [{"line": 3, "field": "price", "code": "invalid", "message": "..."}], capped in length.
    errors = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"])]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"


class ProductImage(TenantOwnedModel):
    """A picture of a product: kept locally, then copied to S3 storage when configured."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    position = models.PositiveIntegerField(default=0)
    alt_text = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    checksum_sha256 = models.CharField(max_length=64)
    # Relative to MEDIA_ROOT while local; the object key once stored in the bucket.
    file_path = models.CharField(max_length=255)
    storage_key = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "created_at"]
        indexes = [models.Index(fields=["product", "position"])]

    def __str__(self) -> str:
        return f"image {self.pk} of {self.product_id}"
