"""Product reviews: /api/<version>/products/{slug}/reviews/ and /api/<version>/reviews/{id}/."""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, BasePermission, IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.catalog.models import Product
from emporium.catalog.selectors import product_visible_q
from emporium.core.pagination import PageNumberPagination
from emporium.reviews import selectors, services
from emporium.reviews.documents import (
    BODY_MAX_LENGTH,
    RATINGS,
    TITLE_MAX_LENGTH,
    Review,
    ReviewStatus,
)
from emporium.reviews.fields import references_resolve
from emporium.reviews.selectors import RatingSummary
from emporium.reviews.text import review_text_clean

_PROBLEM = OpenApiResponse(description="Problem document (application/problem+json).")
PRODUCT_SLUG = OpenApiParameter(
    "slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="Product slug."
)
REVIEW_ID = OpenApiParameter(
    "review_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Review id."
)


def _is_staff(request: Request) -> bool:
    return bool(getattr(request.user, "is_staff", False))


# --- Serializers ---------------------------------------------------------------------------


class RatingSummarySerializer(serializers.Serializer[Any]):
    average = serializers.DecimalField(
        max_digits=3,
        decimal_places=2,
        allow_null=True,
        help_text="Mean of the published ratings, 2 places (half up); null without reviews.",
    )
    count = serializers.IntegerField(help_text="Published reviews.")
    distribution = serializers.DictField(
        child=serializers.IntegerField(), help_text='Reviews per rating: {"1": n, ... "5": n}.'
    )


class ReviewSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    product_slug = serializers.CharField(allow_null=True)
    author_name = serializers.CharField(
        help_text="First name and last initial; `Anonymous` once the author deleted their account."
    )
    is_author = serializers.BooleanField(help_text="Whether the caller wrote this review.")
    rating = serializers.IntegerField(min_value=1, max_value=5)
    title = serializers.CharField()
    body = serializers.CharField()
    status = serializers.ChoiceField(choices=ReviewStatus.choices)
    verified_purchase = serializers.BooleanField()
    helpful_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ReviewListSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    rating = RatingSummarySerializer()
    results = ReviewSerializer(many=True)


def _clean_text(limit: int) -> Any:
    def validate(value: str) -> str:
        cleaned = review_text_clean(value)
        if len(cleaned) > limit:
            raise serializers.ValidationError(
                gettext("At most %(limit)d characters (after removing markup).") % {"limit": limit},
                code="max_length",
            )
        return cleaned

    return validate


class ReviewWriteSerializer(serializers.Serializer[Any]):
    rating = serializers.IntegerField(min_value=1, max_value=5, help_text="1 to 5 stars.")
    title = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text=f"Plain text: markup is removed; at most {TITLE_MAX_LENGTH} characters after.",
    )
    body = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text=f"Plain text: markup is removed; at most {BODY_MAX_LENGTH} characters after.",
    )

    def validate_title(self, value: str) -> str:
        cleaned: str = _clean_text(TITLE_MAX_LENGTH)(value)
        return cleaned

    def validate_body(self, value: str) -> str:
        cleaned: str = _clean_text(BODY_MAX_LENGTH)(value)
        return cleaned


class ReviewModerateSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=ReviewStatus.choices)


def _author_name(review: Review) -> str:
    user = review.user
    if user is None:
        return gettext("Anonymous")
    first = (user.first_name or "").strip()
    last = (user.last_name or "").strip()
    if not first:
        return gettext("Customer")
    return f"{first} {last[0]}." if last else first


def review_body(review: Review, request: Request) -> dict[str, Any]:
    """A review as the API shows it (references already resolved for lists)."""
    product = review.product
    caller_id = getattr(request.user, "pk", None)
    return {
        "id": str(review.id),
        "product_slug": product.slug if product is not None else None,
        "author_name": _author_name(review),
        "is_author": caller_id is not None and review.user_id == caller_id,
        "rating": review.rating,
        "title": review.title,
        "body": review.body,
        "status": review.status,
        "verified_purchase": review.verified_purchase,
        "helpful_count": review.helpful_count,
        "created_at": review.created_at,
        "updated_at": review.updated_at,
    }


