"""GET /api/<version>/rate-limits/: the caller's usage of every configured rate limit."""

from __future__ import annotations

from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from emporium.core.ratelimit import rate_limit_usage


class RateLimitScopeSerializer(serializers.Serializer[object]):
    scope = serializers.CharField(help_text="`anon`, `user` or a named scope such as `login`.")
    limit = serializers.IntegerField(help_text="Requests allowed per window.")
    period_seconds = serializers.IntegerField(
        help_text="Window length; windows start at whole multiples of it (UTC epoch)."
    )
    used = serializers.IntegerField(help_text="Requests counted in the current window.")
    remaining = serializers.IntegerField(help_text="Requests left in the current window.")
    reset_seconds = serializers.IntegerField(help_text="Seconds until the window resets.")
    reset_at = serializers.DateTimeField(help_text="When the window resets (UTC).")
    applies_to_every_request = serializers.BooleanField(
        help_text="True for the caller's default limit; named scopes apply to some endpoints."
    )


class RateLimitsSerializer(serializers.Serializer[object]):
    default_scope = serializers.CharField(
        help_text="The limit every API request counts against: `anon` (per client address) "
        "or `user` (per user or API credential)."
    )
    scopes = RateLimitScopeSerializer(many=True)


_RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        name,
        OpenApiTypes.INT,
        location=OpenApiParameter.HEADER,
        response=True,
        description=description,
    )
    for name, description in (
        ("RateLimit-Limit", "Requests allowed in the most restrictive applicable window."),
        ("RateLimit-Remaining", "Requests left in that window."),
        ("RateLimit-Reset", "Seconds until that window resets."),
    )
]


@extend_schema(
    summary="Rate limits",
    description=(
        "The caller's current usage of every configured rate limit. Authentication is optional:"
        " anonymous callers see their address's counters, signed-in callers their own. Viewing"
        " it counts as one request against the default limit and against nothing else."
        " Exceeding a limit gets 429 `rate_limited` with `Retry-After`."
    ),
    responses=RateLimitsSerializer,
    parameters=_RATE_LIMIT_HEADERS,
)
@api_view(["GET"])
@permission_classes([AllowAny])
def rate_limits(request: Request, version: str) -> Response:
    """The caller's usage, limit, remaining requests and reset time for every scope."""
    django_request: HttpRequest = request._request
    default_scope, windows = rate_limit_usage(
        django_request, credential_accepted=request.auth is not None
    )
    scopes = [
        {
            "scope": w.scope,
            "limit": w.rate.limit,
            "period_seconds": w.rate.period,
            "used": w.used,
            "remaining": w.remaining,
            "reset_seconds": w.reset_seconds,
            "reset_at": w.reset_at,
            "applies_to_every_request": w.scope == default_scope,
        }
        for w in windows
    ]
    body = RateLimitsSerializer({"default_scope": default_scope, "scopes": scopes}).data
    return Response(body)
