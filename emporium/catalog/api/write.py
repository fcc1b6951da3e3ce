"""Staff writes for products and categories under /api/<version>/.

These URLs are matched before the read module's. Where both serve the same address
(`products/`, `products/{slug}/`, `categories/`, `categories/{slug}/`), GET and HEAD fall through
to the read module's view; the write methods are answered here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, URLResolver, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import CreateAPIView, GenericAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from emporium.catalog import selectors, services
from emporium.catalog.api import read
from emporium.catalog.models import Category, Product
from emporium.catalog.serializers import (
    CategorySerializer,
    ProductSerializer,
    ProductV2Serializer,
    product_serializer_class,
)

BATCH_MAX_ITEMS = 500


def _validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A service's field errors as a DRF validation error, keeping their codes."""
    return exceptions.ValidationError(serializers.as_serializer_error(exc))


# --- Serializers: input --------------------------------------------------------------------


def _currency_field() -> serializers.RegexField:
    return serializers.RegexField(
        r"^[A-Z]{3}$",
        max_length=3,
        help_text="ISO 4217 code, three capital letters (EUR, USD).",
        error_messages={"invalid": _("Use an ISO 4217 code of three capital letters.")},
    )


def _money_field(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, **kwargs)


class ProductWriteSerializer(serializers.Serializer[Any]):
    """Fields of a product. On PATCH every field is optional; on PUT omitted optional fields
    are left unchanged. A new `name` keeps the slug; only a new `slug` renames."""

    name = serializers.CharField(max_length=255)
    sku = serializers.CharField(max_length=64)
    price = _money_field()
    currency = _currency_field()
    slug = serializers.SlugField(
        max_length=255,
        required=False,
        help_text="Generated from the name when omitted on create (`name`, `name-2`...). "
        "Changing it keeps the old slug as a 301 redirect.",
    )
    description = serializers.CharField(required=False, allow_blank=True)
    compare_at_price = _money_field(
        required=False, allow_null=True, help_text="Must not be lower than `price`."
    )
    category = serializers.SlugField(
        required=False, allow_null=True, help_text="Slug of one of the shop's categories."
    )
    attributes = serializers.DictField(required=False, help_text="Free-form JSON object.")
    is_active = serializers.BooleanField(required=False)
    publish_at = serializers.DateTimeField(required=False, allow_null=True)
    unpublish_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Must be after `publish_at`."
    )
    stock_quantity = serializers.IntegerField(
        required=False, min_value=0, help_text="Quantity on hand (0 when omitted on create)."
    )


class ProductBatchItemSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField(max_length=64, help_text="Which product to change.")
    price = _money_field(required=False)
    compare_at_price = _money_field(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    publish_at = serializers.DateTimeField(required=False, allow_null=True)
    unpublish_at = serializers.DateTimeField(required=False, allow_null=True)
    category = serializers.SlugField(required=False, allow_null=True)
    stock_quantity = serializers.IntegerField(required=False, min_value=0)


class ProductBatchSerializer(serializers.Serializer[Any]):
    items: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=ProductBatchItemSerializer(),
        allow_empty=False,
        max_length=BATCH_MAX_ITEMS,
        help_text=f"1 to {BATCH_MAX_ITEMS} products, each addressed by SKU.",
    )


class ProductBatchResultSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField(help_text="How many products were updated.")
    results = ProductSerializer(many=True)


class ProductBatchResultV2Serializer(ProductBatchResultSerializer):
    results = ProductV2Serializer(many=True)


class CategoryWriteSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(
        max_length=200, required=False, help_text="Generated from the name when omitted."
    )
    parent: Any = serializers.SlugField(
        required=False, allow_null=True, help_text="Slug of the parent category; null for a root."
    )
    description = serializers.CharField(required=False, allow_blank=True)
    position = serializers.IntegerField(required=False, min_value=0)
    is_active = serializers.BooleanField(required=False)


# --- Views ---------------------------------------------------------------------------------


class StaffView(GenericAPIView[Any]):
    permission_classes = [IsAdminUser]


def _product_response(request: Request, product: Product, *, status_code: int = 200) -> Response:
    serializer = product_serializer_class(request.version)(product, context={"request": request})
    return Response(serializer.data, status=status_code)


def _alive_product(slug: str) -> Product:
    product: Product | None = (
        Product.objects.select_related("stock", "category").filter(slug=slug).first()
    )
    if product is None:
        raise exceptions.NotFound(_("No product has this slug."))
    return product


def _category(slug: str) -> Category:
    category: Category | None = Category.objects.select_related("parent").filter(slug=slug).first()
    if category is None:
        raise exceptions.NotFound(_("No category has this slug."))
    return category


PRODUCT_EXAMPLE = OpenApiExample(
    "New product",
    value={
        "name": "Espresso Cup",
        "sku": "CUP-001",
        "price": "12.50",
        "currency": "EUR",
        "compare_at_price": "15.00",
        "category": "kitchen",
        "attributes": {"color": "white"},
        "stock_quantity": 40,
    },
    request_only=True,
)


