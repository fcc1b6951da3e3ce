"""Cart writes: add, change and remove lines, discount codes, merge, conversion and purge.

Every write locks the cart row (`select_for_update`, or for an add the UPDATE that moves its
`last_activity_at`) so concurrent requests on one cart queue up, validates under that lock, and
moves `last_activity_at`. Carts hold no stock: quantities are checked against what is available
now, and checkout reserves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from emporium.cart import queries, selectors
from emporium.cart.models import Cart, CartDiscount, CartLine
from emporium.core.errors import ApplicationError
from emporium.core.ids import uuid7
from emporium.pricing.quotes import discount_code_check, normalize_code

PURGE_BATCH_SIZE = 500


class CartError(ApplicationError):
    """A cart error; `extra` members are added to the problem document."""

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class CartNotFound(CartError):
    status = 404
    code = "cart_not_found"
    title = _("There is no cart: add a product first.")


class CartLineNotFound(CartError):
    status = 404
    code = "cart_line_not_found"
    title = _("This cart has no such line.")


class CartDiscountNotFound(CartError):
    status = 404
    code = "discount_not_on_cart"
    title = _("This discount code is not on the cart.")


class ProductNotFound(CartError):
    status = 404
    code = "product_not_found"
    title = _("No product with this id can be bought in this shop.")


class QuantityInvalid(CartError):
    status = 400
    code = "invalid"
    title = _("The quantity must be at least 1.")


class QuantityExceedsMaximum(CartError):
    status = 400
    code = "quantity_exceeds_maximum"
    title = _("A cart line cannot hold that many units.")


class CartInsufficientStock(CartError):
    status = 409
    code = "insufficient_stock"
    title = _("Not enough of this product is in stock.")


class CartFull(CartError):
    status = 409
    code = "too_many_lines"
    title = _("The cart cannot hold more different products.")


class CurrencyMismatch(CartError):
    status = 409
    code = "currency_mismatch"
    title = _("This product is priced in another currency than the products in the cart.")


@dataclass(frozen=True)
class AddedLine:
    """The outcome of an add: the cart, the product as read for it and the line's new state."""

    cart: queries.LockedCart
    product: queries.SellableProduct
    line_id: UUID
    quantity: int
    created: bool


@dataclass(frozen=True)
class LineChange:
    """The outcome of changing a line."""

    cart: Cart
    line: CartLine
    created: bool


# --- finding and creating carts ---------------------------------------------------------------


def _touch(cart: Cart, *, now: datetime, **fields: Any) -> None:
    Cart.objects.filter(pk=cart.pk).update(last_activity_at=now, updated_at=now, **fields)
    cart.last_activity_at = now
    for name, value in fields.items():
        setattr(cart, name, value)


def _locked(queryset: Any) -> Cart | None:
    """The first cart of `queryset`, locked."""
    cart: Cart | None = queryset.select_for_update().first()
    return cart


def _active(*, customer_id: Any, token: str | None) -> Any:
    """The queryset of the caller's active cart: the customer's, or the anonymous token's."""
    if customer_id is not None:
        return Cart.objects.filter(customer_id=customer_id, status=Cart.Status.ACTIVE)
    if not token or len(token) > 64:
        return Cart.objects.none()
    return Cart.objects.filter(token=token, customer__isnull=True, status=Cart.Status.ACTIVE)


def _create(*, customer_id: Any, currency: str, now: datetime) -> queries.LockedCart:
    cart = Cart(customer_id=customer_id, currency=currency, last_activity_at=now)
    if customer_id is None:
        cart.save(force_insert=True)
        return queries.LockedCart(id=cart.pk, currency=currency, token=cart.token)
    # Two first adds of one customer race for the one active cart: the loser uses the winner's.
    try:
        with transaction.atomic():
            cart.save(force_insert=True)
    except IntegrityError:
        existing = queries.cart_lock_and_touch(customer_id=customer_id, token=None, now=now)
        if existing is None:
            raise
        return existing
    return queries.LockedCart(id=cart.pk, currency=currency, token=None)


# --- lines -------------------------------------------------------------------------------------


