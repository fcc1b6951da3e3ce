"""GDPR data exports of the signed-in user: /api/<version>/me/exports/..."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.accounts import selectors_exports, services_exports
from emporium.accounts.models import DataExport, User

EXPORT_DESCRIPTION = """\
A copy of your data as one JSON file: `profile`, `addresses`, `notification_preferences`,
`consents` (every decision, newest first), `login_history`, `orders` and `reviews`, plus
`notes` explaining sections that cannot hold data yet.

The file is built in the background: `status` goes `pending` -> `running` -> `ready` (or
`failed`). Once `ready`, `download_url` is a signed link that works without the
`Authorization` header for a few minutes (15 by default); ask for the export again for a fresh
link. Exports and their files are deleted at `expires_at` (7 days after they are ready by
default); after that the export is 404.
"""


def _me(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


class DataExportSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=DataExport.Status.choices)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(help_text="When the export and its file are deleted.")
    download_url = serializers.URLField(
        allow_null=True,
        help_text="When `status` is `ready`: a signed link to the file, valid for a few minutes, "
        "usable without the Authorization header. Null otherwise.",
    )


def _export_body(request: Request, version: str, export: DataExport) -> dict[str, Any]:
    download_url = None
    if export.status == DataExport.Status.READY:
        link = reverse(
            "api:me-export-download", kwargs={"version": version, "export_id": export.id}
        )
        signature = services_exports.data_export_download_signature(export=export)
        download_url = request.build_absolute_uri(f"{link}?signature={signature}")
    body = {
        "id": export.id,
        "status": export.status,
        "created_at": export.created_at,
        "completed_at": export.completed_at,
        "expires_at": export.expires_at,
        "download_url": download_url,
    }
    return DataExportSerializer(body).data


class ExportListView(APIView):
    @extend_schema(
        summary="Request a copy of your data (GDPR export)",
        description=EXPORT_DESCRIPTION
        + "\nWhile one of your exports is `pending` or `running`, asking again returns that one.",
        request=None,
        responses={202: DataExportSerializer},
    )
    def post(self, request: Request, version: str) -> Response:
        export, _created = services_exports.data_export_request(user=_me(request))
        location = reverse(
            "api:me-export-detail", kwargs={"version": version, "export_id": export.id}
        )
        return Response(
            _export_body(request, version, export),
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class ExportDetailView(APIView):
    @extend_schema(
        summary="One of your data exports",
        description=EXPORT_DESCRIPTION,
        responses={200: DataExportSerializer},
    )
    def get(self, request: Request, version: str, export_id: uuid.UUID) -> Response:
        export = selectors_exports.data_export_get_for_user(user=_me(request), export_id=export_id)
        if export is None:
            raise exceptions.NotFound(_("No such export."))
        response = Response(_export_body(request, version, export))
        response["Cache-Control"] = "private, no-store"  # the body carries a capability link
        return response


class ExportDownloadView(APIView):
    """A capability URL: the signature, not a token, grants access to this one file."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        summary="Download a data export",
        description="Use the `download_url` of a ready export as given; it works without the "
        "Authorization header until it expires. A tampered or foreign signature is 403 "
        "`signature_invalid`, an expired one 403 `signature_expired`.",
        auth=[],
        parameters=[
            OpenApiParameter(
                "signature",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=True,
                description="The signature from `download_url`.",
            )
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The export, as a JSON attachment."
            )
        },
    )
    def get(self, request: Request, version: str, export_id: uuid.UUID) -> FileResponse:
        services_exports.data_export_download_check(
            export_id=export_id, signature=request.query_params.get("signature", "")
        )
        export = selectors_exports.data_export_get_ready(export_id=export_id)
        if export is None or not default_storage.exists(export.file_path):
            raise exceptions.NotFound(_("No such export."))
        response = FileResponse(
            default_storage.open(export.file_path, "rb"),
            as_attachment=True,
            filename=f"data-export-{export.created_at:%Y-%m-%d}.json",
            content_type="application/json",
        )
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response


urlpatterns = [
    path("me/exports/", ExportListView.as_view(), name="me-exports"),
    path("me/exports/<uuid:export_id>/", ExportDetailView.as_view(), name="me-export-detail"),
    path(
        "me/exports/<uuid:export_id>/download/",
        ExportDownloadView.as_view(),
        name="me-export-download",
    ),
]
