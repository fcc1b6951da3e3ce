"""Orders under /api/<version>/orders/: checkout, the customer's orders, cancellation, staff tools.

Money is flat in v1 (`"total": "12.50", "currency": "EUR"`) and an object in v2
(`"total": {"amount": "12.50", "currency": "EUR"}`), as in the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.accounts.models import User
from emporium.cart.selectors import cart_get_active_for_customer
from emporium.catalog.serializers import MoneySerializer, money
from emporium.core.errors import PROBLEM_CONTENT_TYPE, problem_body
from emporium.core.pagination import PageNumberPagination
from emporium.inventory.services import InsufficientStock
from emporium.orders import selectors, services
from emporium.orders.errors import CartEmpty, OrderNotFound
from emporium.orders.models import Order, OrderDiscount, OrderLine, OrderStatus

_PROBLEM = OpenApiResponse(description="Problem document (application/problem+json).")
MONEY_FIELDS = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")


# --- serializers ------------------------------------------------------------------------------


class OrderLineSerializer(serializers.ModelSerializer[Any]):
    product_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "product_id",
            "sku",
            "name",
            "unit_price",
            "quantity",
            "discount_amount",
            "line_total",
        ]
        read_only_fields = fields


class OrderDiscountSerializer(serializers.ModelSerializer[Any]):
    class Meta:
        model = OrderDiscount
        fields = ["code", "kind", "amount"]
        read_only_fields = fields


class PaymentSummarySerializer(serializers.Serializer[Any]):
    provider = serializers.CharField()
    status = serializers.CharField()
    client_secret = serializers.CharField(
        allow_null=True,
        help_text="For Stripe.js; only shown to the customer while the order awaits payment.",
    )


class OrderSerializer(serializers.ModelSerializer[Order]):
    """An order (v1 money: amounts as strings next to `currency`)."""

    customer_id = serializers.UUIDField(read_only=True, allow_null=True)
    lines = OrderLineSerializer(many=True, read_only=True)
    discounts = OrderDiscountSerializer(many=True, read_only=True)
    payment = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "status",
            "customer_id",
            "email",
            "currency",
            *MONEY_FIELDS,
            "shipping_country",
            "shipping_address",
            "lines",
            "discounts",
            "payment",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PaymentSummarySerializer(allow_null=True))
    def get_payment(self, order: Order) -> dict[str, Any] | None:
        payments = list(order.payments.all())  # prefetched, newest first
        if not payments:
            return None
        payment = payments[0]
        request = self.context.get("request")
        is_owner = request is not None and order.customer_id == getattr(request.user, "pk", None)
        show_secret = is_owner and order.status == OrderStatus.PENDING_PAYMENT
        return {
            "provider": payment.provider,
            "status": payment.status,
            "client_secret": (payment.client_secret or None) if show_secret else None,
        }


def _money_of(name: str) -> Any:
    @extend_schema_field(MoneySerializer)
    def getter(self: Any, order: Order) -> dict[str, str] | None:
        return money(getattr(order, name), order.currency)

    return getter


class OrderV2Serializer(OrderSerializer):
    """An order with money objects (v2)."""

    subtotal = serializers.SerializerMethodField()
    discount_total = serializers.SerializerMethodField()
    shipping_total = serializers.SerializerMethodField()
    tax_total = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()

    get_subtotal = _money_of("subtotal")
    get_discount_total = _money_of("discount_total")
    get_shipping_total = _money_of("shipping_total")
    get_tax_total = _money_of("tax_total")
    get_total = _money_of("total")


def order_serializer_class(version: str | None) -> type[OrderSerializer]:
    return OrderV2Serializer if version == "v2" else OrderSerializer


def _user(request: Request) -> User:
    """The signed-in user (the views' permission classes guarantee one)."""
    user = request.user
    if not isinstance(user, User):
        raise OrderNotFound()
    return user


def _render(request: Request, order: Order, *, status_code: int = 200) -> Response:
    serializer_class = order_serializer_class(getattr(request, "version", None))
    data = serializer_class(order, context={"request": request}).data
    return Response(data, status=status_code)


def _reloaded(request: Request, order_id: UUID) -> Order:
    order = selectors.order_get_for_caller(
        order_id=order_id, user=request.user, include_deleted=True
    )
    if order is None:
        raise OrderNotFound()
    return order


class CheckoutSerializer(serializers.Serializer[Any]):
    shipping_country = serializers.RegexField(
        r"^[A-Za-z]{2}$", help_text="ISO 3166-1 alpha-2 country code, e.g. DE."
    )
    shipping_address = serializers.DictField(
        help_text="Name, street, city, postal code... as the storefront collects them."
    )
    email = serializers.EmailField(
        required=False, help_text="Where the confirmation goes (default: the account's email)."
    )

    def validate_shipping_address(self, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise serializers.ValidationError(_("An address is required."), code="required")
        if len(str(value)) > 2000:
            raise serializers.ValidationError(_("The address is too long."), code="max_length")
        return value


class OrderFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    customer = serializers.UUIDField(required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class CancelSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


# --- views ------------------------------------------------------------------------------------

ORDER_ID = OpenApiParameter("order_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class OrderListView(APIView):
    """`GET`: the caller's orders (staff: every order of the shop). `POST`: check out."""

    permission_classes = [IsAuthenticated]

    @property
    def throttle_scope(self) -> str | None:
        """Checkouts count against the stricter `checkout` limit; reads do not."""
        request = getattr(self, "request", None)
        return "checkout" if request is not None and request.method == "POST" else None

    @extend_schema(
        tags=["orders"],
        operation_id="orders_list",
        summary="List orders",
        description=(
            "The caller's own orders, newest first. Staff see every order of the shop and may "
            "filter by `status`, `customer` (user id) and `created_after`/`created_before`."
        ),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(OrderStatus.values)),
            OpenApiParameter("customer", OpenApiTypes.UUID, description="Staff only."),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Staff only."),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Staff only."),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 100."),
        ],
        responses={200: OrderSerializer(many=True), 400: _PROBLEM, 401: _PROBLEM},
    )
    def get(self, request: Request, version: str) -> Response:
        if request.user.is_staff:
            filters = OrderFilterSerializer(data=request.query_params)
            filters.is_valid(raise_exception=True)
            data = filters.validated_data
            queryset = selectors.order_list_for_staff(
                status=data.get("status"),
                customer_id=data.get("customer"),
                created_after=data.get("created_after"),
                created_before=data.get("created_before"),
            )
        else:
            queryset = selectors.order_list_for_customer(customer_id=_user(request).pk)
            if status_filter := request.query_params.get("status"):
                queryset = queryset.filter(status=status_filter)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        serializer_class = order_serializer_class(version)
        data = serializer_class(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_create",
        summary="Check out the cart",
        description=(
            "Turns the caller's active cart into an order awaiting payment: prices are the "
            "current ones, stock is reserved and discount uses claimed. Requires an "
            "`Idempotency-Key` header (a retry replays the first answer). The answer carries "
            "the Stripe `payment.client_secret`; `payment` is null when Stripe is not "
            "configured or could not be reached (the payment is then created in the "
            "background: poll `GET orders/{id}/`). Errors: 400 cart_empty, "
            "idempotency_key_required; 409 insufficient_stock (with `shortages`), "
            "product_unavailable, discount_expired / discount_exhausted / other discount "
            "reasons, cart_not_active."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ],
        request=CheckoutSerializer,
        responses={201: OrderSerializer, 400: _PROBLEM, 401: _PROBLEM, 409: _PROBLEM},
    )
    def post(self, request: Request, version: str) -> Response:
        body = CheckoutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cart = cart_get_active_for_customer(customer_id=_user(request).pk)
        if cart is None:
            raise CartEmpty()
        try:
            order = services.order_create_from_cart(
                cart=cart,
                customer=_user(request),
                shipping_country=body.validated_data["shipping_country"],
                shipping_address=body.validated_data["shipping_address"],
                email=body.validated_data.get("email"),
            )
        except InsufficientStock as error:
            return Response(
                problem_body(
                    status=error.status,
                    code=error.code,
                    detail=error.detail,
                    instance=request.path,
                    shortages=error.shortages,
                ),
                status=error.status,
                content_type=PROBLEM_CONTENT_TYPE,
            )
        response = _render(request, _reloaded(request, order.pk), status_code=201)
        response["Location"] = reverse(
            "api:order-detail", kwargs={"version": version, "order_id": order.pk}
        )
        return response


class OrderDetailView(APIView):
    """One order: its customer or staff; staff may soft-delete it."""

    permission_classes = [IsAuthenticated]

    def get_permissions(self) -> Sequence[Any]:
        if self.request.method == "DELETE":
            return [IsAdminUser()]
        return super().get_permissions()

    @extend_schema(
        tags=["orders"],
        operation_id="orders_retrieve",
        summary="Get an order",
        description=(
            "Another customer's order is a 404. The customer sees the payment's "
            "`client_secret` while the order awaits payment. Staff also see deleted orders."
        ),
        parameters=[ORDER_ID],
        responses={200: OrderSerializer, 401: _PROBLEM, 404: _PROBLEM},
    )
    def get(self, request: Request, version: str, order_id: UUID) -> Response:
        return _render(request, _reloaded(request, order_id))

    @extend_schema(
        tags=["orders"],
        operation_id="orders_destroy",
        summary="Delete an order (staff)",
        description="Soft delete: the order disappears from lists; `restore` brings it back.",
        parameters=[ORDER_ID],
        responses={204: None, 401: _PROBLEM, 403: _PROBLEM, 404: _PROBLEM},
    )
    def delete(self, request: Request, version: str, order_id: UUID) -> Response:
        order = selectors.order_get_for_caller(order_id=order_id, user=request.user)
        if order is None:
            raise OrderNotFound()
        services.order_soft_delete(order=order)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["orders"],
        operation_id="orders_cancel",
        summary="Cancel an order",
        description=(
            "The customer or staff, before shipment. Unpaid: the reservation is released. "
            "Paid: the units go back on hand and the payment is refunded through Stripe. "
            "409 order_already_cancelled, order_already_shipped, order_not_cancellable."
        ),
        parameters=[ORDER_ID],
        request=CancelSerializer,
        responses={200: OrderSerializer, 401: _PROBLEM, 404: _PROBLEM, 409: _PROBLEM},
    )
    def post(self, request: Request, version: str, order_id: UUID) -> Response:
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order = selectors.order_get_for_caller(order_id=order_id, user=request.user)
        if order is None:
            raise OrderNotFound()
        services.order_cancel(
            order=order, actor=_user(request), reason=body.validated_data.get("reason", "")
        )
        return _render(request, _reloaded(request, order_id))


