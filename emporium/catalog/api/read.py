"""Public catalog reads: categories (flat or tree) and products (list with filters, detail)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cached_property, partial
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.encoding import escape_uri_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.catalog import cache, queries, selectors
from emporium.catalog.models import Category, Product, ProductImage
from emporium.catalog.serializers import (
    CategorySerializer,
    CategoryTreeSerializer,
    ProductSerializer,
    ProductV2Serializer,
    product_body,
    product_serializer_class,
)
from emporium.core import response_cache
from emporium.core.caching import CachedReadMixin
from emporium.core.context import require_current_tenant_id
from emporium.core.pagination import PageNumberPagination
from emporium.core.query import QuerySerializer
from emporium.core.response_cache import ServerCachedMixin
from emporium.search.selectors import product_search_queryset

LIST_MAX_AGE = 30
DETAIL_MAX_AGE = 60
TRUE_FALSE = ["true", "false"]

_PROBLEM = OpenApiResponse(description=_("Problem document (application/problem+json)."))


def is_staff(request: Request) -> bool:
    """Whether the caller is staff (sees inactive, unpublished and, on request, deleted rows)."""
    return bool(getattr(request.user, "is_staff", False))


def product_filter_for(params: dict[str, Any], *, staff: bool) -> queries.ProductFilter:
    """The list's validated query parameters as the product queries take them."""
    category_ids = None
    if params.get("category"):
        category_ids = selectors.category_subtree_ids(
            slug=params["category"], include_inactive=staff
        )
    return queries.ProductFilter(
        staff=staff,
        include_deleted=staff and params.get("include_deleted") == "true",
        category_ids=category_ids,
        min_price=params.get("min_price"),
        max_price=params.get("max_price"),
        in_stock={"true": True, "false": False}.get(params.get("in_stock", "")),
        ordering=params["ordering"],
    )


def count_cache_for(query: Mapping[str, Any], *, expires_at: datetime) -> CountCache:
    """Where the customer-visible total of the list's filters in `query` is cached: until the
    page it is counted for expires (`expires_at`, which the next scheduled change bounds)."""
    tenant_id = require_current_tenant_id()
    return CountCache(
        key=cache.product_count_key(tenant_id, query),
        expires_at=expires_at,
        stamp=cache.product_count_stamp(tenant_id),
    )


def product_etag_seed(row: Mapping[str, Any], images: Sequence[ProductImage]) -> str:
    """What a product's representation depends on: its own timestamp is not enough, since
    stock, category and image rows change without touching it."""
    shown = ",".join(
        f"{image.pk}/{image.status}/{image.updated_at.isoformat()}" for image in images
    )
    return (
        f"{row['id']}:{row['updated_at'].isoformat()}:{row['on_hand']}:{row['available']}:"
        f"{row['category_slug'] or ''}:{shown}"
    )


@dataclass(frozen=True)
class CountCache:
    """Where a list's total is cached, until when, and the data generations it must match."""

    key: str
    expires_at: datetime
    stamp: Any


class CountCachingPaginator(Paginator[Any]):
    """Django's paginator, reading the total through the cache when given a key.

    Counting every visible product is the slowest part of a list page at 100,000 products;
    the total only changes with a catalog write or a scheduled (un)publish, which is exactly
    what the key's generation and the timeout follow.
    """

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        *,
        count_cache: CountCache | None = None,
        count_source: QuerySet[Any] | None = None,
    ) -> None:
        super().__init__(object_list, per_page)
        self.count_cache = count_cache
        self.count_source = count_source

    def _count_rows(self) -> int:
        if self.count_source is not None:
            return self.count_source.count()
        return int(Paginator.count.func(self))  # type: ignore[attr-defined]

    @cached_property
    def count(self) -> int:
        if self.count_cache is None:
            return self._count_rows()
        now = timezone.now()
        known: tuple[Any, int] | None = response_cache.get_fresh(self.count_cache.key, now=now)
        if known is not None and known[0] == self.count_cache.stamp:
            return known[1]
        total = self._count_rows()
        response_cache.set_until(
            self.count_cache.key,
            (self.count_cache.stamp, total),
            expires_at=self.count_cache.expires_at,
            now=now,
        )
        return total


