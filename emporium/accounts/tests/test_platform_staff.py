"""Platform staff (staff of the default shop marked is_platform_staff) work in every shop;
everyone else only in their own."""

import pytest
from django.db import IntegrityError, transaction

from conftest import TEST_PASSWORD
from emporium.accounts.models import User
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db
SHOP_B = "b.shop.test"


@pytest.fixture
def shop_b(settings):
    settings.ALLOWED_HOSTS = [SHOP_B, "testserver"]
    return TenantDomainFactory(domain=SHOP_B).tenant


def _sign_in(client, email, host=SHOP_B):
    return client.post(
        "/api/v1/auth/token/",
        {"email": email, "password": TEST_PASSWORD},
        content_type="application/json",
        HTTP_HOST=host,
    )


def test_platform_staff_work_in_another_shop(client, make_user, shop_b):
    make_user(email="ops@example.com", is_staff=True, is_platform_staff=True)
    with tenant_context(shop_b.id):
        customer = make_user(email="buyer@example.com")

    tokens = _sign_in(client, "ops@example.com")
    assert tokens.status_code == 200
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens.json()['access']}", "HTTP_HOST": SHOP_B}
    paused = client.post(
        f"/api/v1/admin/users/{customer.id}/pause/",
        {"reason": "chargebacks"},
        content_type="application/json",
        **headers,
    )
    assert paused.status_code == 200, paused.content
    refreshed = client.post(
        "/api/v1/auth/token/refresh/",
        {"refresh": tokens.json()["refresh"]},
        content_type="application/json",
        HTTP_HOST=SHOP_B,
    )
    assert refreshed.status_code == 200

    client.post(
        "/admin/login/",
        {"username": "ops@example.com", "password": TEST_PASSWORD, "next": "/admin/"},
        HTTP_HOST=SHOP_B,
    )
    assert client.get("/admin/", HTTP_HOST=SHOP_B).status_code == 200
    assert User.unscoped.get(email="ops@example.com").last_login is not None


def test_ordinary_staff_stay_in_their_shop(client, make_user, shop_b):
    make_user(email="clerk@example.com", is_staff=True)
    refused = _sign_in(client, "clerk@example.com")
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_credentials"


def test_a_token_of_shop_b_staff_does_not_work_in_the_default_shop(client, make_user, shop_b):
    with tenant_context(shop_b.id):
        make_user(email="clerk@example.com", is_staff=True)
    tokens = _sign_in(client, "clerk@example.com").json()
    response = client.get(
        "/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}", HTTP_HOST="testserver"
    )
    assert response.status_code == 401


def test_only_staff_of_the_default_shop_can_be_platform_staff(make_user, shop_b):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_user(email="nope@example.com", is_platform_staff=True)  # not staff
    with tenant_context(shop_b.id), pytest.raises(IntegrityError), transaction.atomic():
        make_user(email="nope@example.com", is_staff=True, is_platform_staff=True)
