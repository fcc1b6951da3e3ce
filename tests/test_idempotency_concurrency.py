"""Concurrent first requests with one Idempotency-Key: exactly one runs (PostgreSQL, threads)."""

import threading
import time
import uuid

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import include, path

from conftest import service_unavailable
from emporium.core.models import IdempotencyRecord
from tests.testapp.api import NoteViewSet
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


class SlowNoteViewSet(NoteViewSet):
    """Holds the request open while creating, so the other requests arrive during it. Every run
    creates its own row (a fresh slug), so only the idempotency record can stop a second one."""

    def perform_create(self, serializer):
        time.sleep(0.3)
        serializer.save(slug=f"{serializer.validated_data['slug']}-{uuid.uuid4().hex[:8]}")


urlpatterns = [
    path("api/test-slow-notes/", SlowNoteViewSet.as_view({"post": "create"})),
    path("", include("config.urls")),
]


@pytest.fixture(autouse=True)
def _postgresql(settings):
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL")
    settings.ROOT_URLCONF = __name__


def _post_at_once(count):
    barrier = threading.Barrier(count, timeout=30)
    responses = [None] * count
    errors = []

    def send(index):
        try:
            client = Client()
            barrier.wait()
            responses[index] = client.post(
                "/api/test-slow-notes/",
                {"slug": "only-once", "body": "same body"},
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="order-7f3a",
            )
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert all(not thread.is_alive() for thread in threads)
    return responses


def test_concurrent_requests_with_one_key_create_one_row():
    responses = _post_at_once(THREADS)

    assert Note.unscoped.filter(slug__startswith="only-once-").count() == 1
    originals = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    replays = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" in r]
    busy = [r for r in responses if r.status_code == 409]
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(busy) == THREADS
    assert all(r.content == originals[0].content for r in replays)
    assert all(r.json()["code"] == "idempotency_key_in_progress" for r in busy)
    record = IdempotencyRecord.objects.get()
    assert record.state == IdempotencyRecord.State.COMPLETED