class ProductPagination(PageNumberPagination):
    """Page-number pagination that reports the applied (clamped) `page_size`."""

    # Set by the view before paginating: (cache key, valid until) for the total, or None, and
    # what to count when the paginated rows carry joins the total does not need.
    count_cache: CountCache | None = None
    count_source: QuerySet[Any] | None = None

    def paginate_queryset(
        self,
        queryset: QuerySet[Any, Any] | Sequence[Any],
        request: Request,
        view: APIView | None = None,
    ) -> list[Any] | None:
        # DRF builds the paginator from this attribute with (queryset, page_size) only.
        self.django_paginator_class = partial(  # type: ignore[assignment]
            CountCachingPaginator, count_cache=self.count_cache, count_source=self.count_source
        )
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(self.paginated_data(data))

    def paginated_data(self, data: Any) -> dict[str, Any]:
        """The body `get_paginated_response(data)` answers with (DRF's, plus `page_size`)."""
        page, request = self.page, self.request
        assert page is not None  # noqa: S101 (set by paginate_queryset before this call)
        assert request is not None  # noqa: S101 (set by paginate_queryset too)
        next_link, previous_link = _page_links(page, request, self.page_query_param)
        return {
            "count": page.paginator.count,
            "next": next_link,
            "previous": previous_link,
            "results": data,
            "page_size": page.paginator.per_page,
        }

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        result = super().get_paginated_response_schema(schema)
        result["required"] = ["count", "page_size", "results"]
        result["properties"]["page_size"] = {
            "type": "integer",
            "example": 20,
            "description": "The page size applied (requests above the maximum are clamped).",
        }
        return result


def _page_links(page: Any, request: Request, name: str) -> tuple[str | None, str | None]:
    """DRF's next and previous links (`get_next_link`, `get_previous_link`), from the query as
    the request parsed it."""
    if not (page.has_next() or page.has_previous()):
        return None, None
    # The address without its query, and the query as parsed for the request already.
    address = request.build_absolute_uri(escape_uri_path(request.path))
    params = dict(request.query_params.lists())

    def link(number: int) -> str:
        if number == 1:  # as DRF: the first page's link has no `page`
            params.pop(name, None)
        else:
            params[name] = [str(number)]
        encoded = urlencode(sorted(params.items()), doseq=True)
        return f"{address}?{encoded}" if encoded else address

    return (
        link(page.next_page_number()) if page.has_next() else None,
        link(page.previous_page_number()) if page.has_previous() else None,
    )


class CategoryQuerySerializer(serializers.Serializer[Any]):
    tree = serializers.ChoiceField(choices=TRUE_FALSE, required=False)


class ProductQuerySerializer(QuerySerializer):
    """The product list's filters; errors become a 400 problem naming the field."""

    category = serializers.SlugField(required=False, max_length=200)
    min_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0
    )
    max_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0
    )
    in_stock = serializers.ChoiceField(choices=TRUE_FALSE, required=False)
    ordering = serializers.ChoiceField(
        choices=list(selectors.PRODUCT_ORDERINGS), default=selectors.DEFAULT_PRODUCT_ORDERING
    )
    include_deleted = serializers.ChoiceField(choices=TRUE_FALSE, required=False)
    q = serializers.CharField(required=False, min_length=2, max_length=200)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"max_price": _("Must not be lower than min_price.")}, code="invalid_range"
            )
        return attrs


def product_detail_responses(serializer: type[ProductSerializer]) -> dict[int, Any]:
    """The documented answers of the product detail for one version's serializer."""
    return {
        200: serializer,
        301: OpenApiResponse(description="Moved: the product's slug changed."),
        304: OpenApiResponse(description="Not modified."),
        404: _PROBLEM,
    }


# The product list's filters, shared by every endpoint that takes them (search, CSV export).
PRODUCT_FILTER_PARAMETERS = [
    OpenApiParameter(
        "category",
        OpenApiTypes.STR,
        description="Category slug; products of its subcategories are included.",
    ),
    OpenApiParameter("min_price", OpenApiTypes.DECIMAL, description="Lowest price (inclusive)."),
    OpenApiParameter("max_price", OpenApiTypes.DECIMAL, description="Highest price (inclusive)."),
    OpenApiParameter(
        "in_stock",
        OpenApiTypes.STR,
        enum=TRUE_FALSE,
        description="`true`: some units available to buy; `false`: none (sold out or all held "
        "by unpaid orders).",
    ),
]

CATEGORY_SLUG = OpenApiParameter(
    "slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="Category slug."
)
PRODUCT_SLUG = OpenApiParameter(
    "slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="Product slug."
)


