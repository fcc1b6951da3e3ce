"""Idempotency-Key on POST under /api/: a retried request is answered, not executed again."""

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.http import StreamingHttpResponse
from django.urls import include, path
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.accounts.services import user_create
from emporium.core import idempotency
from emporium.core.idempotency import LOCK_TIMEOUT, idempotency_record_purge_expired
from emporium.core.models import IdempotencyRecord
from emporium.core.tasks import purge_idempotency_records
from tests.factories import TenantDomainFactory
from tests.testapp.api import NoteViewSet
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
NOTES = "/api/test-notes/"
COUNTER = "/api/test-counter/"
FLAKY = "/api/test-flaky/"
STREAM = "/api/test-stream/"
PASSWORD = "correct-horse-battery"
OTHER_HOST = "b.shop.test"


class OpenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []


class CounterView(OpenView):
    """Creates a note with a fresh slug on every call: each run of the view leaves a row."""

    def post(self, request):
        note = Note.objects.create(slug=f"n-{uuid.uuid4().hex[:12]}", body=request.data["body"])
        return Response(
            {"id": str(note.id), "body": note.body},
            status=201,
            headers={"Location": f"/api/test-notes/{note.id}/", "ETag": f'"{note.id}"'},
        )


class FlakyView(OpenView):
    """Fails the first call in the way the test asks (an exception, 503 or 429), then works."""

    calls = 0

    def post(self, request):
        FlakyView.calls += 1
        if FlakyView.calls == 1:
            failure = request.data["failure"]
            if failure == "exception":
                raise RuntimeError("the database went away")
            return Response({"detail": "try again"}, status=int(failure))
        Note.objects.create(slug=f"flaky-{FlakyView.calls}")
        return Response({"calls": FlakyView.calls}, status=201)


class StreamView(OpenView):
    def post(self, request):
        note = Note.objects.create(slug=f"s-{uuid.uuid4().hex[:12]}")
        response = StreamingHttpResponse(iter([b"made ", str(note.id).encode()]), status=201)
        response["Location"] = f"/api/test-notes/{note.id}/"
        return response


urlpatterns = [
    path("api/test-notes/", NoteViewSet.as_view({"post": "create", "get": "list"})),
    path("api/test-counter/", CounterView.as_view(), name="idem-counter"),
    path("api/test-flaky/", FlakyView.as_view()),
    path("api/test-stream/", StreamView.as_view()),
    path("test-api/notes/", NoteViewSet.as_view({"post": "create"})),
    path("", include("config.urls")),
]


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["testserver", "localhost", OTHER_HOST]
    FlakyView.calls = 0