def summary_body(summary: RatingSummary) -> dict[str, Any]:
    average = summary.average
    return {
        "average": str(average) if average is not None else None,
        "count": summary.count,
        "distribution": {str(rating): summary.distribution[rating] for rating in RATINGS},
    }


# --- Views ---------------------------------------------------------------------------------


def _product(request: Request, slug: str) -> Product:
    """The live product if the caller may see it (customers: visible ones), else 404."""
    queryset = Product.objects.filter(slug=slug)
    if not _is_staff(request):
        queryset = queryset.filter(product_visible_q(now=timezone.now()))
    product: Product | None = queryset.first()
    if product is None:
        raise exceptions.NotFound(_("No product has this slug."))
    return product


def _review(request: Request, review_id: uuid.UUID) -> Review:
    review = selectors.review_get_for_caller(review_id=review_id, user=request.user)
    if review is None:
        raise exceptions.NotFound(_("No review has this id."))
    return review


class ReviewPagination(PageNumberPagination):
    """`?page=2&page_size=20`; 10 reviews a page by default, at most 50."""

    page_size = 10
    max_page_size = 50


ORDERING = OpenApiParameter(
    "ordering",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    enum=list(selectors.REVIEW_ORDERINGS),
    description="newest (default), oldest, highest, lowest or most_helpful rating first.",
)