class OrderShipView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        tags=["orders"],
        operation_id="orders_ship",
        summary="Mark an order shipped (staff)",
        description="Only paid orders; 409 order_not_paid, order_already_cancelled/shipped.",
        parameters=[ORDER_ID],
        request=None,
        responses={200: OrderSerializer, 403: _PROBLEM, 404: _PROBLEM, 409: _PROBLEM},
    )
    def post(self, request: Request, version: str, order_id: UUID) -> Response:
        order = selectors.order_get_for_caller(order_id=order_id, user=request.user)
        if order is None:
            raise OrderNotFound()
        services.order_mark_shipped(order=order, actor=_user(request))
        return _render(request, _reloaded(request, order_id))


class OrderRestoreView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        tags=["orders"],
        operation_id="orders_restore",
        summary="Restore a deleted order (staff)",
        parameters=[ORDER_ID],
        request=None,
        responses={200: OrderSerializer, 403: _PROBLEM, 404: _PROBLEM},
    )
    def post(self, request: Request, version: str, order_id: UUID) -> Response:
        order = selectors.order_get_for_caller(
            order_id=order_id, user=request.user, include_deleted=True
        )
        if order is None:
            raise OrderNotFound()
        services.order_restore(order=order)
        return _render(request, _reloaded(request, order_id))


urlpatterns: list[URLPattern] = [
    path("orders/", OrderListView.as_view(), name="order-list"),
    path("orders/<uuid:order_id>/", OrderDetailView.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/cancel/", OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<uuid:order_id>/ship/", OrderShipView.as_view(), name="order-ship"),
    path("orders/<uuid:order_id>/restore/", OrderRestoreView.as_view(), name="order-restore"),
]
