"""Tenant services, selectors and the tenant used by management commands."""

import io

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import call_command

from emporium.tenants.commandline import command_tenant_id
from emporium.tenants.models import DEFAULT_TENANT_ID, Tenant, TenantDomain
from emporium.tenants.selectors import tenant_get_by_host, tenant_get_default
from emporium.tenants.services import tenant_create

pytestmark = pytest.mark.django_db


def test_default_tenant_exists_from_the_migration():
    tenant = tenant_get_default()
    assert tenant.id == DEFAULT_TENANT_ID
    assert tenant.slug == "default"
    assert str(tenant) == "Default shop"
    assert tenant_get_by_host(host="localhost") == tenant


def test_create_tenant_with_domains():
    tenant = tenant_create(name="Acme", slug="acme", domains=["Shop.Acme.test", "acme.test"])
    domains = {d.domain: d.is_primary for d in TenantDomain.objects.filter(tenant=tenant)}
    assert domains == {"shop.acme.test": True, "acme.test": False}
    assert tenant_get_by_host(host="SHOP.acme.test.") == tenant
    assert str(TenantDomain.objects.get(domain="acme.test")) == "acme.test"


def test_duplicate_slug_or_bad_slug_is_refused_and_nothing_is_written():
    tenant_create(name="Acme", slug="acme")
    with pytest.raises(ValidationError):
        tenant_create(name="Acme again", slug="acme", domains=["again.test"])
    with pytest.raises(ValidationError):
        tenant_create(name="Bad", slug="not a slug")
    assert Tenant.objects.count() == 2
    assert not TenantDomain.objects.filter(domain="again.test").exists()


def test_inactive_tenant_is_not_resolved():
    tenant = tenant_create(name="Closed", slug="closed", domains=["closed.test"])
    tenant.is_active = False
    tenant.save()
    assert tenant_get_by_host(host="closed.test") is None


def test_commands_act_as_default_tenant_or_the_named_one(monkeypatch):
    monkeypatch.delenv("EMPORIUM_TENANT", raising=False)
    assert command_tenant_id() == DEFAULT_TENANT_ID
    acme = tenant_create(name="Acme", slug="acme")
    monkeypatch.setenv("EMPORIUM_TENANT", "acme")
    assert command_tenant_id() == acme.id
    monkeypatch.setenv("EMPORIUM_TENANT", "missing")
    with pytest.raises(ImproperlyConfigured, match="EMPORIUM_TENANT=missing"):
        command_tenant_id()


def test_system_checks_pass():
    out = io.StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_default_tenant_survives_a_flush():
    call_command("flush", interactive=False, verbosity=0)
    tenant = tenant_get_default()
    assert tenant.slug == "default"
    assert tenant_get_by_host(host="localhost") == tenant