def _check_quantity(quantity: int, *, available: int) -> None:
    if quantity < 1:
        raise QuantityInvalid(
            errors=[{"field": "quantity", "code": "invalid", "message": _t("Must be at least 1.")}]
        )
    maximum = selectors.max_line_quantity()
    if quantity > maximum:
        raise QuantityExceedsMaximum(
            _t("A cart line holds at most %(maximum)d units.") % {"maximum": maximum},
            maximum=maximum,
        )
    if quantity > available:
        raise CartInsufficientStock(
            _t("Only %(available)d units of this product are available.")
            % {"available": available},
            available=available,
            requested=quantity,
        )


def cart_item_add(
    *, customer_id: Any, token: str | None, product_id: UUID, quantity: int
) -> AddedLine:
    """Put `quantity` units of a visible product in the caller's active cart (created when there
    is none, or when the token is unknown or its cart was converted). Adding a product already
    in the cart increases its line. The line's new quantity must not exceed what is available
    now nor CART_LINE_MAX_QUANTITY; a new line needs room below CART_MAX_LINES.

    Hand-written SQL (`queries`): the product, then in one transaction the cart locked and
    touched by one UPDATE and the line upserted by one statement that checks both limits."""
    if quantity < 1:
        _check_quantity(quantity, available=0)
    now = timezone.now()
    product = queries.sellable_product(product_id, now=now)
    if product is None:
        raise ProductNotFound()
    available = product.available
    max_lines = selectors.max_lines()
    with transaction.atomic():
        cart = queries.cart_lock_and_touch(customer_id=customer_id, token=token, now=now)
        if cart is None:
            _check_quantity(quantity, available=available)
            cart = _create(customer_id=customer_id, currency=product.currency, now=now)
        if product.currency != cart.currency:
            cart = _adopt_currency(cart, product=product, quantity=quantity, max_lines=max_lines)
        new_line_id = uuid7()
        limit = min(selectors.max_line_quantity(), available)
        row = None
        if quantity <= limit:
            row = queries.line_upsert(
                cart_id=cart.id,
                product_id=product.id,
                new_line_id=new_line_id,
                quantity=quantity,
                max_lines=max_lines,
                max_quantity=limit,
                now=now,
            )
        if row is None:
            _refuse_add(cart, product=product, quantity=quantity, max_lines=max_lines)
        line_id, new_quantity = row
    return AddedLine(
        cart=cart,
        product=product,
        line_id=line_id,
        quantity=new_quantity,
        created=line_id == new_line_id,
    )


def _adopt_currency(
    cart: queries.LockedCart, *, product: queries.SellableProduct, quantity: int, max_lines: int
) -> queries.LockedCart:
    """A product priced in another currency than the cart: an empty cart takes the product's
    currency; a cart with lines refuses a new line (a line already there just grows)."""
    state = queries.line_state(cart_id=cart.id, product_id=product.id)
    if state.quantity is not None:
        return cart
    _check_quantity(quantity, available=product.available)
    if state.line_count >= max_lines:
        raise CartFull(maximum=max_lines)
    if state.line_count:
        raise CurrencyMismatch(currency=cart.currency)
    Cart.objects.filter(pk=cart.id).update(currency=product.currency)
    return queries.LockedCart(id=cart.id, currency=product.currency, token=cart.token)


def _refuse_add(
    cart: queries.LockedCart, *, product: queries.SellableProduct, quantity: int, max_lines: int
) -> NoReturn:
    """Raise why the line could not take `quantity` more units (the upsert wrote nothing)."""
    state = queries.line_state(cart_id=cart.id, product_id=product.id)
    held = state.quantity or 0
    _check_quantity(held + quantity, available=product.available)
    # Within the limits, so a new line found the cart full.
    raise CartFull(maximum=max_lines)


