"""Product search over HTTP: `GET search/products/?q=` with the product list's filters, facets
and pagination."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from emporium.catalog import cache
from emporium.catalog import selectors as catalog
from emporium.catalog.api.read import (
    PRODUCT_FILTER_PARAMETERS,
    ProductPages,
    ProductPagination,
    ProductQuerySerializer,
)
from emporium.catalog.serializers import (
    ProductSerializer,
    ProductV2Serializer,
    product_body,
)
from emporium.core.caching import CachedReadMixin
from emporium.search import selectors
from emporium.search.elastic import MAX_RESULT_WINDOW
from emporium.search.query import (
    MAX_QUERY_LENGTH,
    MIN_QUERY_LENGTH,
    SearchPage,
    SearchParams,
    search_terms,
)

SEARCH_MAX_AGE = 30
_PROBLEM = OpenApiResponse(description=_lazy("Problem document (application/problem+json)."))


class SearchQuerySerializer(ProductQuerySerializer):
    """The search's parameters: `q` plus the product list's filters; ordering is optional."""

    q = serializers.CharField(required=True, allow_blank=True, max_length=MAX_QUERY_LENGTH)
    ordering = serializers.ChoiceField(choices=list(catalog.PRODUCT_ORDERINGS), required=False)
    include_deleted = None  # type: ignore[assignment]  # customers' view only

    def validate_q(self, value: str) -> str:
        value = value.strip()
        if len(value) < MIN_QUERY_LENGTH or not search_terms(value):
            raise serializers.ValidationError(
                _("Search for at least %(count)d letters or digits.") % {"count": MIN_QUERY_LENGTH},
                code="invalid",
            )
        return value


# --- Documentation of the response ------------------------------------------------------------


class CategoryFacetSerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField()
    name = serializers.CharField()
    count = serializers.IntegerField(help_text="Matching products in it or below it.")


class PriceFacetSerializer(serializers.Serializer[Any]):
    min = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Inclusive.")
    max = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="Exclusive; null: no limit."
    )
    count = serializers.IntegerField()


class FacetsSerializer(serializers.Serializer[Any]):
    categories = CategoryFacetSerializer(many=True)
    price = PriceFacetSerializer(many=True)


class SearchResponseSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    page_size = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProductSerializer(many=True)
    facets = FacetsSerializer()


class SearchResponseV2Serializer(SearchResponseSerializer):
    results = ProductV2Serializer(many=True)


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


def facets_data(page: SearchPage) -> dict[str, list[dict[str, Any]]]:
    """The `facets` object of a search response."""
    return {
        "categories": [
            {"slug": facet.category.slug, "name": facet.category.name, "count": facet.count}
            for facet in page.categories
        ],
        "price": [
            {"min": _money(bucket.low), "max": _money(bucket.high), "count": bucket.count}
            for bucket in page.prices
        ],
    }


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if number < 1:
        raise NotFound(_("Invalid page."))
    return number


@extend_schema(tags=["search"])
class ProductSearchView(ProductPages, CachedReadMixin, GenericAPIView[Any]):
    """Visible products matching a text query, ranked by relevance, with facets."""

    permission_classes = [AllowAny]
    # Facets count per category: category changes matter as much as product ones.
    server_cache_namespaces = (cache.PRODUCTS, cache.CATEGORIES)
    cache_max_age = SEARCH_MAX_AGE
    last_modified_field = None

    @extend_schema(
        operation_id="search_products",
        summary="Search products",
        description=(
            "Products visible now whose name, SKU or description match `q`: whole words, word "
            "prefixes (`lapt` finds Laptop), substrings and small typos (`lpatop`). Ranked by "
            "relevance (a name equal to the query first) unless `ordering` is given. Takes the "
            "product list's filters; `facets` counts the matching products per category (a "
            "category counts its subcategories' products too) and per price range, over all "
            "pages. `page_size` defaults to 20 and is clamped to 100."
        ),
        parameters=[
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                required=True,
                description=f"Search text, at least {MIN_QUERY_LENGTH} letters or digits.",
            ),
            *PRODUCT_FILTER_PARAMETERS,
            OpenApiParameter(
                "ordering",
                OpenApiTypes.STR,
                enum=list(catalog.PRODUCT_ORDERINGS),
                description="Sort order instead of relevance.",
            ),
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number (from 1)."),
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="Results per page (1-100, default 20)."
            ),
        ],
    )
    @extend_schema(
        versions=["v1"],
        responses={200: SearchResponseSerializer, 400: _PROBLEM, 404: _PROBLEM, 503: _PROBLEM},
    )
    @extend_schema(
        versions=["v2"],
        responses={200: SearchResponseV2Serializer, 400: _PROBLEM, 404: _PROBLEM, 503: _PROBLEM},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def server_cache_fetch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        page_size = ProductPagination().get_page_size(request) or ProductPagination.page_size
        number = _page_number(request)
        offset = (number - 1) * page_size
        if selectors.backend_name() == "elasticsearch" and offset + page_size > MAX_RESULT_WINDOW:
            raise NotFound(_("Invalid page."))
        category_ids = None
        if params.get("category"):
            category_ids = catalog.category_subtree_ids(slug=params["category"])
        page = selectors.product_search(
            SearchParams(
                q=params["q"],
                now=timezone.now(),
                category_ids=category_ids,
                min_price=params.get("min_price"),
                max_price=params.get("max_price"),
                in_stock={"true": True, "false": False}.get(params.get("in_stock", "")),
                ordering=params.get("ordering"),
                offset=offset,
                limit=page_size,
            )
        )
        if number > 1 and offset >= page.count:
            raise NotFound(_("Invalid page."))
        version = "v2" if getattr(request, "version", None) == "v2" else "v1"
        url = request.build_absolute_uri()
        previous = None
        if number == 2:
            previous = remove_query_param(url, "page")
        elif number > 2:
            previous = replace_query_param(url, "page", number - 1)
        return Response(
            {
                "count": page.count,
                "page_size": page_size,
                "next": replace_query_param(url, "page", number + 1)
                if offset + page_size < page.count
                else None,
                "previous": previous,
                "results": [
                    product_body(row, row["images"], version=version, request=request)
                    for row in page.products
                ],
                "facets": facets_data(page),
            }
        )


urlpatterns: list[URLPattern] = [
    path("search/products/", ProductSearchView.as_view(), name="search-products"),
]
