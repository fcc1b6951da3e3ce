"""GDPR exports (`me/exports/`), through HTTP: request, build, status, signed download."""

import json
import threading
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from conftest import service_unavailable
from emporium.accounts.api.auth import tokens_for
from emporium.accounts.models import Address, ConsentRecord, DataExport, LoginEvent, User
from emporium.accounts.services_exports import EXPORTERS, NOTES, exporter_register
from emporium.accounts.tasks_exports import build_data_export
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

EXPORTS = "/api/v1/me/exports/"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def eager():
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def grace(make_user):
    return make_user(email="grace@example.com")


def stored_files(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


def request_export(client, headers, capture):
    """POST me/exports/ and run the build task after the commit, as the worker would."""
    with capture(execute=True):
        response = client.post(EXPORTS, **headers)
    assert response.status_code == 202, response.content
    return response.json()


def detail(client, headers, export_id):
    return client.get(f"{EXPORTS}{export_id}/", **headers)


def ready_export(client, bearer, user, capture):
    created = request_export(client, bearer(user), capture)
    body = detail(client, bearer(user), created["id"]).json()
    assert body["status"] == "ready"
    return body


def download(client, url, **extra):
    return client.get(url.removeprefix("http://testserver"), **extra)


def document_of(response):
    assert response.status_code == 200, response.content
    return json.loads(b"".join(response.streaming_content))


def problem_code(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()["code"]


def test_anonymous_cannot_request_or_read_exports(client, ada):
    assert client.post(EXPORTS).status_code == 401
    assert client.get(f"{EXPORTS}00000000-0000-7000-8000-000000000000/").status_code == 401
    assert not DataExport.objects.exists()


def test_export_is_built_and_downloaded_with_the_users_data(
    client, bearer, ada, grace, media, django_capture_on_commit_callbacks
):
    Address.objects.create(
        user=ada, label="Home", line1="Unter den Linden 1", city="Berlin", country="DE"
    )
    Address.objects.create(
        user=grace, label="Grace's", line1="Elsewhere 2", city="Paris", country="FR"
    )
    LoginEvent.objects.create(user=ada, succeeded=True, ip_address="198.51.100.4", user_agent="UA")
    LoginEvent.objects.create(user=grace, succeeded=False, ip_address="198.51.100.5")
    ConsentRecord.objects.create(
        user=ada,
        purpose="marketing_email",
        granted=True,
        source="signup",
        policy_version="v1",
        ip_address="203.0.113.9",
    )

    created = request_export(client, bearer(ada), django_capture_on_commit_callbacks)
    assert created["status"] == "pending"
    assert created["download_url"] is None

    body = detail(client, bearer(ada), created["id"]).json()
    assert body["status"] == "ready"
    assert body["completed_at"] is not None
    export = DataExport.objects.get()
    assert stored_files(media) == [f"exports/{export.tenant_id}/{ada.id}/{export.id}.json"]

    # The link is a capability: no Authorization header needed.
    response = download(client, body["download_url"])
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment;")
    document = document_of(response)
    assert document["export_id"] == str(export.id)
    assert document["profile"]["email"] == "ada@example.com"
    assert document["profile"]["first_name"] == "Ada"
    assert [a["label"] for a in document["addresses"]] == ["Home"]  # not Grace's
    assert document["notification_preferences"]["account_security"]["email"] is True
    assert [(c["purpose"], c["granted"], c["ip_address"]) for c in document["consents"]] == [
        ("marketing_email", True, "203.0.113.9")
    ]
    assert [(e["succeeded"], e["ip_address"]) for e in document["login_history"]] == [
        (True, "198.51.100.4")
    ]
    assert document["orders"] == []
    assert document["reviews"] == []
    assert set(document["notes"]) == {"orders", "reviews"}
    assert "grace@example.com" not in json.dumps(document)


def test_a_second_request_while_one_is_pending_returns_the_same_export(client, bearer, ada):
    # No commit callbacks run: the first export stays pending.
    first = client.post(EXPORTS, **bearer(ada))
    second = client.post(EXPORTS, **bearer(ada))
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second["Location"].endswith(f"{EXPORTS}{first.json()['id']}/")
    assert DataExport.objects.count() == 1


def test_a_new_export_can_be_requested_once_the_last_one_is_ready(
    client, bearer, ada, django_capture_on_commit_callbacks
):
    first = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
    second = request_export(client, bearer(ada), django_capture_on_commit_callbacks)
    assert second["id"] != first["id"]
    assert DataExport.objects.count() == 2


def test_building_twice_produces_one_file(
    client, bearer, ada, media, django_capture_on_commit_callbacks
):
    body = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
    export = DataExport.objects.get()
    before = default_storage.open(export.file_path).read()

    assert build_data_export.delay(body["id"]).get() == "ready"
    # A rerun after a crash (the row still says running, a file already written) overwrites.
    DataExport.objects.update(status="running")
    assert build_data_export.delay(body["id"]).get() == "ready"

    assert stored_files(media) == [export.file_path]
    export.refresh_from_db()
    assert export.status == "ready"
    assert json.loads(default_storage.open(export.file_path).read())["export_id"] == body["id"]
    assert json.loads(before)["export_id"] == body["id"]


def test_a_failing_build_marks_the_export_failed(
    client, bearer, ada, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(user):
        raise RuntimeError("boom")

    monkeypatch.setitem(EXPORTERS, "orders", broken)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(EXPORTS, **bearer(ada)).status_code == 202
    export = DataExport.objects.get()
    body = detail(client, bearer(ada), export.id).json()
    assert body["status"] == "failed"
    assert body["download_url"] is None
    # A failed export does not block a new request.
    assert client.post(EXPORTS, **bearer(ada)).json()["id"] != str(export.id)


def test_registered_exporters_add_their_section(
    client, bearer, ada, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("emporium.accounts.services_exports.EXPORTERS", dict(EXPORTERS))
    monkeypatch.setattr("emporium.accounts.services_exports.NOTES", dict(NOTES))
    exporter_register(section="orders", exporter=lambda user: [{"number": "1001"}])
    body = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
    document = document_of(download(client, body["download_url"]))
    assert document["orders"] == [{"number": "1001"}]
    assert "orders" not in document["notes"]


def test_another_customer_cannot_see_the_export(
    client, bearer, ada, grace, django_capture_on_commit_callbacks
):
    body = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
    assert problem_code(detail(client, bearer(grace), body["id"]), 404) == "not_found"


def test_tampered_or_missing_signature_is_refused(
    client, bearer, ada, grace, django_capture_on_commit_callbacks
):
    mine = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
    theirs = ready_export(client, bearer, grace, django_capture_on_commit_callbacks)
    url = mine["download_url"]
    path, signature = url.split("?signature=")

    tampered = f"{path}?signature={signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"
    assert problem_code(download(client, tampered), 403) == "signature_invalid"
    assert problem_code(download(client, path), 403) == "signature_invalid"
    # Grace's signature does not open Ada's export.
    grace_signature = theirs["download_url"].split("?signature=")[1]
    wrong = f"{path}?signature={grace_signature}"
    assert problem_code(download(client, wrong), 403) == "signature_invalid"
    # The untouched link still works.
    assert download(client, url).status_code == 200


def test_download_link_expires(client, bearer, ada, settings, django_capture_on_commit_callbacks):
    settings.ACCOUNT_EXPORT_LINK_MAX_AGE = timedelta(minutes=15)
    with freeze_time(timezone.now()) as frozen:
        body = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
        frozen.tick(timedelta(minutes=14))
        assert download(client, body["download_url"]).status_code == 200
        frozen.tick(timedelta(minutes=2))
        expired = download(client, body["download_url"])
        assert problem_code(expired, 403) == "signature_expired"
        # Asking for the status again gives a fresh link.
        fresh = detail(client, bearer(ada), body["id"]).json()["download_url"]
        assert document_of(download(client, fresh))["export_id"] == body["id"]


def test_expired_export_is_gone(client, bearer, ada, django_capture_on_commit_callbacks):
    with freeze_time(timezone.now()) as frozen:
        body = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
        frozen.tick(timedelta(days=7, seconds=1))
        assert problem_code(detail(client, bearer(ada), body["id"]), 404) == "not_found"


class TestAnotherShop:
    HOST = "other.shop.test"

    @pytest.fixture
    def other_customer(self, settings):
        settings.ALLOWED_HOSTS = [self.HOST, "testserver"]
        shop = TenantDomainFactory(domain=self.HOST).tenant
        with tenant_context(shop.id):
            user = User.objects.create_user(
                "ada@example.com", "a-long-passphrase-42", email_verified_at=timezone.now()
            )
            headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens_for(user)['access']}"}
        return user, headers

    def test_exports_are_invisible_across_shops(
        self, client, bearer, ada, other_customer, django_capture_on_commit_callbacks
    ):
        _user, their_headers = other_customer
        mine = ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
        from_there = client.get(f"{EXPORTS}{mine['id']}/", HTTP_HOST=self.HOST, **their_headers)
        assert problem_code(from_there, 404) == "not_found"
        # Even a valid link does not open the file on another shop's host.
        link = mine["download_url"].removeprefix("http://testserver")
        assert problem_code(client.get(link, HTTP_HOST=self.HOST), 404) == "not_found"

        with django_capture_on_commit_callbacks(execute=True):
            theirs = client.post(EXPORTS, HTTP_HOST=self.HOST, **their_headers)
        assert theirs.status_code == 202
        assert theirs.json()["id"] != mine["id"]
        assert DataExport.unscoped.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_start_one_export(bearer, ada, monkeypatch):
    """Simultaneous POSTs of one customer all get the same export (PostgreSQL, threads)."""
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL")
    # Nothing builds the export meanwhile: it stays pending for every request.
    monkeypatch.setattr("emporium.accounts.services_exports._build_later", lambda export_id: None)
    threads_count = 6
    headers = bearer(ada)
    barrier = threading.Barrier(threads_count, timeout=30)
    responses = [None] * threads_count
    errors = []

    def send(index):
        try:
            client = Client()
            barrier.wait()
            responses[index] = client.post(EXPORTS, **headers)
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert [r.status_code for r in responses] == [202] * threads_count
    assert len({r.json()["id"] for r in responses}) == 1
    assert DataExport.objects.filter(user=ada).count() == 1


def test_deleting_a_users_exports_removes_their_files(
    client, bearer, ada, media, django_capture_on_commit_callbacks
):
    from emporium.accounts.services_exports import data_exports_delete_for_user

    ready_export(client, bearer, ada, django_capture_on_commit_callbacks)
    assert stored_files(media)
    with django_capture_on_commit_callbacks(execute=True):
        assert data_exports_delete_for_user(user=ada) == 1
    assert not DataExport.objects.exists()
    assert stored_files(media) == []