def _locked_line(*, customer_id: Any, token: str | None, line_id: UUID) -> tuple[Cart, CartLine]:
    cart = _locked(_active(customer_id=customer_id, token=token))
    if cart is None:
        raise CartNotFound()
    line: CartLine | None = (
        CartLine.objects.filter(cart=cart, pk=line_id)
        .select_related("product", "product__stock")
        .annotate(
            product_visible=selectors.visible_product_expression(
                now=timezone.now(), prefix="product__"
            )
        )
        .first()
    )
    if line is None:
        raise CartLineNotFound()
    return cart, line


def cart_item_update(
    *, customer_id: Any, token: str | None, line_id: UUID, quantity: int
) -> LineChange:
    """Set a line's quantity. Lowering it always works; raising it is checked like an add (the
    product must still be visible, the units available, the maximum respected)."""
    if quantity < 1:
        _check_quantity(quantity, available=0)
    now = timezone.now()
    with transaction.atomic():
        cart, line = _locked_line(customer_id=customer_id, token=token, line_id=line_id)
        if quantity > line.quantity:
            if not getattr(line, "product_visible", False):
                raise ProductNotFound()
            stock = selectors.stock_of(line.product)
            _check_quantity(quantity, available=stock.available if stock is not None else 0)
        line.quantity = quantity
        CartLine.objects.filter(pk=line.pk).update(quantity=quantity, updated_at=now)
        _touch(cart, now=now)
    return LineChange(cart=cart, line=line, created=False)


def cart_item_remove(*, customer_id: Any, token: str | None, line_id: UUID) -> None:
    """Take a line out of the caller's cart."""
    with transaction.atomic():
        cart = _locked(_active(customer_id=customer_id, token=token))
        if cart is None:
            raise CartNotFound()
        deleted, _rows = CartLine.objects.filter(cart=cart, pk=line_id).delete()
        if not deleted:
            raise CartLineNotFound()
        _touch(cart, now=timezone.now())


# --- discount codes ----------------------------------------------------------------------------


def cart_discount_add(*, customer_id: Any, token: str | None, code: str) -> Cart:
    """Enter a discount code (case-insensitive). It must apply to the cart as it is now, next to
    the codes already entered (pricing's `discount_code_check` raises DiscountRejected with the
    reason's code otherwise). Entering a code twice changes nothing."""
    normalized = normalize_code(code)
    with transaction.atomic():
        cart = _locked(_active(customer_id=customer_id, token=token))
        if cart is None:
            raise CartNotFound()
        codes = selectors.cart_codes(cart=cart)
        if normalized in codes:
            return cart
        views = [
            selectors.line_view(line, currency=cart.currency)
            for line in selectors.cart_lines_for_checkout(cart=cart)
        ]
        discount_code_check(
            code=normalized,
            currency=cart.currency,
            lines=selectors.quote_lines(views),
            customer_id=cart.customer_id,
            other_codes=codes,
        )
        CartDiscount.objects.create(cart=cart, code=normalized, tenant_id=cart.tenant_id)
        _touch(cart, now=timezone.now())
    return cart


def cart_discount_remove(*, customer_id: Any, token: str | None, code: str) -> None:
    """Take a code off the cart (case-insensitive); CartDiscountNotFound when it is not on it."""
    with transaction.atomic():
        cart = _locked(_active(customer_id=customer_id, token=token))
        if cart is None:
            raise CartNotFound()
        deleted, _rows = CartDiscount.objects.filter(cart=cart, code=normalize_code(code)).delete()
        if not deleted:
            raise CartDiscountNotFound()
        _touch(cart, now=timezone.now())


# --- merge, conversion, purge -----------------------------------------------------------------


