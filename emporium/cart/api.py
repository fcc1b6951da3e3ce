"""Cart endpoints under /api/<version>/cart/: the caller's own cart only.

Customers are recognised by their access token; anonymous visitors by the cart token returned
when their first `POST cart/items/` created the cart (body field `token`, header
`X-Cart-Token`), which they send back in `X-Cart-Token`. A signed-in request that carries the
token of an active anonymous cart merges that cart into the customer's first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.cart import selectors, services
from emporium.cart.selectors import CartView, LineView
from emporium.catalog import services_images
from emporium.catalog.serializers import MoneySerializer, money
from emporium.core.errors import PROBLEM_CONTENT_TYPE, ApplicationError, problem_body
from emporium.core.query import QuerySerializer

TOKEN_HEADER = "X-Cart-Token"  # noqa: S105 (a header name, not a secret)
NO_STORE = "private, no-store"
CENT = Decimal("0.01")

_PROBLEM = OpenApiResponse(description=_("Problem document (application/problem+json)."))
TOKEN_PARAMETER = OpenApiParameter(
    TOKEN_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The anonymous cart's token (from the first `POST cart/items/`). Signed in, "
    "the token of an active anonymous cart merges that cart into yours.",
)
COUNTRY_PARAMETER = OpenApiParameter(
    "country",
    OpenApiTypes.STR,
    description="ISO 3166-1 alpha-2 country to quote shipping and tax for (optional).",
)


# --- representation -----------------------------------------------------------------------------


def _amount(value: Decimal, currency: str, version: str) -> Any:
    """Money as the catalog shows it: "12.50" in v1 (the currency is a field of its own), an
    object {"amount", "currency"} in v2."""
    if version == "v2":
        return money(value, currency)
    return str(value.quantize(CENT))


def line_body(view: LineView, *, currency: str, version: str, request: Request) -> dict[str, Any]:
    """A cart line as the API shows it."""
    product = view.line.product
    image = None
    if view.image is not None:
        url = services_images.product_image_display_url(view.image)
        image = request.build_absolute_uri(url) if url is not None else None
    body: dict[str, Any] = {
        "id": str(view.line.pk),
        "product": {
            "id": str(product.pk),
            "slug": product.slug,
            "name": product.name,
            "sku": product.sku,
            "image": image,
        },
        "quantity": view.line.quantity,
        "unit_price": _amount(view.unit_price, product.currency, version),
        "line_total": _amount(view.line_total, product.currency, version),
        "available": view.available,
        "problems": list(view.problems),
    }
    if version != "v2":
        body["currency"] = product.currency
    return body


def added_line_body(added: services.AddedLine, *, version: str, request: Request) -> dict[str, Any]:
    """The line an add wrote, as `line_body` shows a line, with its cart's id (and token),
    built from the rows the add read (no model instances)."""
    product, cart = added.product, added.cart
    image = None
    if product.image is not None:
        url = services_images.product_image_display_url(product.image)
        image = request.build_absolute_uri(url) if url is not None else None
    problems = selectors.line_problems(
        visible=True,
        product_currency=product.currency,
        currency=cart.currency,
        units=product.available,
        quantity=added.quantity,
    )
    body: dict[str, Any] = {
        "id": str(added.line_id),
        "product": {
            "id": str(product.id),
            "slug": product.slug,
            "name": product.name,
            "sku": product.sku,
            "image": image,
        },
        "quantity": added.quantity,
        "unit_price": _amount(product.price, product.currency, version),
        "line_total": _amount(
            selectors.line_total(product.price, added.quantity), product.currency, version
        ),
        "available": not problems,
        "problems": list(problems),
    }
    if version != "v2":
        body["currency"] = product.currency
    body["cart_id"] = str(cart.id)
    if cart.token is not None:
        body["token"] = cart.token
    return body


def cart_body(view: CartView, *, version: str, request: Request) -> dict[str, Any]:
    """The cart as the API shows it (an empty cart when the caller has none)."""
    cart, quote, currency = view.cart, view.quote, view.currency
    body: dict[str, Any] = {"id": str(cart.pk) if cart is not None else None}
    if cart is not None and cart.is_anonymous:
        body["token"] = cart.token
    body.update(
        {
            "currency": currency,
            "lines": [
                line_body(line, currency=currency, version=version, request=request)
                for line in view.lines
            ],
            "discounts": [
                {"code": d.code, "kind": d.kind, "amount": _amount(d.amount, currency, version)}
                for d in quote.applied
            ],
            "rejected_discounts": [{"code": r.code, "reason": r.reason} for r in quote.rejected],
            "subtotal": _amount(quote.subtotal, currency, version),
            "discount_total": _amount(quote.discount_total, currency, version),
            "shipping_total": _amount(quote.shipping_total, currency, version),
            "tax_total": _amount(quote.tax_total, currency, version),
            "total": _amount(quote.total, currency, version),
            "last_activity_at": cart.last_activity_at.isoformat().replace("+00:00", "Z")
            if cart is not None
            else None,
        }
    )
    return body


# --- documentation serializers (responses are built by the functions above) -------------------


class ProductRefSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    sku = serializers.CharField()
    image = serializers.URLField(allow_null=True, help_text="The first image, if any.")


class LineProblemSerializer(serializers.Serializer[Any]):
    code = serializers.ChoiceField(
        choices=[
            selectors.PRODUCT_UNAVAILABLE,
            selectors.CURRENCY_MISMATCH,
            selectors.OUT_OF_STOCK,
            selectors.INSUFFICIENT_STOCK,
        ]
    )
    available = serializers.IntegerField(
        required=False, help_text="Units available (stock problems)."
    )


class CartLineSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    product = ProductRefSerializer()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="The product's current price."
    )
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    available = serializers.BooleanField(
        help_text="False when the line cannot be checked out as it is (see `problems`)."
    )
    problems = LineProblemSerializer(many=True)


class CartLineV2Serializer(CartLineSerializer):
    unit_price = MoneySerializer()  # type: ignore[assignment]
    line_total = MoneySerializer()  # type: ignore[assignment]
    currency = None  # type: ignore[assignment]


class AddedLineSerializer(CartLineSerializer):
    cart_id = serializers.UUIDField()
    token = serializers.CharField(required=False, help_text="Anonymous carts only.")


class AddedLineV2Serializer(CartLineV2Serializer):
    cart_id = serializers.UUIDField()
    token = serializers.CharField(required=False, help_text="Anonymous carts only.")


class AppliedDiscountSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class AppliedDiscountV2Serializer(AppliedDiscountSerializer):
    amount = MoneySerializer()  # type: ignore[assignment]


class RejectedDiscountSerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    reason = serializers.CharField(help_text="discount_expired, discount_minimum_not_met...")


class CartSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(allow_null=True, help_text="null: the caller has no cart yet.")
    token = serializers.CharField(required=False, help_text="Anonymous carts only.")
    currency = serializers.CharField()
    lines = CartLineSerializer(many=True)
    discounts = AppliedDiscountSerializer(many=True)
    rejected_discounts = RejectedDiscountSerializer(many=True)
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    shipping_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    tax_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    last_activity_at = serializers.DateTimeField(allow_null=True)


class CartV2Serializer(CartSerializer):
    lines = CartLineV2Serializer(many=True)
    discounts = AppliedDiscountV2Serializer(many=True)
    subtotal = MoneySerializer()  # type: ignore[assignment]
    discount_total = MoneySerializer()  # type: ignore[assignment]
    shipping_total = MoneySerializer()  # type: ignore[assignment]
    tax_total = MoneySerializer()  # type: ignore[assignment]
    total = MoneySerializer()  # type: ignore[assignment]


# --- input -------------------------------------------------------------------------------------


class AddItemSerializer(serializers.Serializer[Any]):
    product = serializers.UUIDField(
        help_text="The product's id (ids never change; slugs may be renamed)."
    )
    quantity = serializers.IntegerField(
        default=1, help_text="Units to add (at least 1); added to the line if there is one."
    )


class AddItemBody(QuerySerializer, AddItemSerializer):
    """`AddItemSerializer` validated by one shared instance (`validate_query`): the add is the
    hottest write. (The schema documents `AddItemSerializer`, without this docstring.)"""


class UpdateItemSerializer(serializers.Serializer[Any]):
    quantity = serializers.IntegerField(help_text="The line's new quantity (at least 1).")


class DiscountCodeSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(max_length=64, help_text="Case-insensitive.")


class CountrySerializer(serializers.Serializer[Any]):
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$",
        required=False,
        error_messages={"invalid": _("Use an ISO 3166-1 alpha-2 code such as DE.")},
    )


# --- views -------------------------------------------------------------------------------------


class CartAPIView(APIView):
    """Base of the cart views: anyone may call them, each on their own cart only."""

    permission_classes = [AllowAny]

    @property
    def throttle_scope(self) -> str | None:
        """Writes count against the `cart_write` limit too; reads only the default one."""
        request = getattr(self, "request", None)
        if request is None or request.method in SAFE_METHODS:
            return None
        return "cart_write"

    def handle_exception(self, exc: Exception) -> Response:
        # Cart errors carry members of their own (available units, the maximum).
        if isinstance(exc, ApplicationError):
            body = problem_body(
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
                instance=self.request.path,
                **getattr(exc, "extra", {}),
            )
            return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
        return super().handle_exception(exc)

    def caller(self, request: Request) -> tuple[Any, str | None]:
        """(customer id, cart token) of the caller; a signed-in caller's anonymous cart (sent
        in X-Cart-Token) is merged into theirs first."""
        token = request.headers.get(TOKEN_HEADER) or None
        user = request.user
        if user is not None and user.is_authenticated:
            if token:
                services.cart_merge_for_login(user=user, token=token)
            return user.pk, None
        return None, token

    def respond(
        self, request: Request, body: dict[str, Any], *, status_code: int = 200
    ) -> Response:
        headers = {"Cache-Control": NO_STORE}
        if body.get("token"):
            headers[TOKEN_HEADER] = body["token"]
        return Response(body, status=status_code, headers=headers)

    def cart_response(self, request: Request, *, customer_id: Any, token: str | None) -> Response:
        query = CountrySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        country = query.validated_data.get("country")
        if customer_id is not None:
            cart = selectors.cart_get_active_for_customer(customer_id=customer_id)
        else:
            cart = selectors.cart_get_anonymous_by_token(token=token or "")
        view = selectors.cart_view(cart=cart, shipping_country=country.upper() if country else None)
        return self.respond(
            request, cart_body(view, version=str(request.version or "v1"), request=request)
        )

    def line_response(
        self, request: Request, change: services.LineChange, *, status_code: int
    ) -> Response:
        cart = change.cart
        images = selectors.first_images([change.line.product_id])
        view = selectors.line_view(
            change.line, currency=cart.currency, image=images.get(change.line.product_id)
        )
        body = line_body(
            view, currency=cart.currency, version=str(request.version or "v1"), request=request
        )
        body["cart_id"] = str(cart.pk)
        if cart.is_anonymous:
            body["token"] = cart.token
        return self.respond(request, body, status_code=status_code)


CART_ERRORS = {400: _PROBLEM, 404: _PROBLEM, 409: _PROBLEM}


@extend_schema(tags=["cart"], parameters=[TOKEN_PARAMETER])
class CartDetailView(CartAPIView):
    """The caller's cart."""

    @extend_schema(
        operation_id="cart_retrieve",
        summary="Get your cart",
        description=(
            "Current prices, stock problems per line and totals from the pricing engine "
            "(discounts, shipping and tax for `?country=`). Lines of products that cannot be "
            "sold now stay in the cart with `available: false` and are left out of the "
            "totals. Without a cart (or with an unknown, converted or merged token) the answer "
            "is an empty cart with `id: null`."
        ),
        parameters=[COUNTRY_PARAMETER],
    )
    @extend_schema(versions=["v1"], responses={200: CartSerializer, 400: _PROBLEM})
    @extend_schema(versions=["v2"], responses={200: CartV2Serializer, 400: _PROBLEM})
    def get(self, request: Request, version: str) -> Response:
        customer_id, token = self.caller(request)
        return self.cart_response(request, customer_id=customer_id, token=token)


