"""Product images under /api/<version>/products/{slug}/images/: upload, list, delete, and signed
links to the private originals."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.catalog import selectors, services_images
from emporium.catalog.images import (
    PRODUCT_IMAGE_MAX_BYTES,
    PRODUCT_IMAGE_MAX_PIXELS,
    PRODUCT_IMAGE_MAX_SIDE,
    ProductImageUploadLimit,
)
from emporium.catalog.models import Product, ProductImage
from emporium.catalog.serializers import ProductImageSerializer, product_image_representation
from emporium.core.pagination import PageNumberPagination

CHECKSUM_HEADER = "X-Checksum-SHA256"
CHECKSUM_PATTERN = r"^[0-9a-fA-F]{64}$"
_PROBLEM = OpenApiResponse(description="Problem document (application/problem+json).")
PRODUCT_SLUG = OpenApiParameter(
    "slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="Product slug."
)
IMAGE_ID = OpenApiParameter(
    "image_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Image id."
)


def _is_staff(request: Request) -> bool:
    return bool(getattr(request.user, "is_staff", False))


# --- Serializers ----------------------------------------------------------------------------


class ProductImageUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="JPEG, PNG or WebP (decided from the content), at most 20 MB, 10000 pixels "
        "on a side and 40 megapixels. Kept unchanged as the private original."
    )
    alt_text = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    position = serializers.IntegerField(
        min_value=0,
        max_value=2_147_483_647,
        required=False,
        help_text="Sort position; after the last image when omitted.",
    )
    checksum_sha256 = serializers.RegexField(
        CHECKSUM_PATTERN,
        required=False,
        help_text=f"Hex SHA-256 of the file (or send the `{CHECKSUM_HEADER}` header); a "
        "mismatch is refused with `checksum_mismatch` and nothing is stored.",
        error_messages={"invalid": _("Use the 64 hexadecimal digits of a SHA-256 digest.")},
    )


# --- Views ----------------------------------------------------------------------------------


def _product(request: Request, slug: str) -> Product:
    """The product if the caller may see it (staff: any live product), else 404."""
    product: Product | None = (
        selectors.product_base_queryset(staff=_is_staff(request)).filter(slug=slug).first()
    )
    if product is None:
        raise exceptions.NotFound(_("No product has this slug."))
    return product


def _image(request: Request, slug: str, image_id: uuid.UUID) -> ProductImage:
    image = services_images.product_image_get(
        product=_product(request, slug), image_id=image_id, staff=_is_staff(request)
    )
    if image is None:
        raise exceptions.NotFound(_("The product has no such image."))
    return image


def _checksum_header(request: Request) -> str | None:
    value = request.headers.get(CHECKSUM_HEADER)
    if value is None:
        return None
    value = value.strip()
    if not re.fullmatch(CHECKSUM_PATTERN, value):
        raise exceptions.ValidationError(
            {CHECKSUM_HEADER: [_("Use the 64 hexadecimal digits of a SHA-256 digest.")]},
            code="invalid",
        )
    return value


class _ReadPublicWriteStaff(GenericAPIView[Any]):
    def get_permissions(self) -> list[BasePermission]:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [AllowAny()]
        return [IsAdminUser()]


@extend_schema(tags=["catalog"])
class ProductImageListView(_ReadPublicWriteStaff):
    parser_classes = [MultiPartParser]
    pagination_class = PageNumberPagination
    serializer_class = ProductImageSerializer

    @extend_schema(
        operation_id="product_images_list",
        summary="List a product's images",
        description="In display order (`position`, then upload time). Public for visible "
        "products, showing `ready` images only; staff see every image of any live product, "
        "whatever its status.",
        parameters=[PRODUCT_SLUG],
        responses={200: ProductImageSerializer(many=True), 404: _PROBLEM},
    )
    def get(self, request: Request, version: str, slug: str) -> Response:
        product = _product(request, slug)
        images = services_images.product_image_list(product=product, staff=_is_staff(request))
        page = self.paginate_queryset(images)
        body = [product_image_representation(image, request) for image in page or []]
        return self.get_paginated_response(body)

    @extend_schema(
        operation_id="product_images_create",
        summary="Upload a product image (staff)",
        description="`multipart/form-data` with the image in `file`. The format is decided "
        "from the content: JPEG, PNG or WebP (`unsupported_format` for other images, "
        f"`invalid_image` for anything unreadable or truncated); at most "
        f"{PRODUCT_IMAGE_MAX_BYTES // (1024 * 1024)} MB, {PRODUCT_IMAGE_MAX_SIDE} pixels on a "
        f"side and {PRODUCT_IMAGE_MAX_PIXELS // 1_000_000} megapixels (`image_too_large`). "
        f"Send the file's hex SHA-256 in the `{CHECKSUM_HEADER}` header or the "
        "`checksum_sha256` field to have it verified (`checksum_mismatch`: nothing stored). "
        "The original is kept unchanged (private); the public `url` is a WebP rendition "
        "without metadata. With S3 storage configured the image is `pending` until a worker "
        "has copied it there; without, it is `ready` at once.",
        parameters=[
            PRODUCT_SLUG,
            OpenApiParameter(
                CHECKSUM_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Hex SHA-256 of the file.",
            ),
        ],
        request={"multipart/form-data": ProductImageUploadSerializer},
        responses={
            201: ProductImageSerializer,
            400: _PROBLEM,
            401: _PROBLEM,
            403: _PROBLEM,
            404: _PROBLEM,
        },
    )
    def post(self, request: Request, version: str, slug: str) -> Response:
        # First, so an oversized file is refused while it streams in.
        request.upload_handlers.insert(0, ProductImageUploadLimit())
        product = _product(request, slug)
        header = _checksum_header(request)
        data = ProductImageUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        upload = fields["file"]
        image = services_images.product_image_create(
            product=product,
            file=upload,
            size=upload.size,
            alt_text=fields["alt_text"],
            position=fields.get("position"),
            expected_checksums=[c for c in (header, fields.get("checksum_sha256")) if c],
        )
        location = reverse(
            "api:product-image-detail",
            kwargs={"version": version, "slug": product.slug, "image_id": image.id},
        )
        return Response(
            product_image_representation(image, request),
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


@extend_schema(tags=["catalog"])
class ProductImageDetailView(_ReadPublicWriteStaff):
    serializer_class = ProductImageSerializer

    @extend_schema(
        operation_id="product_images_retrieve",
        summary="Get a product image",
        description="Customers see `ready` images of visible products; staff see any.",
        parameters=[PRODUCT_SLUG, IMAGE_ID],
        responses={200: ProductImageSerializer, 404: _PROBLEM},
    )
    def get(self, request: Request, version: str, slug: str, image_id: uuid.UUID) -> Response:
        return Response(product_image_representation(_image(request, slug, image_id), request))

    @extend_schema(
        operation_id="product_images_destroy",
        summary="Delete a product image (staff)",
        description="Removes the image at once; its files and storage objects are deleted "
        "in the background.",
        parameters=[PRODUCT_SLUG, IMAGE_ID],
        request=None,
        responses={204: None, 401: _PROBLEM, 403: _PROBLEM, 404: _PROBLEM},
    )
    def delete(self, request: Request, version: str, slug: str, image_id: uuid.UUID) -> Response:
        services_images.product_image_delete(image=_image(request, slug, image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["catalog"])
class ProductImageOriginalView(APIView):
    """Redirects staff to a short-lived link to the private original."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="product_images_original",
        summary="Download an image's original (staff)",
        description="302 to a signed link that works without credentials for "
        "`S3_SIGNED_URL_TTL` seconds (15 minutes by default): a presigned storage URL once "
        "the image is on S3, else this API's `original/download/` link.",
        parameters=[PRODUCT_SLUG, IMAGE_ID],
        responses={
            302: OpenApiResponse(description="`Location` is the signed link."),
            401: _PROBLEM,
            403: _PROBLEM,
            404: _PROBLEM,
        },
    )
    def get(self, request: Request, version: str, slug: str, image_id: uuid.UUID) -> Response:
        image = _image(request, slug, image_id)
        location = services_images.product_image_original_presigned_url(image=image)
        if location is None:
            link = reverse(
                "api:product-image-original-download",
                kwargs={"version": version, "slug": slug, "image_id": image.id},
            )
            signature = services_images.product_image_original_signature(image=image)
            location = request.build_absolute_uri(f"{link}?signature={signature}")
        return Response(
            status=status.HTTP_302_FOUND,
            headers={"Location": location, "Cache-Control": "private, no-store"},
        )