@extend_schema(tags=["reviews"])
class ProductReviewListView(GenericAPIView[Any]):
    pagination_class = ReviewPagination
    serializer_class = ReviewSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [AllowAny()]
        return [IsAuthenticated()]

    @property
    def throttle_scope(self) -> str | None:
        """New reviews count against the `review_create` limit (5 an hour); reads do not."""
        request = getattr(self, "request", None)
        return "review_create" if request is not None and request.method == "POST" else None

    @extend_schema(
        operation_id="product_reviews_list",
        summary="List a product's reviews",
        description="Published reviews of a visible product, paginated (`page_size` 10 by "
        "default, at most 50), with the product's `rating` summary over all its published "
        "reviews. An unknown `ordering` is a `validation_error`.",
        parameters=[PRODUCT_SLUG, ORDERING],
        responses={200: ReviewListSerializer, 400: _PROBLEM, 404: _PROBLEM},
        auth=[],
    )
    def get(self, request: Request, version: str, slug: str) -> Response:
        product = _product(request, slug)
        ordering = request.query_params.get("ordering", selectors.DEFAULT_REVIEW_ORDERING)
        if ordering not in selectors.REVIEW_ORDERINGS:
            raise exceptions.ValidationError(
                {"ordering": [_("Use newest, oldest, highest, lowest or most_helpful.")]},
                code="invalid_choice",
            )
        reviews = selectors.review_list_for_product(product_id=product.pk, ordering=ordering)
        page: list[Review] = list(self.paginate_queryset(reviews) or [])
        for review in page:
            Review.product.prime(review, product)
        references_resolve(page, "user")
        response = self.get_paginated_response([review_body(r, request) for r in page])
        response.data["rating"] = summary_body(
            selectors.product_rating_summary(product_id=product.pk)
        )
        return response

    @extend_schema(
        operation_id="product_reviews_create",
        summary="Review a product",
        description="One review per customer and product (`review_exists`, 409, on a second "
        "one: edit it instead). Published at once; `verified_purchase` is set when the "
        "customer has a paid order with the product. Limited by the `review_create` scope "
        "(5 an hour per user by default; 429 `rate_limited`).",
        parameters=[PRODUCT_SLUG],
        request=ReviewWriteSerializer,
        responses={
            201: ReviewSerializer,
            400: _PROBLEM,
            401: _PROBLEM,
            404: _PROBLEM,
            409: _PROBLEM,
            429: _PROBLEM,
        },
    )
    def post(self, request: Request, version: str, slug: str) -> Response:
        product = _product(request, slug)
        data = ReviewWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_create(product=product, user=request.user, **data.validated_data)
        location = reverse("api:review-detail", kwargs={"version": version, "review_id": review.id})
        return Response(
            review_body(review, request),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


@extend_schema(tags=["reviews"])
class ReviewDetailView(APIView):
    def get_permissions(self) -> list[BasePermission]:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        operation_id="reviews_retrieve",
        summary="Get a review",
        description="Published reviews for everyone; the author and staff also see pending "
        "and rejected ones (404 for anyone else).",
        parameters=[REVIEW_ID],
        responses={200: ReviewSerializer, 404: _PROBLEM},
    )
    def get(self, request: Request, version: str, review_id: uuid.UUID) -> Response:
        return Response(review_body(_review(request, review_id), request))

    @extend_schema(
        operation_id="reviews_partial_update",
        summary="Edit your review",
        description="The author changes the rating, title or body; the product's rating is "
        "recomputed. Anyone else: 403 `not_review_author` (404 when they cannot see it).",
        parameters=[REVIEW_ID],
        request=ReviewWriteSerializer(partial=True),
        responses={
            200: ReviewSerializer,
            400: _PROBLEM,
            401: _PROBLEM,
            403: _PROBLEM,
            404: _PROBLEM,
        },
    )
    def patch(self, request: Request, version: str, review_id: uuid.UUID) -> Response:
        review = _review(request, review_id)
        data = ReviewWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        review = services.review_update(review=review, user=request.user, **data.validated_data)
        return Response(review_body(review, request))

    @extend_schema(
        operation_id="reviews_destroy",
        summary="Delete a review",
        description="The author (or staff) removes it; the product's rating is recomputed.",
        parameters=[REVIEW_ID],
        request=None,
        responses={204: None, 401: _PROBLEM, 403: _PROBLEM, 404: _PROBLEM},
    )
    def delete(self, request: Request, version: str, review_id: uuid.UUID) -> Response:
        services.review_delete(review=_review(request, review_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["reviews"])
class ReviewModerateView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="reviews_moderate",
        summary="Moderate a review (staff)",
        description="Set `status` to published, pending or rejected; only published reviews "
        "are shown to customers and count towards the product's rating.",
        parameters=[REVIEW_ID],
        request=ReviewModerateSerializer,
        responses={
            200: ReviewSerializer,
            400: _PROBLEM,
            401: _PROBLEM,
            403: _PROBLEM,
            404: _PROBLEM,
        },
    )
    def post(self, request: Request, version: str, review_id: uuid.UUID) -> Response:
        review = _review(request, review_id)
        data = ReviewModerateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_moderate(
            review=review, status=data.validated_data["status"], moderator=request.user
        )
        return Response(review_body(review, request))


@extend_schema(tags=["reviews"])
class ReviewHelpfulView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="reviews_helpful",
        summary="Mark a review as helpful",
        description="Once per user (`already_voted`, 409, after that); not on your own "
        "review (`own_review`, 400).",
        parameters=[REVIEW_ID],
        request=None,
        responses={
            200: ReviewSerializer,
            400: _PROBLEM,
            401: _PROBLEM,
            404: _PROBLEM,
            409: _PROBLEM,
        },
    )
    def post(self, request: Request, version: str, review_id: uuid.UUID) -> Response:
        review = _review(request, review_id)
        if review.status != ReviewStatus.PUBLISHED:
            raise exceptions.NotFound(_("No review has this id."))
        review = services.review_mark_helpful(review=review, user=request.user)
        return Response(review_body(review, request))


urlpatterns: list[URLPattern] = [
    path("products/<slug:slug>/reviews/", ProductReviewListView.as_view(), name="product-reviews"),
    path("reviews/<uuid:review_id>/", ReviewDetailView.as_view(), name="review-detail"),
    path(
        "reviews/<uuid:review_id>/moderate/", ReviewModerateView.as_view(), name="review-moderate"
    ),
    path("reviews/<uuid:review_id>/helpful/", ReviewHelpfulView.as_view(), name="review-helpful"),
]
