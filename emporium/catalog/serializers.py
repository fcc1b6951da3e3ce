"""Output serializers for categories and products, shared by the public and staff APIs.

Money is flat in v1 (`"price": "12.50", "currency": "EUR"`) and an object in v2
(`"price": {"amount": "12.50", "currency": "EUR"}`). `ProductSerializer` follows the request's
version by itself; views that know the version up front use `product_serializer_class(version)`
so the OpenAPI schema of each version shows the right shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from emporium.catalog import services_images
from emporium.catalog.models import Category, Product, ProductImage
from emporium.catalog.selectors import PRODUCT_ROW_FIELDS, CategoryNode

_CENT = Decimal("0.01")


def _decimal_text(value: Decimal) -> str:
    """A money amount or rating as DRF's `DecimalField(decimal_places=2)` writes it ("12.50"),
    without a field object per value (list pages format hundreds of these)."""
    return f"{value.quantize(_CENT):f}"


def _timestamp(value: datetime | None) -> str | None:
    """A timestamp as DRF's `DateTimeField` writes it in this UTC-only API
    ("2026-01-02T03:04:05.123456Z")."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def api_version(context: Mapping[str, Any]) -> str:
    """The API version of the request in a serializer context ("v1" when unknown)."""
    request = context.get("request")
    version = getattr(request, "version", None)
    return str(version) if version else "v1"


def stock_quantity(product: Product) -> int:
    """Quantity on hand (0 without a stock row); uses the select_related cache when present."""
    try:
        return int(product.stock.quantity)
    except ObjectDoesNotExist:
        return 0


def available_quantity(product: Product) -> int:
    """Units customers can still buy: on hand minus those held by unpaid orders."""
    try:
        return int(product.stock.available)
    except ObjectDoesNotExist:
        return 0


class MoneySerializer(serializers.Serializer[Any]):
    """An amount with its ISO 4217 currency (v2)."""

    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(min_length=3, max_length=3)


def money(amount: Decimal | None, currency: str) -> dict[str, str] | None:
    """The v2 money object, or None when there is no amount."""
    if amount is None:
        return None
    return {"amount": _decimal_text(amount), "currency": currency}