@extend_schema(tags=["cart"], parameters=[TOKEN_PARAMETER])
class CartItemsView(CartAPIView):
    """Add a product to the caller's cart."""

    @extend_schema(
        operation_id="cart_items_create",
        summary="Add a product",
        description=(
            "Adds `quantity` units of a visible product (by id) to your cart; a product already "
            "in it has its line increased (200) instead of a new line (201). The first add of an "
            "anonymous visitor, or one with an unknown or spent token, creates a cart and "
            f"returns its token in `token` and the `{TOKEN_HEADER}` header. Errors: 404 "
            "`product_not_found`, 400 `invalid` (quantity below 1), 400 "
            "`quantity_exceeds_maximum` (with `maximum`), 409 `insufficient_stock` (with "
            "`available`), 409 `too_many_lines`, 409 `currency_mismatch`. Answers with the line; "
            "`GET cart/` has the totals."
        ),
        request=AddItemSerializer,
        examples=[
            OpenApiExample(
                "Two units",
                value={"product": "01968f3e-5b1a-7c2d-9e4f-0a1b2c3d4e5f", "quantity": 2},
            )
        ],
    )
    @extend_schema(
        versions=["v1"],
        responses={201: AddedLineSerializer, 200: AddedLineSerializer, **CART_ERRORS},
    )
    @extend_schema(
        versions=["v2"],
        responses={201: AddedLineV2Serializer, 200: AddedLineV2Serializer, **CART_ERRORS},
    )
    def post(self, request: Request, version: str) -> Response:
        if isinstance(request.data, Mapping):
            values = AddItemBody.validate_query(request.data)
        else:  # a JSON array or scalar: the serializer's own "expected a dictionary" error
            data = AddItemSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            values = data.validated_data
        customer_id, token = self.caller(request)
        added = services.cart_item_add(
            customer_id=customer_id,
            token=token,
            product_id=values["product"],
            quantity=values["quantity"],
        )
        body = added_line_body(added, version=str(request.version or "v1"), request=request)
        code = status.HTTP_201_CREATED if added.created else status.HTTP_200_OK
        return self.respond(request, body, status_code=code)


