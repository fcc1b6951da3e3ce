"""Inventory endpoints: public real-time availability by SKU, staff stock adjustments."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.catalog.models import Product
from emporium.core.errors import ApplicationError
from emporium.inventory import selectors, services
from emporium.inventory.models import InventoryMovement

AVAILABILITY_MAX_SKUS = 100


class SkusRequired(ApplicationError):
    status = 400
    code = "required"
    title = _("Give one or more SKUs: ?skus=A,B,C.")


class TooManySkus(ApplicationError):
    status = 400
    code = "too_many_skus"
    title = _("Ask for at most 100 SKUs at a time.")


class AvailabilityItemSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField()
    available = serializers.IntegerField(
        help_text="Units that can be ordered now (on hand minus reserved); 0 for unknown SKUs."
    )
    in_stock = serializers.BooleanField()


class AvailabilitySerializer(serializers.Serializer[Any]):
    results = AvailabilityItemSerializer(many=True)


def parse_skus(raw: str) -> list[str]:
    """`"A, B,,A"` -> ["A", "B"]: trimmed, blanks dropped, duplicates removed, order kept."""
    return list(dict.fromkeys(sku.strip() for sku in raw.split(",") if sku.strip()))


@extend_schema(tags=["inventory"])
class AvailabilityView(APIView):
    """Real-time availability of up to 100 SKUs, in one database query."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="inventory_availability",
        summary="Availability by SKU",
        description=(
            "Units available now (on hand minus reserved by unpaid orders) for each SKU, in the "
            "order asked, duplicates removed. SKUs of unknown, deleted or unpublished products "
            "are answered with `available: 0` (they are indistinguishable from sold-out ones). "
            f"At most {AVAILABILITY_MAX_SKUS} SKUs: more is a 400 `too_many_skus`; none is a "
            "400 `required`. Not cached."
        ),
        parameters=[
            OpenApiParameter(
                "skus",
                OpenApiTypes.STR,
                required=True,
                description="Comma-separated SKUs.",
                examples=[OpenApiExample("Two SKUs", value="TEE-RED-M,MUG-01")],
            )
        ],
        responses={200: AvailabilitySerializer},
        auth=[],
    )
    def get(self, request: Request, version: str) -> Response:
        skus = parse_skus(request.query_params.get("skus", ""))
        if not skus:
            raise SkusRequired()
        if len(skus) > AVAILABILITY_MAX_SKUS:
            raise TooManySkus()
        available = selectors.stock_available_by_sku(skus=skus)
        results = [
            {"sku": sku, "available": available.get(sku, 0), "in_stock": available.get(sku, 0) > 0}
            for sku in skus
        ]
        return Response({"results": results}, headers={"Cache-Control": "no-store"})


class AdjustmentSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField(max_length=64, help_text="The product to adjust.")
    delta = serializers.IntegerField(
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Units to add (positive) or remove (negative) from the quantity on hand.",
    )
    reason = serializers.ChoiceField(
        choices=[InventoryMovement.Reason.ADJUST, InventoryMovement.Reason.RESTOCK],
        default=InventoryMovement.Reason.ADJUST,
        help_text="`adjust` for corrections (counts, breakage), `restock` for deliveries.",
    )

    def validate_delta(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError(_("Must not be 0."), code="invalid")
        return value


class StockSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField()
    quantity = serializers.IntegerField(help_text="On hand.")
    reserved = serializers.IntegerField(help_text="Held by unpaid orders.")
    available = serializers.IntegerField()


@extend_schema(tags=["inventory"])
class AdjustmentView(APIView):
    """Staff: change a product's quantity on hand; the change is recorded as a movement."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="inventory_adjustments_create",
        summary="Adjust stock (staff)",
        description=(
            "Adds `delta` to the quantity on hand of the product with `sku` (deleted products "
            "excepted) and records an inventory movement. The quantity cannot drop below the "
            "units reserved (409 `stock_conflict`); a `delta` of 0 is refused (400)."
        ),
        request=AdjustmentSerializer,
        responses={201: StockSerializer},
    )
    def post(self, request: Request, version: str) -> Response:
        data = AdjustmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = Product.objects.filter(sku=data.validated_data["sku"]).first()
        if product is None:
            raise Http404
        stock = services.stock_adjust(
            product_id=product.pk,
            delta=data.validated_data["delta"],
            reason=data.validated_data["reason"],
        )
        body = {
            "sku": product.sku,
            "quantity": stock.quantity,
            "reserved": stock.reserved,
            "available": stock.available,
        }
        return Response(StockSerializer(body).data, status=status.HTTP_201_CREATED)


urlpatterns: list[URLPattern] = [
    path("inventory/availability/", AvailabilityView.as_view(), name="inventory-availability"),
    path("inventory/adjustments/", AdjustmentView.as_view(), name="inventory-adjustments"),
]