@extend_schema(tags=["catalog"])
class ProductImageOriginalDownloadView(APIView):
    """A capability URL: the signature, not a token, grants access to this one file."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="product_images_original_download",
        summary="Download an image's original through a signed link",
        description="Follow the `Location` of `original/` as given; it works without the "
        "Authorization header until it expires. A tampered signature is 403 "
        "`signature_invalid`, an expired one 403 `signature_expired`.",
        auth=[],
        parameters=[
            PRODUCT_SLUG,
            IMAGE_ID,
            OpenApiParameter(
                "signature",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=True,
                description="The signature from the link.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The original image, as an attachment."
            ),
            302: OpenApiResponse(description="The image moved to S3: a presigned URL."),
            403: _PROBLEM,
            404: _PROBLEM,
        },
    )
    def get(
        self, request: Request, version: str, slug: str, image_id: uuid.UUID
    ) -> FileResponse | Response:
        services_images.product_image_original_check(
            image_id=image_id, signature=request.query_params.get("signature", "")
        )
        image = services_images.product_image_find(slug=slug, image_id=image_id)
        if image is None:
            raise exceptions.NotFound(_("The product has no such image."))
        presigned = services_images.product_image_original_presigned_url(image=image)
        if presigned is not None:  # uploaded since the link was made
            return Response(status=status.HTTP_302_FOUND, headers={"Location": presigned})
        if not image.file_path or not default_storage.exists(image.file_path):
            raise exceptions.NotFound(_("The product has no such image."))
        response = FileResponse(
            default_storage.open(image.file_path, "rb"),
            as_attachment=True,
            filename=services_images.original_filename(image),
            content_type=image.content_type,
        )
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response


urlpatterns: list[URLPattern] = [
    path(
        "products/<slug:slug>/images/",
        ProductImageListView.as_view(),
        name="product-image-list",
    ),
    path(
        "products/<slug:slug>/images/<uuid:image_id>/",
        ProductImageDetailView.as_view(),
        name="product-image-detail",
    ),
    path(
        "products/<slug:slug>/images/<uuid:image_id>/original/",
        ProductImageOriginalView.as_view(),
        name="product-image-original",
    ),
    path(
        "products/<slug:slug>/images/<uuid:image_id>/original/download/",
        ProductImageOriginalDownloadView.as_view(),
        name="product-image-original-download",
    ),
]