def cart_merge(*, source: Cart, target: Cart) -> Cart:
    """Move the lines and codes of `source` into `target` and mark `source` merged.

    Quantities of a product in both are summed, then clamped to CART_LINE_MAX_QUANTITY and to the
    units available now, but never below what the target line held nor below 1 (a sold-out
    product stays in the cart, flagged, rather than vanishing). New lines beyond CART_MAX_LINES
    are left out. Codes are carried over unchecked: the quote rejects those that do not apply.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = {
            cart.pk: cart
            for cart in Cart.objects.select_for_update()
            .filter(pk__in=[source.pk, target.pk])
            .order_by("pk")
        }
        if source.pk not in locked or target.pk not in locked:
            raise CartNotFound()
        source, target = locked[source.pk], locked[target.pk]
        if source.pk == target.pk or source.status != Cart.Status.ACTIVE:
            return target
        theirs = {line.product_id: line for line in selectors.cart_lines_for_checkout(cart=source)}
        ours = {line.product_id: line for line in CartLine.objects.filter(cart=target)}
        maximum = selectors.max_line_quantity()
        changed: list[CartLine] = []
        created: list[CartLine] = []
        room = selectors.max_lines() - len(ours)
        for product_id, line in theirs.items():
            stock = selectors.stock_of(line.product)
            available = stock.available if stock is not None else 0
            mine = ours.get(product_id)
            held = mine.quantity if mine is not None else 0
            quantity = max(min(held + line.quantity, maximum, available), held, 1)
            if mine is not None:
                if quantity != mine.quantity:
                    mine.quantity = quantity
                    mine.updated_at = now
                    changed.append(mine)
            elif room > 0:
                room -= 1
                created.append(
                    CartLine(
                        tenant_id=target.tenant_id,
                        cart=target,
                        product_id=product_id,
                        quantity=quantity,
                    )
                )
        if changed:
            CartLine.objects.bulk_update(changed, ["quantity", "updated_at"])
        if created:
            CartLine.objects.bulk_create(created)
        CartDiscount.objects.bulk_create(
            [
                CartDiscount(tenant_id=target.tenant_id, cart=target, code=code)
                for code in selectors.cart_codes(cart=source)
            ],
            ignore_conflicts=True,
        )
        _touch(source, now=now, status=Cart.Status.MERGED)
        _touch(target, now=now)
    return target


def cart_merge_for_login(*, user: Any, token: str | None) -> Cart | None:
    """At sign-in (or on a signed-in request carrying `X-Cart-Token`): bring the anonymous cart
    of `token` into the user's active cart. When the user has none, the anonymous cart simply
    becomes theirs. Returns the user's cart, or None when the token names no active anonymous
    cart of this shop."""
    source = selectors.cart_get_anonymous_by_token(token=token or "")
    if source is None:
        return None
    target = selectors.cart_get_active_for_customer(customer_id=user.pk)
    if target is None:
        try:
            with transaction.atomic():
                adopted = Cart.objects.filter(
                    pk=source.pk, customer__isnull=True, status=Cart.Status.ACTIVE
                ).update(customer_id=user.pk, last_activity_at=timezone.now())
        except IntegrityError:  # the user got a cart meanwhile: merge into it instead
            adopted = 0
        if adopted:
            source.refresh_from_db()
            return source
        target = selectors.cart_get_active_for_customer(customer_id=user.pk)
        if target is None:
            return None
    return cart_merge(source=source, target=target)


def cart_mark_converted(*, cart: Cart, order_id: UUID) -> None:
    """The cart became an order: it is no longer active (the next add starts a new cart).
    Call inside the order's transaction, with the cart row locked."""
    _touch(cart, now=timezone.now(), status=Cart.Status.CONVERTED, converted_order_id=order_id)


def cart_purge_inactive(*, now: datetime | None = None, batch_size: int = PURGE_BATCH_SIZE) -> int:
    """Soft-delete every shop's carts untouched for longer than CART_RETENTION, in batches;
    active ones are marked abandoned first. Carts hold no stock, so nothing is released.
    Returns how many carts were purged (0 on a second run)."""
    cutoff = (now or timezone.now()) - settings.CART_RETENTION
    purged = 0
    while True:
        ids = list(
            Cart.unscoped.filter(deleted_at__isnull=True, last_activity_at__lt=cutoff)
            .order_by("last_activity_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return purged
        stamp = timezone.now()
        with transaction.atomic():
            Cart.unscoped.filter(pk__in=ids, status=Cart.Status.ACTIVE).update(
                status=Cart.Status.ABANDONED, updated_at=stamp
            )
            purged += Cart.unscoped.filter(pk__in=ids, deleted_at__isnull=True).update(
                deleted_at=stamp, updated_at=stamp
            )
