"""Endpoints that belong to the API as a whole rather than to one domain."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from emporium.core.caching import cache_headers


class StoreSerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    slug = serializers.SlugField()


class ApiRootSerializer(serializers.Serializer[object]):
    version = serializers.CharField()
    store = StoreSerializer()


@extend_schema(
    summary="API root",
    description="The API version in the URL and the shop this host serves. No authentication.",
    responses=ApiRootSerializer,
    auth=[],
)
@cache_headers(max_age=60)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request: Request, version: str) -> Response:
    """What this API serves: the version in the URL and the current store."""
    django_request: HttpRequest = request._request
    return Response(
        {
            "version": request.version,
            "store": StoreSerializer(django_request.tenant).data,  # type: ignore[attr-defined]
        }
    )


@require_GET
def changelog(request: HttpRequest) -> FileResponse:
    """The API changelog (docs/api-changelog.md), linked from deprecation headers."""
    path = Path(settings.BASE_DIR) / "docs" / "api-changelog.md"
    return FileResponse(path.open("rb"), content_type="text/markdown; charset=utf-8")
