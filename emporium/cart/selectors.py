"""Cart reads: finding a caller's cart, its lines with current prices and stock, its quote.

Prices are never stored on a cart: every read takes the product's current price, and a line
whose product is gone, hidden or sold out is flagged (`problems`), not dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from emporium.cart.models import DEFAULT_CURRENCY, Cart, CartDiscount, CartLine
from emporium.catalog.models import Product, ProductImage
from emporium.catalog.selectors import product_visible_q
from emporium.inventory.models import Stock
from emporium.pricing.quotes import Quote, QuoteLine, pricing_quote

ZERO = Decimal("0.00")

# Line problems (stable codes).
PRODUCT_UNAVAILABLE = "product_unavailable"  # deleted, inactive or not published now
CURRENCY_MISMATCH = "currency_mismatch"  # priced in another currency than the cart
OUT_OF_STOCK = "out_of_stock"
INSUFFICIENT_STOCK = "insufficient_stock"  # fewer units available than the line holds


def max_line_quantity() -> int:
    """Most units one line may hold (settings.CART_LINE_MAX_QUANTITY)."""
    return int(getattr(settings, "CART_LINE_MAX_QUANTITY", 99))


def max_lines() -> int:
    """Most lines one cart may hold (settings.CART_MAX_LINES)."""
    return int(getattr(settings, "CART_MAX_LINES", 100))


def visible_product_expression(*, now: datetime, prefix: str = "") -> ExpressionWrapper[Any]:
    """True when the product (through `prefix`) may be bought now: alive and visible."""
    visible = product_visible_q(now=now, prefix=prefix) & Q(**{f"{prefix}deleted_at__isnull": True})
    return ExpressionWrapper(visible, output_field=BooleanField())


def cart_get_active_for_customer(*, customer_id: Any) -> Cart | None:
    """The customer's active cart in the current shop, if any."""
    cart: Cart | None = Cart.objects.filter(
        customer_id=customer_id, status=Cart.Status.ACTIVE
    ).first()
    return cart


def cart_get_anonymous_by_token(*, token: str) -> Cart | None:
    """The active anonymous cart of the current shop with this token, if any. A customer's
    cart is never reachable by its token."""
    if not token or len(token) > 64:
        return None
    cart: Cart | None = Cart.objects.filter(
        token=token, customer__isnull=True, status=Cart.Status.ACTIVE
    ).first()
    return cart


def cart_lines_for_checkout(*, cart: Cart) -> list[CartLine]:
    """The cart's lines in the order they were added, each with its product, the product's
    category and stock joined, and `product_visible` annotated (one query)."""
    return list(
        CartLine.objects.filter(cart=cart)
        .select_related("product", "product__category", "product__stock")
        .annotate(
            product_visible=visible_product_expression(now=timezone.now(), prefix="product__")
        )
        .order_by("created_at", "id")
    )


def cart_codes(*, cart: Cart) -> list[str]:
    """The normalised discount codes on the cart, in the order they were entered."""
    return list(
        CartDiscount.objects.filter(cart=cart)
        .order_by("created_at", "id")
        .values_list("code", flat=True)
    )


@dataclass(frozen=True)
class LineView:
    """A cart line as shown: current unit price, stock and what prevents buying it."""

    line: CartLine
    unit_price: Decimal
    line_total: Decimal
    available_units: int
    problems: tuple[dict[str, Any], ...]
    image: ProductImage | None = None

    @property
    def available(self) -> bool:
        """Whether the line can be checked out as it is."""
        return not self.problems

    @property
    def purchasable(self) -> bool:
        """Whether the line counts in the totals (its product can be sold in this currency)."""
        return not any(p["code"] in (PRODUCT_UNAVAILABLE, CURRENCY_MISMATCH) for p in self.problems)


@dataclass(frozen=True)
class CartView:
    """Everything the cart endpoints show: the cart (None when the caller has none), lines,
    codes and the quote of the purchasable lines."""

    cart: Cart | None
    currency: str
    lines: list[LineView]
    codes: list[str]
    quote: Quote


