"""OpenAPI post-processing: every operation documents its problem+json error responses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

PROBLEM = "application/problem+json"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error (RFC 9457). `code` is stable; `detail` is translated.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "urn:emporium:problem:not_found"},
        "title": {"type": "string", "example": "Not Found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string", "example": "Not found."},
        "instance": {"type": "string", "example": "/api/v1/products/unknown/"},
        "code": {"type": "string", "example": "not_found"},
        "request_id": {"type": "string", "example": "0196e3b1c2d47a8e9f00112233445566"},
    },
}
_VALIDATION_SCHEMA: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "code", "message"],
                        "properties": {
                            "field": {"type": "string", "example": "items[2].quantity"},
                            "code": {"type": "string", "example": "min_value"},
                            "message": {"type": "string"},
                        },
                    },
                }
            },
        },
    ]
}

# status -> description; validation errors (400) use the ValidationProblem schema.
_ALWAYS = {
    "401": "Authentication is required or failed.",
    "403": "The caller may not do this.",
    "404": "Not found (or not visible to this caller or shop).",
    "405": "Method not allowed.",
    "406": "The requested representation is not available.",
    "429": "Rate limit exceeded; retry after the `Retry-After` header's seconds.",
    "500": "Unexpected error; quote `request_id` when reporting it.",
}
_WITH_BODY = {
    "400": "Invalid request: see `errors` for each field.",
    "409": "Conflict (for example the same Idempotency-Key still in progress).",
    "413": "Request body too large.",
    "415": "Unsupported media type or content encoding.",
    "422": "Idempotency-Key reused with a different request body.",
}


_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "Correlation id: the caller's well-formed X-Request-ID, or a new one.",
        "schema": {"type": "string"},
    },
    "RateLimit-Limit": {
        "description": "Requests allowed in the current window of the tightest limit.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window resets.",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request with the "
        "same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
_COMMON_HEADERS = ("X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
_IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Makes the POST safe to retry: the first response is stored for 24 hours "
    "and replayed for a retry with the same key and body (per caller).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def add_problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular hook: add Problem schemas and error responses to each operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", _PROBLEM_SCHEMA)
    schemas.setdefault("ValidationProblem", _VALIDATION_SCHEMA)
    result["components"].setdefault("headers", {}).update(_HEADERS)
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete", "head", "options"}:
                continue
            # An operation without security requirements is public: say so explicitly.
            operation.setdefault("security", [])
            responses = operation.setdefault("responses", {})
            errors = dict(_ALWAYS)
            if method in {"post", "put", "patch"}:
                errors.update(_WITH_BODY)
            else:
                errors["400"] = "Invalid query parameters."
            if method == "post":
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(_IDEMPOTENCY_KEY_PARAMETER)
            for status, description in errors.items():
                schema = "ValidationProblem" if status == "400" else "Problem"
                documented = responses.setdefault(status, _response(description, schema))
                # A view may describe an error without a body schema: errors are problems.
                documented.setdefault("content", _response(description, schema)["content"])
            for status, response in responses.items():
                if not response.get("description") and status.isdigit():
                    response["description"] = HTTPStatus(int(status)).phrase
                names = list(_COMMON_HEADERS)
                if status == "429":
                    names.append("Retry-After")
                if method == "post" and status.startswith("2"):
                    names.append("Idempotent-Replayed")
                headers = response.setdefault("headers", {})
                for name, ref in _header_refs(*names).items():
                    headers.setdefault(name, ref)
    return result


class VersionedSchemaView(SpectacularAPIView):
    """`/api/schema/?version=v1|v2` (default v1), YAML or `&format=json`."""

    versioning_class = None

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rest: dict[str, Any] = settings.REST_FRAMEWORK
        version = str(request.query_params.get("version") or rest["DEFAULT_VERSION"])
        if version not in rest["ALLOWED_VERSIONS"]:
            raise NotFound(f"Unknown API version {version!r}.")
        self.api_version = version
        response: Response = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
        return response
