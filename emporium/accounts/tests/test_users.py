"""Users belong to one tenant: emails are unique per tenant and sign-in is per tenant host."""

import pytest
from django.core.exceptions import ValidationError

from emporium.accounts.models import User
from emporium.accounts.services import user_create
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def test_email_unique_per_tenant_case_insensitively():
    user_create(email="Ada@Example.com", password=PASSWORD)
    with pytest.raises(ValidationError):
        user_create(email="ada@example.COM", password=PASSWORD)


def test_same_email_in_two_tenants():
    other = TenantDomainFactory().tenant
    user_create(email="ada@example.com", password=PASSWORD)
    with tenant_context(other.id):
        user_create(email="ada@example.com", password=PASSWORD)
        assert User.objects.count() == 1
    assert User.unscoped.filter(email="ada@example.com").count() == 2


def test_names():
    user = user_create(email="grace@example.com", password=PASSWORD)
    assert user.get_full_name() == "grace@example.com"
    assert user.get_short_name() == "grace@example.com"
    user.first_name, user.last_name = "Grace", "Hopper"
    assert user.get_full_name() == "Grace Hopper"
    assert user.get_short_name() == "Grace"
    assert str(user) == "grace@example.com"


def test_admin_sign_in_only_on_own_tenant_host(client, settings):
    settings.ALLOWED_HOSTS = ["other.shop.test", "localhost"]
    other = TenantDomainFactory(domain="other.shop.test").tenant
    user_create(email="staff@example.com", password=PASSWORD, is_staff=True)

    form = {"username": "staff@example.com", "password": PASSWORD, "next": "/admin/"}
    elsewhere = client.post("/admin/login/", form, HTTP_HOST="other.shop.test")
    assert elsewhere.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session

    home = client.post("/admin/login/", form, HTTP_HOST="localhost")
    assert home.status_code == 302
    assert client.get("/admin/", HTTP_HOST="localhost").status_code == 200
    # The session cookie does not open the other shop's admin.
    assert client.get("/admin/", HTTP_HOST="other.shop.test").status_code == 302
    assert other.id != User.unscoped.get(email="staff@example.com").tenant_id


def test_tenant_admin_only_for_default_tenant_superusers(client):
    user_create(email="root@example.com", password=PASSWORD, is_superuser=True)
    user_create(email="staff@example.com", password=PASSWORD, is_staff=True)
    client.login(username="root@example.com", password=PASSWORD)
    assert client.get("/admin/tenants/tenant/", HTTP_HOST="localhost").status_code == 200
    client.logout()
    client.login(username="staff@example.com", password=PASSWORD)
    assert client.get("/admin/tenants/tenant/", HTTP_HOST="localhost").status_code == 403
