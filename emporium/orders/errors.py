"""Errors of checkout and order transitions (rendered as problem+json with these codes)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from emporium.core.errors import ApplicationError


class CartEmpty(ApplicationError):
    status = 400
    code = "cart_empty"
    title = _("The cart is empty: add products before checking out.")


class CartNotActive(ApplicationError):
    status = 409
    code = "cart_not_active"
    title = _("This cart was already checked out.")


class ProductUnavailable(ApplicationError):
    status = 409
    code = "product_unavailable"
    title = _("A product in the cart is no longer sold: remove it and try again.")


class CheckoutDiscountRejected(ApplicationError):
    """A code in the cart no longer applies; the checkout fails instead of silently charging
    more than the customer was shown. `code` is the pricing reason (discount_expired...)."""

    status = 409
    code = "discount_not_applicable"
    title = _("A discount code in the cart can no longer be used: remove it and try again.")


class OrderNotFound(ApplicationError):
    status = 404
    code = "not_found"
    title = _("No order exists at this address.")


class OrderAlreadyCancelled(ApplicationError):
    status = 409
    code = "order_already_cancelled"
    title = _("This order is already cancelled.")


class OrderAlreadyShipped(ApplicationError):
    status = 409
    code = "order_already_shipped"
    title = _("This order has shipped and can no longer be cancelled.")


class OrderNotCancellable(ApplicationError):
    status = 409
    code = "order_not_cancellable"
    title = _("This order is closed (payment failed or expired) and cannot be cancelled.")


class OrderNotPaid(ApplicationError):
    status = 409
    code = "order_not_paid"
    title = _("Only paid orders can be shipped.")