LINE_ID = OpenApiParameter("line_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema(tags=["cart"], parameters=[TOKEN_PARAMETER, LINE_ID])
class CartItemView(CartAPIView):
    """Change or remove one line of the caller's cart."""

    @extend_schema(
        operation_id="cart_items_partial_update",
        summary="Change a line's quantity",
        description=(
            "Lowering a quantity always works; raising it is checked like an add. 404 "
            "`cart_not_found` / `cart_line_not_found` when the line is not in your cart."
        ),
        request=UpdateItemSerializer,
    )
    @extend_schema(versions=["v1"], responses={200: AddedLineSerializer, **CART_ERRORS})
    @extend_schema(versions=["v2"], responses={200: AddedLineV2Serializer, **CART_ERRORS})
    def patch(self, request: Request, version: str, line_id: UUID) -> Response:
        data = UpdateItemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer_id, token = self.caller(request)
        change = services.cart_item_update(
            customer_id=customer_id,
            token=token,
            line_id=line_id,
            quantity=data.validated_data["quantity"],
        )
        return self.line_response(request, change, status_code=status.HTTP_200_OK)

    @extend_schema(
        operation_id="cart_items_destroy",
        summary="Remove a line",
        responses={204: None, 404: _PROBLEM},
    )
    def delete(self, request: Request, version: str, line_id: UUID) -> Response:
        customer_id, token = self.caller(request)
        services.cart_item_remove(customer_id=customer_id, token=token, line_id=line_id)
        return Response(status=status.HTTP_204_NO_CONTENT, headers={"Cache-Control": NO_STORE})


@extend_schema(tags=["cart"], parameters=[TOKEN_PARAMETER])
class CartDiscountsView(CartAPIView):
    """Enter a discount code."""

    @extend_schema(
        operation_id="cart_discounts_create",
        summary="Enter a discount code",
        description=(
            "Case-insensitive. The code must apply to the cart as it is now (400 with the "
            "reason as `code`: `discount_not_found`, `discount_expired`, "
            "`discount_not_started`, `discount_exhausted`, `discount_minimum_not_met`, "
            "`discount_not_applicable`, `discount_not_stackable`, "
            "`discount_currency_mismatch`). Entering a code already on the cart changes "
            "nothing. 404 `cart_not_found` without a cart. Answers with the cart."
        ),
        request=DiscountCodeSerializer,
        parameters=[COUNTRY_PARAMETER],
    )
    @extend_schema(versions=["v1"], responses={200: CartSerializer, **CART_ERRORS})
    @extend_schema(versions=["v2"], responses={200: CartV2Serializer, **CART_ERRORS})
    def post(self, request: Request, version: str) -> Response:
        data = DiscountCodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer_id, token = self.caller(request)
        services.cart_discount_add(
            customer_id=customer_id, token=token, code=data.validated_data["code"]
        )
        return self.cart_response(request, customer_id=customer_id, token=token)


@extend_schema(
    tags=["cart"],
    parameters=[
        TOKEN_PARAMETER,
        OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH),
    ],
)
class CartDiscountView(CartAPIView):
    """Take a discount code off the cart."""

    @extend_schema(
        operation_id="cart_discounts_destroy",
        summary="Remove a discount code",
        description="Case-insensitive; 404 `discount_not_on_cart` when the code is not on it.",
        responses={204: None, 404: _PROBLEM},
    )
    def delete(self, request: Request, version: str, code: str) -> Response:
        customer_id, token = self.caller(request)
        services.cart_discount_remove(customer_id=customer_id, token=token, code=code)
        return Response(status=status.HTTP_204_NO_CONTENT, headers={"Cache-Control": NO_STORE})


urlpatterns: list[URLPattern] = [
    path("cart/", CartDetailView.as_view(), name="cart"),
    path("cart/items/", CartItemsView.as_view(), name="cart-items"),
    path("cart/items/<uuid:line_id>/", CartItemView.as_view(), name="cart-item"),
    path("cart/discounts/", CartDiscountsView.as_view(), name="cart-discounts"),
    path("cart/discounts/<str:code>/", CartDiscountView.as_view(), name="cart-discount"),
]
