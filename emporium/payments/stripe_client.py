"""A small typed client over the official `stripe` library: timeouts, retries, minor units.

Amounts cross the Stripe boundary in minor units (cents). `to_minor_units` multiplies by the
currency's exponent and rounds ROUND_HALF_UP to a whole unit: the only rounding point between
Emporium's Decimal amounts and Stripe's integers. Zero-decimal currencies (JPY, KRW...) are sent
as whole units; three-decimal ones (BHD, JOD, KWD, OMR, TND) in thousandths rounded to a multiple
of ten, as Stripe requires.

The library retries network errors, 409 and 5xx answers up to STRIPE_MAX_NETWORK_RETRIES times
(same Idempotency-Key, so a retried create never makes a second object); each request waits at
most STRIPE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

import stripe
from django.conf import settings

if TYPE_CHECKING:
    from stripe import StripeClient

# https://docs.stripe.com/currencies#zero-decimal
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


class StripeNotConfigured(RuntimeError):
    """STRIPE_SECRET_KEY is not set: payments cannot be created."""


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point Stripe uses for `currency`."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`Decimal("12.345"), "EUR"` -> 1235 (ROUND_HALF_UP); `Decimal("1500"), "JPY"` -> 1500."""
    exponent = currency_exponent(currency)
    if exponent == 3:  # Stripe accepts only multiples of ten: round at hundredths, once
        return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * 10
    return int((amount * (Decimal(10) ** exponent)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor_units(minor: int, currency: str) -> Decimal:
    """1235, "EUR" -> Decimal("12.35")."""
    exponent = currency_exponent(currency)
    return (Decimal(minor) / (Decimal(10) ** exponent)).quantize(Decimal("0.01"))


def stripe_configured() -> bool:
    """Whether a secret key is set (without one, orders stay pending with no payment)."""
    return bool(getattr(settings, "STRIPE_SECRET_KEY", None))


def stripe_client() -> StripeClient:
    """The client for the current settings (one per distinct configuration)."""
    api_key = getattr(settings, "STRIPE_SECRET_KEY", None)
    if not api_key:
        raise StripeNotConfigured("STRIPE_SECRET_KEY is not set")
    return _client(
        api_key,
        getattr(settings, "STRIPE_API_BASE", None),
        int(getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2)),
        float(getattr(settings, "STRIPE_TIMEOUT_SECONDS", 10)),
    )


@lru_cache(maxsize=8)
def _client(api_key: str, api_base: str | None, retries: int, timeout: float) -> StripeClient:
    return stripe.StripeClient(
        api_key=api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )
