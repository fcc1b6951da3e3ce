"""The order confirmation email."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from emporium.orders.models import Order


def order_confirmation_send(*, order: Order) -> None:
    """Email the order's lines and totals to its address, in the customer's language."""
    customer = order.customer
    locale = (customer.locale if customer is not None else "") or settings.LANGUAGE_CODE
    with translation.override(locale):
        lines = "\n".join(
            f"{line.quantity} x {line.name} ({line.sku}): {line.line_total} {order.currency}"
            for line in order.lines.all()
        )
        body = _(
            "Thank you for your order %(number)s.\n\n%(lines)s\n\n"
            "Subtotal: %(subtotal)s\nDiscounts: -%(discounts)s\nShipping: %(shipping)s\n"
            "Tax: %(tax)s\nTotal: %(total)s %(currency)s\n"
        ) % {
            "number": order.number,
            "lines": lines,
            "subtotal": order.subtotal,
            "discounts": order.discount_total,
            "shipping": order.shipping_total,
            "tax": order.tax_total,
            "total": order.total,
            "currency": order.currency,
        }
        send_mail(
            subject=_("Your order %(number)s") % {"number": order.number},
            message=body,
            from_email=None,
            recipient_list=[order.email],
        )
