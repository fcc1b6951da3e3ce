"""Endpoints that belong to the API as a whole rather than to one domain."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response


class StoreSerializer(serializers.Serializer[object]):
    name = serializers.CharField()
    slug = serializers.SlugField()


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