def post(client, url, data, key="key-0001", **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(url, data, content_type="application/json", **extra)


def test_first_response_is_stored_and_the_retry_replayed(client):
    first = post(client, NOTES, {"slug": "first", "body": "hello"})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    retry = post(client, NOTES, {"slug": "first", "body": "hello"})
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Content-Type"] == "application/json"
    assert retry.content == first.content
    assert Note.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert record.state == IdempotencyRecord.State.COMPLETED
    assert record.response_status == 201


def test_replay_keeps_result_headers_but_not_per_delivery_ones(client):
    first = post(client, COUNTER, {"body": "x"}, HTTP_X_REQUEST_ID="first-request-0001")
    retry = post(client, COUNTER, {"body": "x"}, HTTP_X_REQUEST_ID="retry-request-0002")
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Location"] == first["Location"]
    assert retry["ETag"] == first["ETag"]
    assert retry["X-Request-ID"] == "retry-request-0002"
    assert set(IdempotencyRecord.objects.get().response_headers) == {
        "Content-Type",
        "Location",
        "ETag",
    }
    assert Note.objects.count() == 1


def test_same_key_for_a_different_request_is_refused(client):
    post(client, NOTES, {"slug": "first", "body": "hello"})
    for url, body in [(NOTES, {"slug": "other", "body": "hello"}), (COUNTER, {"body": "x"})]:
        response = post(client, url, body)
        assert response.status_code == 422
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "idempotency_key_reused"
    assert list(Note.objects.values_list("slug", flat=True)) == ["first"]


@pytest.fixture
def other_host():
    return TenantDomainFactory(domain=OTHER_HOST).tenant


@pytest.mark.parametrize(
    "other_caller",
    [
        {"REMOTE_ADDR": "10.1.2.3"},
        {"HTTP_AUTHORIZATION": "Bearer token-of-someone-else"},
        {"HTTP_HOST": OTHER_HOST},
    ],
    ids=["other-ip", "other-credential", "other-tenant"],
)
def test_keys_are_scoped_to_the_caller(client, other_host, other_caller):
    assert post(client, NOTES, {"slug": "mine"}).status_code == 201

    theirs = post(client, NOTES, {"slug": "theirs"}, **other_caller)
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert Note.unscoped.filter(slug__in=["mine", "theirs"]).count() == 2
    assert post(client, NOTES, {"slug": "theirs"}, **other_caller)["Idempotent-Replayed"] == "true"
    assert Note.unscoped.count() == 2


def test_keys_are_scoped_to_the_signed_in_user(client):
    ada = user_create(email="ada@example.com", password=PASSWORD)
    grace = user_create(email="grace@example.com", password=PASSWORD)
    client.force_login(ada)
    assert post(client, NOTES, {"slug": "ada"}).status_code == 201
    client.force_login(grace)
    response = post(client, NOTES, {"slug": "grace"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert IdempotencyRecord.objects.count() == 2


@pytest.mark.parametrize("failure", ["exception", "503", "429"])
def test_failures_worth_retrying_are_not_stored(client, failure):
    client.raise_request_exception = False
    first = post(client, FLAKY, {"failure": failure})
    assert first.status_code == (500 if failure == "exception" else int(failure))
    assert not IdempotencyRecord.objects.exists()
    assert not Note.objects.exists()

    retry = post(client, FLAKY, {"failure": failure})
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    again = post(client, FLAKY, {"failure": failure})
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == {"calls": 2}
    assert Note.objects.count() == 1


def test_a_client_error_is_stored_and_replayed(client):
    first = post(client, NOTES, {"body": "no slug"})
    assert first.status_code == 400
    retry = post(client, NOTES, {"body": "no slug"})
    assert retry.status_code == 400
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Content-Type"] == PROBLEM
    assert retry.json()["code"] == "validation_error"
    assert not Note.objects.exists()


def test_expired_record_is_replaced(client):
    post(client, COUNTER, {"body": "x"})
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post(client, COUNTER, {"body": "a different body is fine once expired"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Note.objects.count() == 2
    record = IdempotencyRecord.objects.get()
    assert record.expires_at > timezone.now()
    assert post(client, COUNTER, {"body": "x"}).status_code == 422


def test_request_in_progress_gets_409_until_its_lock_times_out(client):
    post(client, COUNTER, {"body": "x"})
    # As if the first request were still running: its record is in progress.
    IdempotencyRecord.objects.update(state=IdempotencyRecord.State.IN_PROGRESS)

    busy = post(client, COUNTER, {"body": "x"})
    assert busy.status_code == 409
    assert busy["Retry-After"] == "1"
    assert busy.json()["code"] == "idempotency_key_in_progress"
    assert Note.objects.count() == 1

    # Its process died: after LOCK_TIMEOUT a retry takes the key over and runs.
    stale = timezone.now() - LOCK_TIMEOUT - timedelta(seconds=1)
    IdempotencyRecord.objects.update(created_at=stale)
    taken_over = post(client, COUNTER, {"body": "x"})
    assert taken_over.status_code == 201
    assert "Idempotent-Replayed" not in taken_over
    assert Note.objects.count() == 2
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.COMPLETED


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "bad\tkey", "caf\u00e9"],
    ids=["empty", "blank", "too-long", "control-char", "non-ascii"],
)
def test_malformed_key_is_refused(client, key):
    response = post(client, NOTES, {"slug": "n"}, key=key)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "idempotency_key_invalid"
    assert not Note.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_longest_key_is_accepted(client):
    assert post(client, NOTES, {"slug": "n"}, key="k" * 255).status_code == 201


def test_endpoint_can_require_a_key(client, settings):
    settings.IDEMPOTENCY_REQUIRED_FOR = ["idem-counter"]
    missing = post(client, COUNTER, {"body": "x"}, key=None)
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_required"
    assert not Note.objects.exists()

    assert post(client, COUNTER, {"body": "x"}).status_code == 201
    # Endpoints not listed still run without a key.
    assert post(client, NOTES, {"slug": "free"}, key=None).status_code == 201
    assert post(client, "/api/no-such-endpoint/", {}, key=None).status_code == 404
    assert Note.objects.count() == 2


def test_without_a_key_every_request_runs(client):
    post(client, COUNTER, {"body": "x"}, key=None)
    post(client, COUNTER, {"body": "x"}, key=None)
    assert Note.objects.count() == 2
    assert not IdempotencyRecord.objects.exists()


def test_other_methods_and_non_api_posts_are_left_alone(client):
    listing = client.get(NOTES, HTTP_IDEMPOTENCY_KEY="key-0001")
    assert listing.status_code == 200
    form = {"username": "nobody@example.com", "password": "wrong-password"}
    for _ in range(2):
        login = client.post("/admin/login/", form, HTTP_IDEMPOTENCY_KEY="key-0001")
        assert login.status_code == 200  # the form again, with an error
        assert "Idempotent-Replayed" not in login
    outside_api = client.post(
        "/test-api/notes/",
        {"slug": "outside"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="x" * 300,
    )
    assert outside_api.status_code == 201
    assert not IdempotencyRecord.objects.exists()


def test_streaming_response_is_not_run_twice(client):
    first = post(client, STREAM, {})
    assert first.status_code == 201
    assert b"".join(first.streaming_content).startswith(b"made ")

    retry = post(client, STREAM, {})
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Location"] == first["Location"]
    assert retry.content == b""
    assert Note.objects.count() == 1


def test_large_response_is_not_run_twice(client, monkeypatch):
    monkeypatch.setattr(idempotency, "MAX_STORED_BODY_BYTES", 10)
    first = post(client, COUNTER, {"body": "longer than ten bytes"})
    retry = post(client, COUNTER, {"body": "longer than ten bytes"})
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Location"] == first["Location"]
    assert retry.content == b""
    assert Note.objects.count() == 1


def test_response_is_returned_when_it_cannot_be_stored(client, monkeypatch):
    def database_down(**kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(idempotency, "idempotency_record_complete", database_down)
    first = post(client, COUNTER, {"body": "x"})
    assert first.status_code == 201
    # The record stays "in progress": a quick retry waits instead of running the view again.
    assert post(client, COUNTER, {"body": "x"}).status_code == 409
    assert Note.objects.count() == 1


def _record(key, *, expires_in):
    now = timezone.now()
    return IdempotencyRecord.objects.create(
        scope="t:-:anon:127.0.0.1",
        key=key,
        request_path=NOTES,
        fingerprint="0" * 64,
        expires_at=now + timedelta(seconds=expires_in),
    )


def test_purge_task_deletes_only_expired_records():
    for i in range(5):
        _record(f"old-{i}", expires_in=-60)
    fresh = _record("fresh", expires_in=60)

    assert purge_idempotency_records() == 5
    assert list(IdempotencyRecord.objects.all()) == [fresh]
    assert purge_idempotency_records() == 0


def test_purge_works_through_batches():
    for i in range(5):
        _record(f"old-{i}", expires_in=-60)
    assert idempotency_record_purge_expired(batch_size=2) == 5
    assert not IdempotencyRecord.objects.exists()


def test_admin_shows_records_to_platform_superusers_only(client):
    _record("visible", expires_in=60)
    user_create(email="root@example.com", password=PASSWORD, is_superuser=True)
    user_create(email="staff@example.com", password=PASSWORD, is_staff=True)
    url = "/admin/core/idempotencyrecord/"
    client.login(username="root@example.com", password=PASSWORD)
    listing = client.get(url, HTTP_HOST="localhost")
    assert listing.status_code == 200
    assert b"visible" in listing.content
    assert client.get(f"{url}add/", HTTP_HOST="localhost").status_code == 403
    client.logout()
    client.login(username="staff@example.com", password=PASSWORD)
    assert client.get(url, HTTP_HOST="localhost").status_code == 403