class CategorySerializer(serializers.ModelSerializer[Category]):
    """A category with its parent's slug (flat list and detail)."""

    # The metaclass moves declared fields off the class, so this does not shadow Field.parent.
    parent: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(  # type: ignore[assignment]
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = Category
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "position",
            "parent",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CategoryTreeSerializer(serializers.Serializer[Any]):
    """A category with its visible children, nested."""

    id = serializers.UUIDField(source="category.id", read_only=True)
    slug = serializers.SlugField(source="category.slug", read_only=True)
    name = serializers.CharField(source="category.name", read_only=True)
    description = serializers.CharField(source="category.description", read_only=True)
    position = serializers.IntegerField(source="category.position", read_only=True)
    is_active = serializers.BooleanField(source="category.is_active", read_only=True)
    children = serializers.SerializerMethodField()

    @extend_schema_field({"type": "array", "items": {"$ref": "#/components/schemas/CategoryTree"}})
    def get_children(self, node: CategoryNode) -> list[dict[str, Any]]:
        return [CategoryTreeSerializer(child, context=self.context).data for child in node.children]


class ProductImageSerializer(serializers.Serializer[Any]):
    """A product image as the API shows it (also embedded in the product detail)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=ProductImage.Status.choices,
        help_text="`pending` until copied to the storage, then `ready`; `failed` when every "
        "upload attempt failed. Customers only ever see `ready` images.",
    )
    url = serializers.URLField(
        allow_null=True,
        help_text="The public display rendition (WebP, at most 1600 px on a side, no "
        "metadata): on the storage or its CDN once `ready` there, else the local media URL.",
    )
    width = serializers.IntegerField(help_text="Of the original, as displayed.")
    height = serializers.IntegerField(help_text="Of the original, as displayed.")
    content_type = serializers.CharField(help_text="Of the original.")
    size = serializers.IntegerField(help_text="Bytes of the original.")
    checksum_sha256 = serializers.CharField(help_text="Hex SHA-256 of the original.")
    position = serializers.IntegerField()
    alt_text = serializers.CharField()


def product_image_representation(
    image: ProductImage, request: HttpRequest | None
) -> dict[str, Any]:
    """The API body of an image (the product serializers embed it); `url` is absolute when a
    request is given."""
    url = services_images.product_image_display_url(image)
    if url is not None and request is not None:
        url = request.build_absolute_uri(url)
    return {
        "id": str(image.id),
        "status": image.status,
        "url": url,
        "width": image.width,
        "height": image.height,
        "content_type": image.content_type,
        "size": image.size,
        "checksum_sha256": image.checksum_sha256,
        "position": image.position,
        "alt_text": image.alt_text,
    }


PRODUCT_FIELDS = [
    "id",
    "slug",
    "sku",
    "name",
    "description",
    "price",
    "compare_at_price",
    "currency",
    "category",
    "attributes",
    "is_active",
    "publish_at",
    "unpublish_at",
    "rating_average",
    "rating_count",
    "in_stock",
    "stock_quantity",
    "available",
    "images",
    "created_at",
    "updated_at",
]


class ProductSerializer(serializers.ModelSerializer[Product]):
    """A product as the API shows it (v1 money shape; v2 when the request asks for v2).

    Expects `category` and `stock` to be select_related and `images` prefetched (with the
    caller's visibility, see `selectors.product_base_queryset`) to stay at two queries a page.
    """

    category: serializers.SlugRelatedField[Category] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    attributes = serializers.JSONField(read_only=True)
    in_stock = serializers.SerializerMethodField(
        help_text="Whether any unit is available to buy (`available` above 0)."
    )
    stock_quantity = serializers.SerializerMethodField(help_text="Units on hand.")
    available = serializers.SerializerMethodField(
        help_text="Units on hand not held by unpaid orders: what can still be bought."
    )
    images = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = PRODUCT_FIELDS
        read_only_fields = fields

    def get_in_stock(self, product: Product) -> bool:
        return available_quantity(product) > 0

    def get_stock_quantity(self, product: Product) -> int:
        return stock_quantity(product)

    def get_available(self, product: Product) -> int:
        return available_quantity(product)

    @extend_schema_field(ProductImageSerializer(many=True))
    def get_images(self, product: Product) -> list[dict[str, Any]]:
        request = self.context.get("request")
        return [product_image_representation(image, request) for image in product.images.all()]

    def to_representation(self, instance: Product) -> dict[str, Any]:
        # The declared fields above describe the shape (OpenAPI schema, tests comparing both);
        # the body is built by `product_representation`, ten times cheaper than walking them.
        version = "v2" if isinstance(self, ProductV2Serializer) else api_version(self.context)
        return product_representation(
            instance, version=version, request=self.context.get("request")
        )

    def field_by_field_representation(self, instance: Product) -> dict[str, Any]:
        """The body as DRF's generic machinery builds it from the declared fields."""
        data: dict[str, Any] = super().to_representation(instance)
        return data


class ProductV2Serializer(ProductSerializer):
    """A product with money objects instead of a flat amount and currency (v2)."""

    price = serializers.SerializerMethodField()
    compare_at_price = serializers.SerializerMethodField()

    class Meta(ProductSerializer.Meta):
        fields = [name for name in PRODUCT_FIELDS if name != "currency"]
        read_only_fields = fields

    @extend_schema_field(MoneySerializer)
    def get_price(self, product: Product) -> dict[str, str] | None:
        return money(product.price, product.currency)

    @extend_schema_field(MoneySerializer(allow_null=True))
    def get_compare_at_price(self, product: Product) -> dict[str, str] | None:
        return money(product.compare_at_price, product.currency)


def product_row(product: Product) -> dict[str, Any]:
    """A product instance as the row `selectors.product_rows` reads (category and stock are
    expected select_related)."""
    row = {name: getattr(product, name) for name in PRODUCT_ROW_FIELDS}
    category = product.category
    row["category_slug"] = None if category is None else category.slug
    row["on_hand"] = stock_quantity(product)
    row["available"] = available_quantity(product)
    return row


def product_body(
    row: Mapping[str, Any],
    images: Sequence[ProductImage],
    *,
    version: str,
    request: HttpRequest | None,
) -> dict[str, Any]:
    """The API body of a product: exactly what `ProductSerializer` (v1) or
    `ProductV2Serializer` (v2) declare, built directly from a row of `selectors.product_rows`
    and the images the caller may see (lists build up to 100 of these per request)."""
    on_hand = row["on_hand"]
    data: dict[str, Any] = {
        "id": str(row["id"]),
        "slug": row["slug"],
        "sku": row["sku"],
        "name": row["name"],
        "description": row["description"],
    }
    currency = row["currency"]
    if version == "v2":
        data["price"] = money(row["price"], currency)
        data["compare_at_price"] = money(row["compare_at_price"], currency)
    else:
        compare_at = row["compare_at_price"]
        data["price"] = _decimal_text(row["price"])
        data["compare_at_price"] = None if compare_at is None else _decimal_text(compare_at)
        data["currency"] = currency
    data["category"] = row["category_slug"]
    data["attributes"] = row["attributes"]
    data["is_active"] = row["is_active"]
    data["publish_at"] = _timestamp(row["publish_at"])
    data["unpublish_at"] = _timestamp(row["unpublish_at"])
    data["rating_average"] = _decimal_text(row["rating_average"])
    data["rating_count"] = row["rating_count"]
    data["in_stock"] = row["available"] > 0
    data["stock_quantity"] = on_hand
    data["available"] = row["available"]
    data["images"] = [product_image_representation(image, request) for image in images]
    data["created_at"] = _timestamp(row["created_at"])
    data["updated_at"] = _timestamp(row["updated_at"])
    return data


def product_representation(
    product: Product, *, version: str, request: HttpRequest | None
) -> dict[str, Any]:
    """`product_body` of a product instance (`images` prefetched, like the serializers)."""
    return product_body(
        product_row(product), list(product.images.all()), version=version, request=request
    )


def product_serializer_class(version: str | None) -> type[ProductSerializer]:
    """The product serializer of an API version."""
    return ProductV2Serializer if version == "v2" else ProductSerializer
