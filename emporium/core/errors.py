"""Errors as RFC 9457 `application/problem+json` with a stable machine-readable `code`."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from emporium.core.context import get_request_id

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApplicationError(Exception):
    """A domain error a client can act on; services raise it, the API renders it."""

    status = 400
    code = "invalid_request"
    title = "The request could not be processed."

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        super().__init__(self.detail)


def problem_body(
    *, status: int, code: str, detail: str, instance: str = "", **extra: Any
) -> dict[str, Any]:
    """The JSON body of a problem response."""
    body: dict[str, Any] = {
        "type": f"urn:emporium:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    request_id = get_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(
    request: HttpRequest | None, *, status: int, code: str, detail: str, **extra: Any
) -> JsonResponse:
    """A Django response carrying a problem document (for middleware and plain views)."""
    body = problem_body(
        status=status,
        code=code,
        detail=detail,
        instance=request.path if request is not None else "",
        **extra,
    )
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def _flatten(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error detail -> [{"field": "items[2].quantity", "code", "message"}]."""
    if isinstance(detail, Mapping):
        errors: list[dict[str, str]] = []
        for key, value in detail.items():
            if isinstance(key, int):  # a list serializer reports failing items by index
                field = f"{prefix}[{key}]"
            elif key == "non_field_errors":
                field = prefix
            else:
                field = f"{prefix}.{key}" if prefix else str(key)
            errors.extend(_flatten(value, field))
        return errors
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            return [e for item in detail for e in _flatten(item, prefix)]
        return [e for i, item in enumerate(detail) for e in _flatten(item, f"{prefix}[{i}]")]
    code = getattr(detail, "code", "invalid")
    return [{"field": prefix, "code": str(code), "message": str(detail)}]


def problem_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """DRF exception handler: every handled error becomes problem+json."""
    if isinstance(exc, ApplicationError):
        exc = _to_api_exception(exc)
    response = drf_exception_handler(exc, dict(context))
    if response is None:
        return None
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, exceptions.ValidationError):
        body = problem_body(
            status=response.status_code,
            code="validation_error",
            detail="The request has invalid fields.",
            instance=instance,
            errors=_flatten(exc.detail),
        )
    else:
        code = _code_of(exc, response.status_code)
        detail = str(getattr(exc, "detail", "")) or HTTPStatus(response.status_code).phrase
        body = problem_body(
            status=response.status_code, code=code, detail=detail, instance=instance
        )
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _to_api_exception(exc: ApplicationError) -> exceptions.APIException:
    api_exc = exceptions.APIException(detail=exc.detail, code=exc.code)
    api_exc.status_code = exc.status
    return api_exc


def _code_of(exc: Exception, status: int) -> str:
    if isinstance(exc, Http404):
        return "not_found"
    if isinstance(exc, PermissionDenied):
        return "permission_denied"
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if isinstance(codes, str):
        return codes
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
