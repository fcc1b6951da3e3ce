"""Tenant isolation: one shop's rows are invisible and unchangeable from another shop."""

import pytest

from emporium.core.context import TenantContextMissing, tenant_context
from emporium.core.models import TenantMismatch
from emporium.tenants.models import DEFAULT_TENANT_ID
from tests.factories import NoteFactory, TenantDomainFactory
from tests.testapp.models import Note

pytestmark = pytest.mark.django_db

HOST_A = "a.shop.test"
HOST_B = "b.shop.test"


@pytest.fixture
def shops():
    domain_a = TenantDomainFactory(domain=HOST_A)
    domain_b = TenantDomainFactory(domain=HOST_B)
    return domain_a.tenant, domain_b.tenant


@pytest.fixture
def note_of_a(shops):
    with tenant_context(shops[0].id):
        return NoteFactory(slug="secret-plan", body="only for shop A")


def test_manager_only_sees_current_tenant(shops, note_of_a):
    shop_a, shop_b = shops
    with tenant_context(shop_b.id):
        assert not Note.objects.filter(id=note_of_a.id).exists()
        assert Note.objects.filter(id=note_of_a.id).update(body="hacked") == 0
        assert Note.objects.filter(id=note_of_a.id).delete()[0] == 0
        assert Note.all_objects.count() == 0
    with tenant_context(shop_a.id):
        assert Note.objects.get(id=note_of_a.id).body == "only for shop A"
    assert Note.unscoped.filter(id=note_of_a.id).count() == 1


def test_saving_another_tenants_row_is_refused(shops, note_of_a):
    with tenant_context(shops[1].id), pytest.raises(TenantMismatch):
        note_of_a.save()


def test_same_slug_in_two_tenants_is_fine(shops, note_of_a):
    with tenant_context(shops[1].id):
        NoteFactory(slug=note_of_a.slug)
    assert Note.unscoped.filter(slug=note_of_a.slug).count() == 2


def test_no_tenant_in_context_fails_loudly():
    with tenant_context(None):
        with pytest.raises(TenantContextMissing):
            list(Note.objects.all())
        with pytest.raises(TenantContextMissing):
            Note(slug="orphan").save()


class TestOverHttp:
    @pytest.fixture(autouse=True)
    def _urls(self, settings):
        settings.ROOT_URLCONF = "tests.testapp.urls"
        settings.ALLOWED_HOSTS = [HOST_A, HOST_B, "unknown.test"]

    def test_list_and_detail_are_scoped_to_the_host(self, client, note_of_a):
        response = client.get("/test-api/notes/", HTTP_HOST=HOST_B)
        assert response.status_code == 200
        assert response.json()["count"] == 0
        detail = client.get(f"/test-api/notes/{note_of_a.id}/", HTTP_HOST=HOST_B)
        assert detail.status_code == 404
        assert detail["Content-Type"] == "application/problem+json"
        assert detail.json()["code"] == "not_found"

        own = client.get(f"/test-api/notes/{note_of_a.id}/", HTTP_HOST=HOST_A)
        assert own.status_code == 200
        assert own.json()["body"] == "only for shop A"

    def test_writes_from_another_host_change_nothing(self, client, note_of_a):
        url = f"/test-api/notes/{note_of_a.id}/"
        patched = client.patch(
            url, {"body": "hacked"}, content_type="application/json", HTTP_HOST=HOST_B
        )
        assert patched.status_code == 404
        assert client.delete(url, HTTP_HOST=HOST_B).status_code == 404
        note = Note.unscoped.get(id=note_of_a.id)
        assert note.body == "only for shop A"
        assert note.deleted_at is None

    def test_created_rows_belong_to_the_hosts_tenant(self, client, shops):
        response = client.post(
            "/test-api/notes/",
            {"slug": "fresh"},
            content_type="application/json",
            HTTP_HOST=HOST_B,
        )
        assert response.status_code == 201
        assert Note.unscoped.get(id=response.json()["id"]).tenant_id == shops[1].id

    def test_unknown_host_falls_back_to_default_tenant(self, client):
        with tenant_context(DEFAULT_TENANT_ID):
            NoteFactory(slug="default-note")
        response = client.get("/test-api/notes/", HTTP_HOST="unknown.test")
        assert [n["slug"] for n in response.json()["results"]] == ["default-note"]

    def test_unknown_host_is_refused_in_strict_mode(self, client, settings):
        settings.TENANT_STRICT_HOSTS = True
        response = client.get("/test-api/notes/", HTTP_HOST="unknown.test")
        assert response.status_code == 404
        assert response.json()["code"] == "tenant_not_found"

    def test_tenant_header_from_trusted_caller_selects_tenant(self, client, shops, note_of_a):
        response = client.get(
            "/test-api/notes/",
            HTTP_HOST=HOST_B,
            HTTP_X_TENANT=shops[0].slug,
            REMOTE_ADDR="127.0.0.1",
        )
        assert response.status_code == 200
        assert [n["slug"] for n in response.json()["results"]] == ["secret-plan"]

    def test_tenant_header_from_untrusted_caller_is_refused(self, client, shops, note_of_a):
        response = client.get(
            "/test-api/notes/",
            HTTP_HOST=HOST_B,
            HTTP_X_TENANT=shops[0].slug,
            REMOTE_ADDR="203.0.113.9",
        )
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "tenant_header_forbidden"

    def test_unknown_or_inactive_tenant_in_header(self, client, shops):
        response = client.get("/test-api/notes/", HTTP_X_TENANT="nope", HTTP_HOST=HOST_A)
        assert response.status_code == 404
        assert response.json()["code"] == "tenant_not_found"
        shops[0].is_active = False
        shops[0].save()
        assert client.get("/test-api/notes/", HTTP_HOST=HOST_A).status_code == 200  # default
        assert (
            client.get("/test-api/notes/", HTTP_HOST=HOST_B, HTTP_X_TENANT=shops[0].slug)
        ).status_code == 404

    def test_validation_errors_are_problem_documents(self, client):
        response = client.post(
            "/test-api/notes/",
            {"slug": "not a slug!"},
            content_type="application/json",
            HTTP_HOST=HOST_A,
        )
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["field"] == "slug"
        assert body["errors"][0]["code"] == "invalid"


def test_host_resolution_is_remembered_and_forgotten_on_change(client, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from emporium.tenants.selectors import tenant_cache_clear

    settings.TENANT_CACHE_SECONDS = 30
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "cached.shop.test"]
    tenant_cache_clear()
    domain = TenantDomainFactory(domain="cached.shop.test")
    assert client.get("/api/v1/", HTTP_HOST="cached.shop.test").json()["store"]["slug"] == (
        domain.tenant.slug
    )
    with CaptureQueriesContext(connection) as captured:
        client.get("/api/v1/", HTTP_HOST="cached.shop.test")
    assert not [q for q in captured.captured_queries if "tenants_tenant" in q["sql"]]

    domain.delete()  # a change in this process applies to the next request
    assert client.get("/api/v1/", HTTP_HOST="cached.shop.test").json()["store"]["slug"] == (
        "default"
    )
    tenant_cache_clear()