def line_view(line: CartLine, *, currency: str, image: ProductImage | None = None) -> LineView:
    """Price and check one line whose product (and its stock) are loaded and whose
    `product_visible` is annotated (see `cart_lines_for_checkout`)."""
    product = line.product
    stock = stock_of(product)
    units = stock.available if stock is not None else 0
    return LineView(
        line=line,
        unit_price=product.price,
        line_total=line_total(product.price, line.quantity),
        available_units=units,
        problems=line_problems(
            visible=getattr(line, "product_visible", True),
            product_currency=product.currency,
            currency=currency,
            units=units,
            quantity=line.quantity,
        ),
        image=image,
    )


def line_problems(
    *, visible: bool, product_currency: str, currency: str, units: int, quantity: int
) -> tuple[dict[str, Any], ...]:
    """What prevents buying `quantity` units of a product (visible or not, priced in
    `product_currency`, `units` available) in a cart priced in `currency`: at most one."""
    if not visible:
        return ({"code": PRODUCT_UNAVAILABLE},)
    if product_currency != currency:
        return ({"code": CURRENCY_MISMATCH},)
    if units <= 0:
        return ({"code": OUT_OF_STOCK, "available": 0},)
    if units < quantity:
        return ({"code": INSUFFICIENT_STOCK, "available": units},)
    return ()


def line_total(unit_price: Decimal, quantity: int) -> Decimal:
    """`quantity` units at `unit_price`, to the cent."""
    return (unit_price * quantity).quantize(ZERO)


def stock_of(product: Product) -> Stock | None:
    """The product's Stock row (from the select_related cache), None when it has none."""
    try:
        stock: Stock = product.stock
    except ObjectDoesNotExist:
        return None
    return stock


def quote_lines(lines: Sequence[LineView]) -> list[QuoteLine]:
    """What the pricing engine sees: purchasable lines at current prices."""
    return [
        QuoteLine(
            product_id=view.line.product_id,
            category_id=view.line.product.category_id,
            unit_price=view.unit_price,
            quantity=view.line.quantity,
        )
        for view in lines
        if view.purchasable
    ]


def empty_quote(currency: str) -> Quote:
    """The quote of a cart with nothing in it."""
    return Quote(
        currency=currency,
        subtotal=ZERO,
        discount_total=ZERO,
        shipping_total=ZERO,
        tax_total=ZERO,
        total=ZERO,
        applied=(),
        rejected=(),
        line_discounts={},
    )


def cart_quote(*, cart: Cart, shipping_country: str | None) -> Quote:
    """The cart's totals at current prices: subtotal, discounts, shipping, tax and total, with
    the codes that do not apply in `rejected`. Lines whose product cannot be sold now (deleted,
    hidden, another currency) are left out; stock is checked by checkout, not here."""
    views = [line_view(line, currency=cart.currency) for line in cart_lines_for_checkout(cart=cart)]
    return _quote(cart, views, cart_codes(cart=cart), shipping_country)


def _quote(
    cart: Cart, views: Sequence[LineView], codes: Sequence[str], shipping_country: str | None
) -> Quote:
    lines = quote_lines(views)
    if not lines and not codes:
        return empty_quote(cart.currency)
    return pricing_quote(
        currency=cart.currency,
        lines=lines,
        codes=codes,
        customer_id=cart.customer_id,
        shipping_country=shipping_country,
    )


def first_images(product_ids: Sequence[UUID]) -> dict[UUID, ProductImage]:
    """The first ready image of each product (one query)."""
    if not product_ids:
        return {}
    images: dict[UUID, ProductImage] = {}
    rows = ProductImage.objects.filter(
        product_id__in=list(product_ids), status=ProductImage.Status.READY
    ).order_by("product_id", "position", "created_at", "id")
    for image in rows:
        images.setdefault(image.product_id, image)
    return images


def cart_view(*, cart: Cart | None, shipping_country: str | None) -> CartView:
    """The cart as the API shows it; a constant number of queries whatever the line count."""
    if cart is None:
        return CartView(
            cart=None,
            currency=DEFAULT_CURRENCY,
            lines=[],
            codes=[],
            quote=empty_quote(DEFAULT_CURRENCY),
        )
    lines = cart_lines_for_checkout(cart=cart)
    images = first_images([line.product_id for line in lines])
    views = [
        line_view(line, currency=cart.currency, image=images.get(line.product_id)) for line in lines
    ]
    codes = cart_codes(cart=cart)
    return CartView(
        cart=cart,
        currency=cart.currency,
        lines=views,
        codes=codes,
        quote=_quote(cart, views, codes, shipping_country),
    )
