"""POST /api/<version>/admin/cache/purge/: staff drop the shop's cached API pages."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.core import response_cache
from emporium.core.context import require_current_tenant_id


class CachePurgeSerializer(serializers.Serializer[Any]):
    scope = serializers.CharField(
        default="all",
        help_text="`all`, `catalog` (products and categories) or `categories`.",
    )

    def validate_scope(self, value: str) -> str:
        if value not in response_cache.scopes():
            raise serializers.ValidationError(
                _("Unknown scope; use one of: %(scopes)s.")
                % {"scopes": ", ".join(sorted(response_cache.scopes()))},
                code="invalid_choice",
            )
        return value


class CachePurgeResultSerializer(serializers.Serializer[Any]):
    scope = serializers.CharField()
    namespaces = serializers.ListField(child=serializers.CharField())


class CachePurgeView(APIView):
    """Invalidate the shop's cached pages (other shops' caches are untouched)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        tags=["admin"],
        operation_id="admin_cache_purge",
        summary="Purge application caches",
        description=(
            "Staff only. Every cached page of this shop in the given scope is dropped at once "
            "(the next read rebuilds it). Writes already invalidate what they change; this is "
            "for data changed outside the API, such as a database restore."
        ),
        request=CachePurgeSerializer,
        responses={
            200: CachePurgeResultSerializer,
            400: OpenApiResponse(description="Unknown scope (application/problem+json)."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = CachePurgeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope = data.validated_data["scope"]
        namespaces = response_cache.purge(require_current_tenant_id(), scope)
        return Response({"scope": scope, "namespaces": list(namespaces)})


cache_purge = CachePurgeView.as_view()
