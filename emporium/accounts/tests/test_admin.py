"""The admin site: pause and reactivate actions, and paused sessions."""

import pytest
from django.utils import timezone

from conftest import TEST_PASSWORD
from emporium.accounts.models import User

pytestmark = pytest.mark.django_db


def test_pause_and_reactivate_actions(client, make_user):
    make_user(email="root@example.com", is_staff=True, is_superuser=True)
    customer = make_user(email="customer@example.com")
    client.login(username="root@example.com", password=TEST_PASSWORD)
    url = "/admin/accounts/user/"
    response = client.post(
        url,
        {"action": "pause_accounts", "index": 0, "_selected_action": [str(customer.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.is_paused
    client.post(
        url, {"action": "reactivate_accounts", "index": 0, "_selected_action": [str(customer.pk)]}
    )
    customer.refresh_from_db()
    assert not customer.is_paused
    assert customer.token_version == 1  # tokens from before the pause stay dead


def test_paused_session_is_refused_by_the_api(client, make_user):
    user = make_user()
    client.login(username="ada@example.com", password=TEST_PASSWORD)
    assert client.get("/api/v1/me/").status_code == 200
    User.objects.filter(id=user.id).update(paused_at=timezone.now())
    user.save(update_fields=["updated_at"])
    response = client.get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json()["code"] == "account_paused"
