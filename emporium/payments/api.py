"""Stripe webhook: `POST /api/v1/payments/stripe/webhook/`.

No authentication (Stripe signs the body instead), no CSRF (not a browser form), no rate limit:
Stripe delivers from a handful of addresses and a dropped delivery would only come back later
as a retry; a forged request costs one HMAC before its 400.
"""

from __future__ import annotations

import json
from typing import Any

import stripe
from django.conf import settings
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.core.errors import problem_response
from emporium.core.logging import get_logger
from emporium.payments.services import stripe_event_process

log = get_logger(__name__)

SIGNATURE_HEADER = "Stripe-Signature"


class StripeWebhookView(APIView):
    """Receives Stripe events, verifies their signature and applies them once."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        tags=["payments"],
        operation_id="payments_stripe_webhook",
        summary="Stripe webhook",
        description=(
            "Called by Stripe. The raw body must carry a valid `Stripe-Signature` "
            "(HMAC-SHA256 with STRIPE_WEBHOOK_SECRET, within STRIPE_WEBHOOK_TOLERANCE_SECONDS). "
            "Handled: payment_intent.succeeded, payment_intent.payment_failed, "
            "payment_intent.canceled, charge.refunded; every other type is acknowledged. "
            "A replayed event id is acknowledged and ignored."
        ),
        auth=[],
        request=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter(
                SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ],
        responses={
            200: OpenApiResponse(description="Received (handled, duplicate or ignored)."),
            400: OpenApiResponse(
                description="invalid_signature: missing or bad signature, stale timestamp or "
                "unreadable body; nothing was stored."
            ),
            503: OpenApiResponse(description="webhook_not_configured: no signing secret set."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        secret = getattr(settings, "STRIPE_WEBHOOK_SECRET", None)
        if not secret:
            log.error("stripe_webhook_not_configured")
            return problem_response(
                request,
                status=503,
                code="webhook_not_configured",
                detail=_("Stripe webhooks are not configured on this server."),
            )
        payload = request.body
        signature = request.headers.get(SIGNATURE_HEADER)
        try:
            if not signature:
                raise ValueError("no Stripe-Signature header")
            stripe.Webhook.construct_event(
                payload,
                signature,
                secret,
                tolerance=int(getattr(settings, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)),
            )
            event = json.loads(payload)
            event_id, event_type = str(event["id"]), str(event["type"])
        except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError):
            log.warning("stripe_webhook_rejected")
            return problem_response(
                request,
                status=400,
                code="invalid_signature",
                detail=_("The Stripe signature of this request is missing or invalid."),
            )
        outcome = stripe_event_process(event=event)
        log.info("stripe_event", event_id=event_id, event_type=event_type, outcome=outcome)
        return Response({"received": True, "outcome": outcome})


urlpatterns: list[URLPattern] = [
    path("payments/stripe/webhook/", StripeWebhookView.as_view(), name="stripe-webhook"),
]
