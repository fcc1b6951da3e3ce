"""The pricing contract of issue 6: quotes with discounts, shipping and tax; discount uses.

Import from here. The computation lives in calculation.py (pure), loading in selectors.py and
the usage counters in services.py; docs/discounts.md documents the rules.
"""

from __future__ import annotations

from emporium.pricing.calculation import AppliedDiscount, Quote, QuoteLine, RejectedCode
from emporium.pricing.errors import DiscountRejected
from emporium.pricing.models import normalize_discount_code
from emporium.pricing.selectors import discount_code_check, pricing_quote
from emporium.pricing.services import discount_usage_claim, discount_usage_release

__all__ = [
    "AppliedDiscount",
    "DiscountRejected",
    "Quote",
    "QuoteLine",
    "RejectedCode",
    "discount_code_check",
    "discount_usage_claim",
    "discount_usage_release",
    "normalize_code",
    "pricing_quote",
]


def normalize_code(code: str) -> str:
    """The stored and compared form of a discount code: stripped and upper-cased."""
    return normalize_discount_code(code)