class ProductCreateView(StaffView, CreateAPIView[Any]):
    serializer_class = ProductWriteSerializer

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        # Documents the response for the version being rendered.
        return product_serializer_class(getattr(self.request, "version", None))

    @extend_schema(
        summary="Create a product (staff)",
        request=ProductWriteSerializer,
        examples=[PRODUCT_EXAMPLE],
        description="Creates the product and its stock row. Duplicate SKU or slug among the "
        "shop's live products: 400 with code `unique`.",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ProductWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            product = services.product_create(**serializer.validated_data)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        return _product_response(request, product, status_code=status.HTTP_201_CREATED)


class ProductWriteView(StaffView):
    serializer_class = ProductWriteSerializer

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return product_serializer_class(getattr(self.request, "version", None))

    def _update(self, request: Request, slug: str, *, partial: bool) -> Response:
        product = _alive_product(slug)
        serializer = ProductWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            product = services.product_update(product=product, data=serializer.validated_data)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        return _product_response(request, product)

    @extend_schema(
        summary="Replace a product's fields (staff)",
        request=ProductWriteSerializer,
        description="`name`, `sku`, `price` and `currency` are required; omitted optional "
        "fields are left unchanged. A changed `slug` keeps the old one as a 301 redirect.",
    )
    def put(self, request: Request, version: str, slug: str) -> Response:
        return self._update(request, slug, partial=False)

    @extend_schema(
        summary="Change some of a product's fields (staff)",
        request=ProductWriteSerializer,
        description="Renaming keeps the slug; only a new `slug` moves the product and keeps "
        "the old slug as a 301 redirect.",
    )
    def patch(self, request: Request, version: str, slug: str) -> Response:
        return self._update(request, slug, partial=True)

    @extend_schema(
        summary="Delete a product (staff, soft)",
        request=None,
        responses={204: None},
        description="The product disappears from the shop and can be restored.",
    )
    def delete(self, request: Request, version: str, slug: str) -> Response:
        services.product_delete(product=_alive_product(slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductRestoreView(StaffView):
    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return product_serializer_class(getattr(self.request, "version", None))

    @extend_schema(
        summary="Restore a deleted product (staff)",
        request=None,
        description="404 when no deleted product has this slug; 409 `slug_taken` (or "
        "`sku_taken`) when a live product took its slug or SKU meanwhile.",
    )
    def post(self, request: Request, version: str, slug: str) -> Response:
        product = services.product_restore(slug=slug)
        product = Product.objects.select_related("stock", "category").get(pk=product.pk)
        return _product_response(request, product)


class ProductBatchView(StaffView):
    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if getattr(self.request, "version", None) == "v2":
            return ProductBatchResultV2Serializer
        return ProductBatchResultSerializer

    @extend_schema(
        summary="Update many products at once (staff)",
        request=ProductBatchSerializer,
        description=f"Up to {BATCH_MAX_ITEMS} items, one transaction: when any item is invalid "
        "nothing is written and each error names its item (`items[3].price`).",
        examples=[
            OpenApiExample(
                "Reprice two products",
                value={
                    "items": [
                        {"sku": "CUP-001", "price": "11.90"},
                        {"sku": "CUP-002", "is_active": False, "stock_quantity": 0},
                    ]
                },
                request_only=True,
            )
        ],
    )
    def patch(self, request: Request, version: str) -> Response:
        serializer = ProductBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = [
            services.BatchItem(
                sku=item["sku"], fields={k: v for k, v in item.items() if k != "sku"}
            )
            for item in serializer.validated_data["items"]
        ]
        try:
            products = services.product_batch_update(items=items)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        selectors.product_images_prefetch(products, staff=True)
        output = product_serializer_class(request.version)(
            products,
            many=True,
            context={"request": request},
        )
        return Response({"count": len(products), "results": output.data})


class CategoryCreateView(StaffView, CreateAPIView[Any]):
    serializer_class = CategorySerializer

    @extend_schema(
        summary="Create a category (staff)",
        request=CategoryWriteSerializer,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = CategoryWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            category = services.category_create(**serializer.validated_data)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryWriteView(StaffView):
    serializer_class = CategorySerializer

    @extend_schema(
        summary="Change a category (staff)",
        request=CategoryWriteSerializer,
        responses={200: CategorySerializer},
        description="Placing a category below itself or its descendants: 400 code `cycle`.",
    )
    def patch(self, request: Request, version: str, slug: str) -> Response:
        category = _category(slug)
        serializer = CategoryWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            category = services.category_update(category=category, data=serializer.validated_data)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        return Response(CategorySerializer(category).data)

    @extend_schema(
        summary="Delete a category (staff)",
        request=None,
        responses={204: None},
        description="409 `category_not_empty` while it has subcategories or products.",
    )
    def delete(self, request: Request, version: str, slug: str) -> Response:
        services.category_delete(category=_category(slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- URLs ----------------------------------------------------------------------------------

ViewFunc = Callable[..., HttpResponseBase]


def _reads_fall_through(view: ViewFunc, read_view: ViewFunc) -> ViewFunc:
    """GET/HEAD at a shared address go to the public read view of that address."""

    @functools.wraps(view)
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method in ("GET", "HEAD"):
            return read_view(request, *args, **kwargs)
        return view(request, *args, **kwargs)

    return dispatch


urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "products/",
        _reads_fall_through(ProductCreateView.as_view(), read.ProductListView.as_view()),
        name="product-create",
    ),
    path(
        "products/batch/",
        # `batch` is a reserved slug: a GET finds no product there (404), as for any slug.
        _reads_fall_through(
            ProductBatchView.as_view(),
            functools.partial(cast(ViewFunc, read.ProductDetailView.as_view()), slug="batch"),
        ),
        name="product-batch",
    ),
    path(
        "products/<slug:slug>/",
        _reads_fall_through(ProductWriteView.as_view(), read.ProductDetailView.as_view()),
        name="product-write",
    ),
    path("products/<slug:slug>/restore/", ProductRestoreView.as_view(), name="product-restore"),
    path(
        "categories/",
        _reads_fall_through(CategoryCreateView.as_view(), read.CategoryListView.as_view()),
        name="category-create",
    ),
    path(
        "categories/<slug:slug>/",
        _reads_fall_through(CategoryWriteView.as_view(), read.CategoryDetailView.as_view()),
        name="category-write",
    ),
]
