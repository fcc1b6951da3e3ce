"""Problem documents for domain errors and DRF errors."""

import pytest
from rest_framework import exceptions, serializers

from emporium.core.context import request_id_context
from emporium.core.errors import ApplicationError, problem_exception_handler


class OutOfStock(ApplicationError):
    status = 409
    code = "out_of_stock"
    title = "Not enough stock."


def _handle(exc):
    return problem_exception_handler(exc, {"request": None})


def test_application_error_keeps_its_status_and_code():
    with request_id_context("req-err-0001"):
        response = _handle(OutOfStock())
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.data["code"] == "out_of_stock"
    assert response.data["detail"] == "Not enough stock."
    assert response.data["request_id"] == "req-err-0001"


def test_application_error_code_override():
    response = _handle(ApplicationError("Bad coupon.", code="coupon_invalid"))
    assert response.status_code == 400
    assert response.data["code"] == "coupon_invalid"


def test_nested_validation_errors_get_field_paths():
    class Line(serializers.Serializer):
        quantity = serializers.IntegerField(min_value=1)

    class Order(serializers.Serializer):
        items = Line(many=True)
        note = serializers.CharField(max_length=3)

    serializer = Order(data={"items": [{"quantity": 1}, {"quantity": 0}], "note": "toolong"})
    with pytest.raises(exceptions.ValidationError) as caught:
        serializer.is_valid(raise_exception=True)
    body = _handle(caught.value).data
    assert body["code"] == "validation_error"
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("items[1].quantity", "min_value"),
        ("note", "max_length"),
    }


def test_non_field_errors_use_the_parent_path():
    body = _handle(exceptions.ValidationError({"non_field_errors": ["Dates overlap."]})).data
    assert body["errors"] == [{"field": "", "code": "invalid", "message": "Dates overlap."}]


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (exceptions.NotAuthenticated(), 401, "not_authenticated"),
        (exceptions.PermissionDenied(), 403, "permission_denied"),
        (exceptions.NotFound(), 404, "not_found"),
        (exceptions.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
        (exceptions.Throttled(wait=3), 429, "throttled"),
    ],
)
def test_drf_errors(exc, status, code):
    response = _handle(exc)
    assert response.status_code == status
    assert response.data["code"] == code
    assert response.data["status"] == status


def test_unhandled_exceptions_are_left_to_django():
    assert _handle(ValueError("boom")) is None
