"""The error a discount code is refused with."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from emporium.core.errors import ApplicationError

# Stable reason codes of refused discount codes (RejectedCode.reason / DiscountRejected.code).
DISCOUNT_NOT_FOUND = "discount_not_found"
DISCOUNT_EXPIRED = "discount_expired"
DISCOUNT_NOT_STARTED = "discount_not_started"
DISCOUNT_EXHAUSTED = "discount_exhausted"
DISCOUNT_MINIMUM_NOT_MET = "discount_minimum_not_met"
DISCOUNT_NOT_APPLICABLE = "discount_not_applicable"
DISCOUNT_NOT_STACKABLE = "discount_not_stackable"
DISCOUNT_CURRENCY_MISMATCH = "discount_currency_mismatch"

REASON_MESSAGES = {
    DISCOUNT_NOT_FOUND: _("This discount code does not exist."),
    DISCOUNT_EXPIRED: _("This discount code has expired."),
    DISCOUNT_NOT_STARTED: _("This discount code is not valid yet."),
    DISCOUNT_EXHAUSTED: _("This discount code has been used up."),
    DISCOUNT_MINIMUM_NOT_MET: _("The order does not reach this discount's minimum subtotal."),
    DISCOUNT_NOT_APPLICABLE: _("This discount code does not apply to the items in the cart."),
    DISCOUNT_NOT_STACKABLE: _("This discount code cannot be combined with the other codes."),
    DISCOUNT_CURRENCY_MISMATCH: _("This discount code is not valid in this currency."),
}


class DiscountRejected(ApplicationError):
    """A discount code cannot be used; `code` is one of the stable reason codes above."""

    status = 400
    code = DISCOUNT_NOT_APPLICABLE
    title = _("The discount code cannot be applied.")

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, status: int | None = None
    ) -> None:
        if detail is None and code in REASON_MESSAGES:
            detail = str(REASON_MESSAGES[code])
        super().__init__(detail, code=code)
        if status is not None:
            self.status = status