@extend_schema(tags=["catalog"])
class CategoryListView(ServerCachedMixin, CachedReadMixin, ListAPIView[Category]):
    """Active categories, flat (ordered by position, name) or as a tree."""

    permission_classes = [AllowAny]
    server_cache_namespaces = (cache.CATEGORIES,)
    pagination_class = None
    cache_max_age = LIST_MAX_AGE
    last_modified_field = None

    @extend_schema(
        operation_id="categories_list",
        summary="List categories",
        description=(
            "Active categories ordered by position and name, each with its parent's slug. "
            "With `tree=true`, root categories with their `children` nested. A category below "
            "an inactive one is hidden too. Staff also see inactive categories."
        ),
        parameters=[
            OpenApiParameter(
                "tree",
                OpenApiTypes.STR,
                enum=TRUE_FALSE,
                description="`true` returns the nested tree instead of the flat list.",
            )
        ],
        responses={
            200: PolymorphicProxySerializer(
                component_name="CategoryListOrTree",
                serializers=[CategorySerializer, CategoryTreeSerializer],
                resource_type_field_name=None,
                many=True,
            ),
            400: _PROBLEM,
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = CategoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        categories = selectors.category_list(include_inactive=is_staff(request))
        if query.validated_data.get("tree") == "true":
            nodes = selectors.category_tree(categories=categories)
            return Response(CategoryTreeSerializer(nodes, many=True).data)
        return Response(CategorySerializer(categories, many=True).data)


class _CategoryLookup(RetrieveAPIView[Category]):
    """Finds the category through the selector (visibility includes the ancestors)."""

    def get_object(self) -> Category:
        category = selectors.category_get(
            slug=self.kwargs["slug"], include_inactive=is_staff(self.request)
        )
        if category is None:
            raise Http404
        return category


@extend_schema(tags=["catalog"])
class CategoryDetailView(ServerCachedMixin, CachedReadMixin, _CategoryLookup):
    """One visible category."""

    permission_classes = [AllowAny]
    server_cache_namespaces = (cache.CATEGORIES,)
    serializer_class = CategorySerializer
    lookup_field = "slug"
    cache_max_age = DETAIL_MAX_AGE

    @extend_schema(
        operation_id="categories_retrieve",
        summary="Get a category",
        parameters=[CATEGORY_SLUG],
        responses={200: CategorySerializer, 404: _PROBLEM},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ProductPages(ServerCachedMixin):
    """Product pages: cached until a product changes or one is scheduled to appear or go."""

    server_cache_namespaces: tuple[str, ...] = (cache.PRODUCTS,)

    def server_cache_valid_until(self, now: datetime) -> datetime | None:
        return cache.next_scheduled_change(tenant_id=require_current_tenant_id(), now=now)


@extend_schema(tags=["catalog"])
class ProductListView(ProductPages, CachedReadMixin, ListAPIView[Product]):
    """Visible products with filters, ordering and page-number pagination."""

    permission_classes = [AllowAny]
    pagination_class = ProductPagination
    cache_max_age = LIST_MAX_AGE
    _validated_query: dict[str, Any] | None = None
    _filter: queries.ProductFilter | None = None

    def get_serializer_class(self) -> type[ProductSerializer]:
        return product_serializer_class(getattr(self.request, "version", None))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = self._query()
        product_filter = self._product_filter()
        paginator = self.paginator
        assert isinstance(paginator, ProductPagination)  # noqa: S101 (set by pagination_class)
        if not product_filter.staff:
            paginator.count_cache = count_cache_for(
                request.query_params, expires_at=self.server_cache_expires_at(timezone.now())
            )
        source: Sequence[Any] | QuerySet[Product, dict[str, Any]]
        if params.get("q"):
            queryset = self.get_queryset()
            paginator.count_source = queryset.select_related(None).prefetch_related(None)
            source = selectors.product_rows(queryset)
        else:
            # The hot path: fixed SQL per filter combination (see catalog/queries.py).
            source = queries.ProductPageSource(product_filter)
        page = self.paginate_queryset(source)
        assert page is not None  # noqa: S101 (pagination is always on for this view)
        if params.get("q"):  # ORM rows come without their images
            images = queries.images_by_product(
                [row["id"] for row in page], staff=product_filter.staff
            )
            for row in page:
                row["images"] = images.get(row["id"], [])
        version = "v2" if request.version == "v2" else "v1"
        return self.get_paginated_response(
            [product_body(row, row["images"], version=version, request=request) for row in page]
        )

    def _query(self) -> dict[str, Any]:
        """The validated query parameters (400 problem otherwise), read once per request."""
        if self._validated_query is None:
            self._validated_query = ProductQuerySerializer.validate_query(self.request.query_params)
        return self._validated_query

    def _product_filter(self) -> queries.ProductFilter:
        """The validated filters as the product queries take them (built once per request)."""
        if self._filter is None:
            self._filter = product_filter_for(self._query(), staff=is_staff(self.request))
        return self._filter

    def get_queryset(self) -> QuerySet[Product]:
        """The ORM form of the list (search with `q` builds on it)."""
        params = self._query()
        products = selectors.product_list(**asdict(self._product_filter()))
        if params.get("q"):
            matches = product_search_queryset(products, params["q"])
            # Best matches first unless the caller asked for an order.
            if "ordering" in self.request.query_params:
                return matches.order_by(*selectors.PRODUCT_ORDERINGS[params["ordering"]])
            return matches
        return products

    @extend_schema(
        operation_id="products_list",
        summary="List products",
        description=(
            "Products visible now: active, not deleted, `publish_at` unset or past and "
            "`unpublish_at` unset or future. Staff see every product and, with "
            "`include_deleted=true`, soft-deleted ones too. `page_size` defaults to 20; values "
            "above 100 are clamped to 100 and the applied size is reported as `page_size`. "
            "Money is flat in v1 and `{amount, currency}` in v2."
        ),
        parameters=[
            *PRODUCT_FILTER_PARAMETERS,
            OpenApiParameter(
                "ordering",
                OpenApiTypes.STR,
                enum=[*selectors.PRODUCT_ORDERINGS],
                default=selectors.DEFAULT_PRODUCT_ORDERING,
                description="Sort order; `-rating` sorts by average rating, best first.",
            ),
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description=(
                    "Search text (2+ characters): matching products, best matches first unless "
                    "`ordering` is given. `search/products/` adds facets."
                ),
            ),
            OpenApiParameter(
                "include_deleted",
                OpenApiTypes.STR,
                enum=TRUE_FALSE,
                description="Staff only (ignored for others): also list soft-deleted products.",
            ),
        ],
    )
    @extend_schema(
        versions=["v1"], responses={200: ProductSerializer(many=True), 400: _PROBLEM, 404: _PROBLEM}
    )
    @extend_schema(
        versions=["v2"],
        responses={200: ProductV2Serializer(many=True), 400: _PROBLEM, 404: _PROBLEM},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class _ProductLookup(RetrieveAPIView[Product]):
    """Reads the product as one row of hand-written SQL (see catalog/queries.py)."""

    def get_queryset(self) -> QuerySet[Product]:
        # For the schema only: the row comes from `get_object`.
        nothing: QuerySet[Product] = Product.objects.none()
        return nothing

    def get_object(self) -> Any:
        row = queries.product_by_slug(self.kwargs["slug"], staff=is_staff(self.request))
        if row is None:
            raise Http404
        self.check_object_permissions(self.request, row)
        return row


@extend_schema(tags=["catalog"])
class ProductDetailView(ProductPages, CachedReadMixin, _ProductLookup):
    """One visible product; an old slug answers 301 to the current URL."""

    permission_classes = [AllowAny]
    lookup_field = "slug"
    cache_max_age = DETAIL_MAX_AGE

    def get_serializer_class(self) -> type[ProductSerializer]:
        return product_serializer_class(getattr(self.request, "version", None))

    def visible_images(self, row: dict[str, Any]) -> list[ProductImage]:
        """The product's images the caller may see (read with the row)."""
        images: list[ProductImage] = row["images"]
        return images

    def get_etag_seed(self, obj: dict[str, Any]) -> str:
        return product_etag_seed(obj, self.visible_images(obj))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()
        version = "v2" if request.version == "v2" else "v1"
        return Response(
            product_body(row, self.visible_images(row), version=version, request=request)
        )

    @extend_schema(
        operation_id="products_retrieve",
        summary="Get a product",
        description=(
            "404 for deleted, inactive or unpublished products (staff see them, deleted "
            "excepted). A former slug answers 301 with `Location` set to the current URL."
        ),
        parameters=[PRODUCT_SLUG],
    )
    @extend_schema(versions=["v1"], responses=product_detail_responses(ProductSerializer))
    @extend_schema(versions=["v2"], responses=product_detail_responses(ProductV2Serializer))
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().get(request, *args, **kwargs)
        except Http404:
            current = selectors.product_redirect_slug(
                old_slug=kwargs["slug"], staff=is_staff(request)
            )
            if current is None:
                raise
            return self._moved(request, current)

    def _moved(self, request: Request, slug: str) -> Response:
        location = reverse(
            "api:catalog-product-detail", kwargs={"version": request.version, "slug": slug}
        )
        if request.META.get("QUERY_STRING"):
            location = f"{location}?{request.META['QUERY_STRING']}"
        return Response(status=301, headers={"Location": location})


urlpatterns: list[URLPattern] = [
    path("categories/", CategoryListView.as_view(), name="catalog-category-list"),
    path("categories/<slug:slug>/", CategoryDetailView.as_view(), name="catalog-category-detail"),
    path("products/", ProductListView.as_view(), name="catalog-product-list"),
    path("products/<slug:slug>/", ProductDetailView.as_view(), name="catalog-product-detail"),
]
