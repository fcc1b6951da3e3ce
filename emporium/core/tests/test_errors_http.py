"""Errors raised outside DRF views are problem documents too (under /api/)."""

import pytest
from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from emporium.accounts.services import user_create

PROBLEM = "application/problem+json"


class EchoSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1)


class Echo(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request, version):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class Boom(APIView):
    permission_classes = []
    authentication_classes = []

    def get(self, request, version):
        raise RuntimeError("database password is hunter2")


urlpatterns = [
    path("api/<str:version>/echo/", Echo.as_view()),
    path("api/<str:version>/boom/", Boom.as_view()),
    path("", include("config.urls")),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["instance"]
    return body


@pytest.mark.django_db
def test_unknown_api_url_is_a_problem_even_in_debug(client, settings):
    settings.DEBUG = True
    _problem(client.get("/api/v1/nothing-here/"), 404, "not_found")
    settings.DEBUG = False
    _problem(client.get("/api/nothing/"), 404, "not_found")


@pytest.mark.django_db
def test_unknown_non_api_url_stays_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_bad_json_is_a_problem(client):
    user_create(email="ada@example.com", password="correct-horse-9")
    client.login(username="ada@example.com", password="correct-horse-9")
    response = client.post("/api/v1/echo/", "{not json", content_type="application/json")
    _problem(response, 400, "parse_error")


@pytest.mark.django_db
def test_unauthenticated_is_a_problem(client):
    body = _problem(
        client.post("/api/v1/echo/", {}, content_type="application/json"), 401, "not_authenticated"
    )
    assert body["detail"]


@pytest.mark.django_db
def test_csrf_failure_on_session_auth_is_a_problem():
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    user_create(email="ada@example.com", password="correct-horse-9")
    client.login(username="ada@example.com", password="correct-horse-9")
    response = client.post("/api/v1/echo/", {"quantity": 1}, content_type="application/json")
    _problem(response, 403, "csrf_failed")
    client.get("/admin/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    ok = client.post(
        "/api/v1/echo/", {"quantity": 2}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert ok.status_code == 200


@pytest.mark.django_db
def test_wrong_media_type_and_accept(client):
    user_create(email="ada@example.com", password="correct-horse-9")
    client.login(username="ada@example.com", password="correct-horse-9")
    _problem(
        client.post("/api/v1/echo/", "quantity=1", content_type="text/plain"),
        415,
        "unsupported_media_type",
    )
    _problem(client.get("/api/v1/", HTTP_ACCEPT="application/xml"), 406, "not_acceptable")
    _problem(client.delete("/api/v1/"), 405, "method_not_allowed")


@pytest.mark.django_db
def test_body_too_large_is_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    user_create(email="ada@example.com", password="correct-horse-9")
    client.login(username="ada@example.com", password="correct-horse-9")
    body = '{"quantity": 1, "padding": "' + "x" * 500 + '"}'
    _problem(
        client.post("/api/v1/echo/", body, content_type="application/json"),
        413,
        "request_too_large",
    )


@pytest.mark.django_db
def test_server_error_hides_internals_and_carries_request_id():
    from django.test import Client

    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/boom/", HTTP_X_REQUEST_ID="req-boom-00001")
    body = _problem(response, 500, "server_error")
    assert body["request_id"] == "req-boom-00001"
    assert "hunter2" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


@pytest.mark.django_db
def test_validation_error_paths(client):
    user_create(email="ada@example.com", password="correct-horse-9")
    client.login(username="ada@example.com", password="correct-horse-9")
    body = _problem(
        client.post("/api/v1/echo/", {"quantity": 0}, content_type="application/json"),
        400,
        "validation_error",
    )
    assert body["errors"] == [
        {"field": "quantity", "code": "min_value", "message": body["errors"][0]["message"]}
    ]
