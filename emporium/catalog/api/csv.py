"""Staff CSV import and export of products: /api/<version>/products/import/ and .../export/.

These fixed sub-paths are routed before the product slug routes (`import` and `export` are
reserved slugs).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.catalog import exports, imports, selectors
from emporium.catalog.api.read import (
    PRODUCT_FILTER_PARAMETERS,
    TRUE_FALSE,
    ProductQuerySerializer,
)
from emporium.catalog.models import ProductImportJob
from emporium.core.errors import PROBLEM_CONTENT_TYPE, problem_body

# Multipart framing around the file: a request this much over the file limit is refused unread.
MULTIPART_OVERHEAD = 64 * 1024

_PROBLEM = OpenApiResponse(description=_lazy("Problem document (application/problem+json)."))

IMPORT_DESCRIPTION = f"""\
Upsert products from a UTF-8 CSV file (optional byte-order mark) with a header row, matched by
`sku` among the shop's live products. Columns, in any order: {", ".join(imports.COLUMNS)}.
Only `sku` is required as a column; `name` and `price` are required for new products.

Empty cells: a column left out is never touched. An empty cell clears `description`,
`attributes`, `compare_at_price`, `category`, `publish_at` and `unpublish_at`; for `name`,
`slug`, `price`, `currency`, `is_active` and `stock_quantity` it keeps the current value (new
products get the default: generated slug, EUR, active, 0 on hand). `is_active` takes
true/false/1/0/yes/no; times are ISO 8601 (UTC when no offset is given); `attributes` is a JSON
object; `category` is a category slug. A cell starting with `'` followed by `=`, `+`, `-`, `@`
or `'` loses that `'` (the export's CSV-injection escape).

Every invalid row is reported with its `line` (the header is line 1), `field`, stable `code`
and `message`. Without `partial=true`, one invalid row means nothing is written: 400
`invalid_rows` with the report. With `partial=true` the valid rows are written and the invalid
ones reported. `dry_run=true` checks everything and writes nothing (200 with the counts it
would produce). `errors` holds the first {imports.ERRORS_KEPT}; `error_count` is the total.

Files up to `CATALOG_IMPORT_SYNC_MAX_BYTES` (1 MB by default) are imported during the request:
200 with the report. Larger files become a background job: 202 with the job and a `Location`
header pointing at `products/import/{{id}}/`, where the progress is shown.

File-level errors: 400 `invalid_csv` (not UTF-8, broken quoting, no header, wrong cell count is a
row error), `unknown_columns`, `duplicate_columns`, `missing_columns` (no `sku`),
`file_too_large` (over `CATALOG_IMPORT_MAX_BYTES` or `CATALOG_IMPORT_MAX_ROWS`).
"""


def _product_import_job_url(request: Request, version: str, job_id: uuid.UUID) -> str:
    location = reverse("api:product-import-job", kwargs={"version": version, "job_id": job_id})
    return request.build_absolute_uri(location)


# --- Serializers ---------------------------------------------------------------------------


class ProductImportRequestSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="The CSV file (UTF-8, header row, comma-separated).")
    dry_run = serializers.BooleanField(
        default=False, help_text="Check everything and report the counts; write nothing."
    )
    # The metaclass moves declared fields off the class: these do not shadow the attributes.
    partial = serializers.BooleanField(  # type: ignore[assignment]
        default=False, help_text="Write the valid rows even when others are invalid."
    )


class ImportErrorSerializer(serializers.Serializer[Any]):
    line = serializers.IntegerField(help_text="Row of the file; the header is line 1.")
    field = serializers.CharField(help_text="Column name; empty for a whole-row problem.")
    code = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="Translated explanation.")


class ImportReportSerializer(serializers.Serializer[Any]):
    dry_run = serializers.BooleanField()
    partial = serializers.BooleanField()  # type: ignore[assignment]
    written = serializers.BooleanField(help_text="Whether the valid rows were written.")
    total_rows = serializers.IntegerField(help_text="Data rows in the file (blank lines aside).")
    processed_rows = serializers.IntegerField(help_text="Data rows checked so far.")
    created = serializers.IntegerField(help_text="New products (or that would be created).")
    updated = serializers.IntegerField(help_text="Products with at least one changed cell.")
    unchanged = serializers.IntegerField(help_text="Rows that match the product as it is.")
    error_count = serializers.IntegerField(help_text="All errors, also beyond the list's cap.")
    errors = ImportErrorSerializer(  # type: ignore[assignment]
        many=True, help_text="The first errors, in file order."
    )


class ImportJobSerializer(ImportReportSerializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ProductImportJob.Status.choices)
    url = serializers.URLField(help_text="This job's progress endpoint.")
    filename = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


def _job_body(request: Request, version: str, job: ProductImportJob) -> dict[str, Any]:
    body = {
        "id": job.id,
        "status": job.status,
        "url": _product_import_job_url(request, version, job.id),
        "filename": job.filename,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        **imports.job_report(job),
    }
    return ImportJobSerializer(body).data


# --- Views ---------------------------------------------------------------------------------


class ProductImportView(APIView):
    permission_classes = [IsAdminUser]
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["catalog"],
        summary="Import products from CSV (staff)",
        description=IMPORT_DESCRIPTION,
        request={"multipart/form-data": ProductImportRequestSerializer},
        responses={
            200: ImportReportSerializer,
            202: ImportJobSerializer,
            400: _PROBLEM,
            401: _PROBLEM,
            403: _PROBLEM,
            409: _PROBLEM,
            415: _PROBLEM,
        },
        examples=[
            OpenApiExample(
                "Report",
                value={
                    "dry_run": False,
                    "partial": True,
                    "written": True,
                    "total_rows": 3,
                    "processed_rows": 3,
                    "created": 1,
                    "updated": 1,
                    "unchanged": 0,
                    "error_count": 1,
                    "errors": [
                        {
                            "line": 4,
                            "field": "price",
                            "code": "invalid",
                            "message": "Enter a number such as 12.50.",
                        }
                    ],
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def post(self, request: Request, version: str) -> Response:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > imports.max_bytes() + MULTIPART_OVERHEAD:
            raise imports.FileTooLarge(_too_large())
        form = ProductImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        dry_run: bool = form.validated_data["dry_run"]
        partial: bool = form.validated_data["partial"]
        if upload.size > imports.max_bytes():
            raise imports.FileTooLarge(_too_large())
        if upload.size > imports.sync_max_bytes():
            job = imports.product_import_job_create(
                upload=upload,
                filename=upload.name or "",
                dry_run=dry_run,
                partial=partial,
                created_by_id=getattr(request.user, "pk", None),
            )
            return Response(
                _job_body(request, version, job),
                status=status.HTTP_202_ACCEPTED,
                headers={"Location": _product_import_job_url(request, version, job.id)},
            )
        report = imports.product_import(source=upload, dry_run=dry_run, partial=partial)
        if report.rejected:
            body = problem_body(
                status=400,
                code="invalid_rows",
                detail=_("%(count)s errors in the file; nothing was written.")
                % {"count": report.error_count},
                instance=request.path,
                **report.as_dict(),
            )
            return Response(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
        return Response(ImportReportSerializer(report.as_dict()).data)


def _too_large() -> str:
    return _("The file is larger than %(limit)s bytes; split it.") % {"limit": imports.max_bytes()}


class ProductImportJobView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        tags=["catalog"],
        summary="Progress and report of a CSV import job (staff)",
        description="`status` goes `pending` -> `running` -> `succeeded` or `failed`. While "
        "running, `processed_rows` counts the rows checked (out of `total_rows`); the rows "
        "are then written in one transaction. `failed` with `error_count` > 0 and no "
        "`partial`: invalid rows, nothing written. A file-level problem is one error with "
        "line 0 or the line it was found on. Jobs of other shops are 404.",
        parameters=[
            OpenApiParameter(
                "job_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id."
            )
        ],
        responses={200: ImportJobSerializer, 401: _PROBLEM, 403: _PROBLEM, 404: _PROBLEM},
    )
    def get(self, request: Request, version: str, job_id: uuid.UUID) -> Response:
        job = imports.product_import_job_get(job_id=job_id)
        if job is None:
            raise exceptions.NotFound(_("No import job has this id."))
        response = Response(_job_body(request, version, job))
        response["Cache-Control"] = "private, no-store"
        return response


EXPORT_PARAMETERS = [
    *PRODUCT_FILTER_PARAMETERS,
    OpenApiParameter(
        "ordering",
        OpenApiTypes.STR,
        enum=list(selectors.PRODUCT_ORDERINGS),
        default=selectors.DEFAULT_PRODUCT_ORDERING,
        description="Row order.",
    ),
    OpenApiParameter(
        "include_deleted",
        OpenApiTypes.STR,
        enum=TRUE_FALSE,
        description="Also export soft-deleted products (an import matches live products only, "
        "so these rows would come back as new products).",
    ),
]


class ProductExportView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        tags=["catalog"],
        summary="Export products as CSV (staff)",
        description="Every product matching the product list's filters (inactive and "
        "unpublished included), streamed as a CSV attachment in the import's columns, so the "
        "file re-imports unchanged. Text cells starting with `=`, `+`, `-`, `@`, tab, carriage "
        "return or `'` are prefixed with `'` so spreadsheets do not run them as formulas; the "
        "import removes it.",
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The CSV file (UTF-8, header row)."
            ),
            400: _PROBLEM,
            401: _PROBLEM,
            403: _PROBLEM,
        },
    )
    def get(self, request: Request, version: str) -> StreamingHttpResponse:
        query = ProductQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        category_ids = None
        if params.get("category"):
            category_ids = selectors.category_subtree_ids(
                slug=params["category"], include_inactive=True
            )
        products = selectors.product_list(
            staff=True,
            include_deleted=params.get("include_deleted") == "true",
            category_ids=category_ids,
            min_price=params.get("min_price"),
            max_price=params.get("max_price"),
            in_stock={"true": True, "false": False}.get(params.get("in_stock", "")),
            ordering=params["ordering"],
        )
        chunks = exports.product_csv_chunks(products)
        content: Iterator[bytes] | AsyncIterator[bytes] = chunks
        if isinstance(request._request, ASGIRequest):
            # An ASGI server would buffer a sync iterator whole; hand it over chunk by chunk.
            content = _async_chunks(chunks)
        response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
        filename = f"products-{timezone.now():%Y%m%d-%H%M%S}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "private, no-store"
        return response


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # thread_sensitive: every step runs on the request's thread, which owns its DB connection.
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await step()) is not None:
        yield chunk


urlpatterns: list[URLPattern] = [
    path("products/import/", ProductImportView.as_view(), name="product-import"),
    path(
        "products/import/<uuid:job_id>/",
        ProductImportJobView.as_view(),
        name="product-import-job",
    ),
    path("products/export/", ProductExportView.as_view(), name="product-export"),
]
