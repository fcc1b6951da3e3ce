"""Errors as RFC 9457 `application/problem+json` with a stable machine-readable `code`."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from django_stubs_ext import StrOrPromise
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from emporium.core.context import get_request_id

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApplicationError(Exception):
    """A domain error a client can act on; services raise it, the API renders it."""

    status = 400
    code = "invalid_request"
    title: StrOrPromise = _lazy("The request could not be processed.")

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = str(detail or self.title)
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


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def problem_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """DRF exception handler: every handled error becomes problem+json."""
    if isinstance(exc, ApplicationError):
        exc = _to_api_exception(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(_("The request body is too large."))
    response = drf_exception_handler(exc, dict(context))
    if response is None:
        return None
    request = context.get("request")
    instance = request.path if request is not None else ""
    if isinstance(exc, exceptions.ValidationError):
        body = problem_body(
            status=response.status_code,
            code="validation_error",
            detail=_("The request has invalid fields."),
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


# --- Django-level errors: problem+json for API paths, Django's pages elsewhere ----------------
# Wired in config/urls.py (handler400/403/404/500) and settings.CSRF_FAILURE_VIEW.
API_PATH_PREFIXES = ("/api/", "/health/", "/graphql")


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return problem_response(
            request,
            status=413,
            code="request_too_large",
            detail=_("The request body is too large."),
        )
    if not is_api_request(request):
        return defaults.bad_request(request, exception)
    return problem_response(
        request, status=400, code="bad_request", detail=_("The request could not be understood.")
    )


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.permission_denied(request, exception)
    return problem_response(
        request,
        status=403,
        code="permission_denied",
        detail=_("You do not have permission to perform this action."),
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.page_not_found(request, exception)
    return problem_response(
        request, status=404, code="not_found", detail=_("No resource exists at this address.")
    )


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api_request(request):
        return defaults.server_error(request)
    return problem_response(
        request,
        status=500,
        code="server_error",
        detail=_("An unexpected error occurred. Quote the request id when reporting it."),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF failures (session-authenticated unsafe API calls without the token)."""
    if not is_api_request(request):
        return django_csrf_failure(request, reason)
    return problem_response(
        request,
        status=403,
        code="csrf_failed",
        detail=_("CSRF verification failed: send the X-CSRFToken header with session auth."),
    )
