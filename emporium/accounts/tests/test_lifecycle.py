"""Pause and reactivation (staff and self-service) and account deletion, through HTTP."""

import io
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from PIL import Image

from conftest import TEST_PASSWORD
from emporium.accounts import services_lifecycle
from emporium.accounts.models import (
    AccountDeletion,
    AccountPause,
    AccountToken,
    Address,
    Avatar,
    ConsentRecord,
    NotificationPreference,
    User,
)
from emporium.accounts.services_profile import address_create, avatar_set
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _eager_mail(settings, tmp_path):
    """Celery tasks run in-process here; the real worker is covered in tests/."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.MEDIA_ROOT = tmp_path / "media"
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def ada(make_user):
    return make_user(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def staff(make_user):
    return make_user(email="staff@example.com", is_staff=True)


@pytest.fixture
def root(make_user):
    return make_user(email="root@example.com", is_staff=True, is_superuser=True)


def post(client, path, data=None, **extra):
    return client.post(f"{API}/{path}", data or {}, content_type="application/json", **extra)


def sign_in(client, email="ada@example.com", password=TEST_PASSWORD):
    return post(client, "auth/token/", {"email": email, "password": password})


def link_token(message):
    return re.search(r"token=([\w-]+)", message.body).group(1)


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code


# --- Staff pause and reactivation ---------------------------------------------------------------


def test_staff_pause_stops_tokens_at_once_and_refuses_sign_in(client, ada, staff, bearer):
    tokens = sign_in(client).json()
    access = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    assert client.get(f"{API}/rate-limits/", **access).status_code == 200

    response = post(
        client, f"admin/users/{ada.id}/pause/", {"reason": "chargebacks"}, **bearer(staff)
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(ada.id)
    assert body["paused"] is True
    assert body["pause_reason"] == "chargebacks"
    assert body["paused_at"] is not None

    assert_problem(client.get(f"{API}/rate-limits/", **access), 403, "account_paused")
    assert_problem(
        post(client, "auth/token/refresh/", {"refresh": tokens["refresh"]}), 403, "account_paused"
    )
    assert_problem(sign_in(client), 403, "account_paused")
    assert not mail.outbox  # a staff pause sends no self-service reactivation link


def test_pausing_again_keeps_the_first_pause(client, ada, staff, bearer):
    first = post(client, f"admin/users/{ada.id}/pause/", {"reason": "first"}, **bearer(staff))
    second = post(client, f"admin/users/{ada.id}/pause/", {"reason": "second"}, **bearer(staff))
    assert second.status_code == 200
    assert second.json()["paused_at"] == first.json()["paused_at"]
    assert second.json()["pause_reason"] == "first"
    assert AccountPause.objects.filter(user=ada).count() == 1


def test_staff_reactivation_lets_the_user_sign_in_again(client, ada, staff, bearer):
    old_tokens = sign_in(client).json()
    old_access = {"HTTP_AUTHORIZATION": f"Bearer {old_tokens['access']}"}
    post(client, f"admin/users/{ada.id}/pause/", {"reason": "check"}, **bearer(staff))

    response = post(client, f"admin/users/{ada.id}/reactivate/", **bearer(staff))
    assert response.status_code == 204
    ada.refresh_from_db()
    assert ada.paused_at is None
    assert ada.pause_reason == ""
    pause = AccountPause.objects.get(user=ada)
    assert pause.reactivated_by_id == staff.id
    assert pause.paused_by_id == staff.id
    assert sign_in(client).status_code == 200
    # Tokens from before the pause stay revoked.
    assert_problem(client.get(f"{API}/rate-limits/", **old_access), 401, "token_revoked")
    assert_problem(
        post(client, "auth/token/refresh/", {"refresh": old_tokens["refresh"]}),
        401,
        "token_revoked",
    )
    # Reactivating an active account changes nothing.
    assert post(client, f"admin/users/{ada.id}/reactivate/", **bearer(staff)).status_code == 204


def test_staff_endpoints_permissions(client, ada, staff, make_user, bearer):
    bob = make_user(email="bob@example.com")
    for action in ("pause", "reactivate"):
        url = f"admin/users/{ada.id}/{action}/"
        assert_problem(post(client, url), 401, "not_authenticated")
        assert_problem(post(client, url, **bearer(bob)), 403, "permission_denied")
        assert_problem(post(client, url, **bearer(ada)), 403, "permission_denied")
    ada.refresh_from_db()
    assert ada.paused_at is None


def test_staff_cannot_pause_themselves_or_other_staff(client, staff, root, make_user, bearer):
    colleague = make_user(email="colleague@example.com", is_staff=True)
    assert_problem(
        post(client, f"admin/users/{staff.id}/pause/", **bearer(staff)), 400, "cannot_pause_self"
    )
    assert_problem(
        post(client, f"admin/users/{colleague.id}/pause/", **bearer(staff)),
        403,
        "cannot_pause_staff",
    )
    assert_problem(
        post(client, f"admin/users/{root.id}/pause/", **bearer(staff)), 403, "cannot_pause_staff"
    )
    colleague.refresh_from_db()
    root.refresh_from_db()
    assert colleague.paused_at is None
    assert root.paused_at is None

    # A superuser may pause staff, and only a superuser lifts it.
    assert post(client, f"admin/users/{colleague.id}/pause/", **bearer(root)).status_code == 200
    assert_problem(
        post(client, f"admin/users/{colleague.id}/reactivate/", **bearer(staff)),
        403,
        "cannot_pause_staff",
    )
    assert (
        post(client, f"admin/users/{colleague.id}/reactivate/", **bearer(root)).status_code == 204
    )


def test_unknown_user_and_other_shop_user_are_404(client, staff, bearer, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "b.shop.test"]
    other_shop = TenantDomainFactory(domain="b.shop.test").tenant
    with tenant_context(other_shop.id):
        stranger = User.objects.create_user("stranger@example.com", TEST_PASSWORD)
    for user_id in ("0190b1c2-0000-7000-8000-000000000000", str(stranger.id)):
        assert_problem(
            post(client, f"admin/users/{user_id}/pause/", **bearer(staff)), 404, "not_found"
        )
        assert_problem(
            post(client, f"admin/users/{user_id}/reactivate/", **bearer(staff)), 404, "not_found"
        )
    stranger.refresh_from_db()
    assert stranger.paused_at is None


def test_pause_reason_is_validated(client, ada, staff, bearer):
    response = post(client, f"admin/users/{ada.id}/pause/", {"reason": "x" * 501}, **bearer(staff))
    assert_problem(response, 400, "validation_error")
    assert response.json()["errors"][0]["field"] == "reason"
    ada.refresh_from_db()
    assert ada.paused_at is None


# --- Self-service pause and reactivation ----------------------------------------------------


def test_pause_myself_and_reactivate_with_the_emailed_link(
    client, ada, bearer, django_capture_on_commit_callbacks
):
    headers = bearer(ada)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "me/pause/", {"reason": "holiday"}, **headers)
    assert response.status_code == 200, response.content
    assert response.json()["paused"] is True
    assert_problem(client.get(f"{API}/rate-limits/", **headers), 403, "account_paused")
    assert_problem(sign_in(client), 403, "account_paused")

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    token = link_token(mail.outbox[0])
    assert post(client, "auth/reactivate/", {"token": token}).status_code == 204
    assert sign_in(client).status_code == 200
    assert_problem(post(client, "auth/reactivate/", {"token": token}), 400, "token_invalid")


def test_reactivation_link_is_refused_once_staff_took_the_pause_over(
    client, ada, staff, bearer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "me/pause/", **bearer(ada))
    token = link_token(mail.outbox[0])
    post(client, f"admin/users/{ada.id}/pause/", {"reason": "fraud"}, **bearer(staff))

    assert_problem(post(client, "auth/reactivate/", {"token": token}), 400, "token_invalid")
    ada.refresh_from_db()
    assert ada.is_paused


def test_reactivation_token_errors(client, ada, bearer, django_capture_on_commit_callbacks):
    assert_problem(post(client, "auth/reactivate/", {"token": "nonsense"}), 400, "token_invalid")
    assert_problem(post(client, "auth/reactivate/", {}), 400, "validation_error")
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "me/pause/", **bearer(ada))
    token = link_token(mail.outbox[0])
    AccountToken.objects.filter(user=ada).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(post(client, "auth/reactivate/", {"token": token}), 400, "token_invalid")
    ada.refresh_from_db()
    assert ada.is_paused


def test_me_pause_needs_authentication(client):
    assert_problem(post(client, "me/pause/"), 401, "not_authenticated")


# --- Deletion -----------------------------------------------------------------------------------


def _png():
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (10, 20, 30)).save(buffer, "PNG")
    buffer.seek(0)
    return buffer


@pytest.fixture
def ada_with_data(ada):
    ada.phone = "+4930123456"
    ada.locale = "de"
    ada.save()
    address_create(
        user=ada,
        data={"line1": "Analytical Engine Street 1", "city": "London", "country": "GB"},
    )
    avatar = avatar_set(user=ada, file=_png())
    ConsentRecord.objects.create(
        user=ada,
        purpose="marketing_email",
        granted=True,
        source="account_settings",
        policy_version="2025-01",
        ip_address="203.0.113.7",
        user_agent="SecretBrowser/1.0",
    )
    NotificationPreference.objects.create(
        user=ada, event="marketing", channel="email", enabled=True
    )
    return ada, avatar


def _request_deletion(client, user, bearer, captured):
    with captured(execute=True):
        response = post(client, "me/delete/", {"password": TEST_PASSWORD}, **bearer(user))
    assert response.status_code == 202, response.content
    return link_token(mail.outbox[-1])


def _database_rows_containing(needles):
    """Every row of every table whose text mentions one of `needles` (case-insensitively)."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row).lower()
                found.extend((table, n) for n in needles if n.lower() in text)
    return found


def test_deletion_leaves_no_personal_data(
    client, ada_with_data, bearer, django_capture_on_commit_callbacks
):
    ada, avatar = ada_with_data
    tokens = sign_in(client).json()
    access = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    pii = ["ada@example.com", "Lovelace", "+4930123456", "Analytical Engine", "203.0.113.7"]
    pii.append("SecretBrowser")
    # A failed sign-in leaves a counter keyed by the email (in the database cache when embedded).
    assert_problem(sign_in(client, password="wrong password"), 401, "invalid_credentials")
    assert _database_rows_containing(pii)  # the search does find the data before deletion

    token = _request_deletion(client, ada, bearer, django_capture_on_commit_callbacks)
    assert mail.outbox[-1].to == ["ada@example.com"]
    assert AccountDeletion.objects.get(user_id=ada.id).completed_at is None
    assert client.get(f"{API}/rate-limits/", **access).status_code == 200  # nothing happened yet

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "auth/delete/confirm/", {"token": token})
    assert response.status_code == 204, response.content

    assert _database_rows_containing(pii) == []
    ada.refresh_from_db()
    assert ada.email.startswith("deleted-")
    assert ada.email.endswith("@invalid")
    assert not ada.is_active
    assert not ada.has_usable_password()
    assert (ada.first_name, ada.last_name, ada.phone, ada.locale) == ("", "", "", "")
    assert not Address.objects.filter(user=ada).exists()
    assert not Avatar.objects.filter(user=ada).exists()
    assert not default_storage.exists(avatar.image_path)
    assert not default_storage.exists(avatar.thumbnail_path)
    assert not NotificationPreference.objects.filter(user=ada).exists()
    assert not AccountToken.objects.filter(user=ada).exists()
    kept = ConsentRecord.objects.get(user=ada)  # evidence of the consent, without the person
    assert kept.granted
    assert kept.policy_version == "2025-01"
    assert kept.ip_address is None
    assert kept.user_agent == ""
    record = AccountDeletion.objects.get(user_id=ada.id)
    assert record.requested_at <= record.completed_at

    assert_problem(client.get(f"{API}/rate-limits/", **access), 401, "token_revoked")
    assert_problem(
        post(client, "auth/token/refresh/", {"refresh": tokens["refresh"]}), 401, "token_revoked"
    )
    assert_problem(sign_in(client), 401, "invalid_credentials")
    assert_problem(post(client, "auth/delete/confirm/", {"token": token}), 400, "token_invalid")

    # The address is free again.
    again = post(
        client, "auth/register/", {"email": "ada@example.com", "password": "a fresh passphrase 99"}
    )
    assert again.status_code == 201, again.content


def test_deletion_needs_the_password(client, ada, bearer):
    assert_problem(
        post(client, "me/delete/", {"password": "wrong"}, **bearer(ada)), 400, "wrong_password"
    )
    response = post(client, "me/delete/", {}, **bearer(ada))
    assert_problem(response, 400, "validation_error")
    assert response.json()["errors"][0]["field"] == "password"
    assert_problem(
        post(client, "me/delete/", {"password": TEST_PASSWORD}), 401, "not_authenticated"
    )
    assert not mail.outbox
    assert not AccountDeletion.objects.exists()


def test_expired_or_unknown_deletion_token_deletes_nothing(
    client, ada, bearer, django_capture_on_commit_callbacks
):
    token = _request_deletion(client, ada, bearer, django_capture_on_commit_callbacks)
    assert_problem(
        post(client, "auth/delete/confirm/", {"token": "nonsense"}), 400, "token_invalid"
    )
    AccountToken.objects.filter(user=ada).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(post(client, "auth/delete/confirm/", {"token": token}), 400, "token_invalid")
    ada.refresh_from_db()
    assert ada.is_active
    assert ada.email == "ada@example.com"
    assert sign_in(client).status_code == 200


def test_only_the_latest_deletion_link_works(
    client, ada, bearer, django_capture_on_commit_callbacks
):
    first = _request_deletion(client, ada, bearer, django_capture_on_commit_callbacks)
    second = _request_deletion(client, ada, bearer, django_capture_on_commit_callbacks)
    assert_problem(post(client, "auth/delete/confirm/", {"token": first}), 400, "token_invalid")
    assert AccountDeletion.objects.filter(user_id=ada.id).count() == 1
    assert post(client, "auth/delete/confirm/", {"token": second}).status_code == 204


def test_another_users_token_deletes_only_that_user(
    client, ada, make_user, bearer, django_capture_on_commit_callbacks
):
    bob = make_user(email="bob@example.com")
    bobs_token = _request_deletion(client, bob, bearer, django_capture_on_commit_callbacks)
    assert post(client, "auth/delete/confirm/", {"token": bobs_token}).status_code == 204
    ada.refresh_from_db()
    bob.refresh_from_db()
    assert ada.is_active
    assert ada.email == "ada@example.com"
    assert not bob.is_active
    # A token for deletion is not a reactivation token, nor the other way round.
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "me/pause/", **bearer(ada))
    reactivation = link_token(mail.outbox[-1])
    assert_problem(
        post(client, "auth/delete/confirm/", {"token": reactivation}), 400, "token_invalid"
    )
    ada.refresh_from_db()
    assert ada.is_active


def test_a_deletion_token_does_not_work_on_another_shop(
    client, ada, bearer, settings, django_capture_on_commit_callbacks
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "b.shop.test"]
    TenantDomainFactory(domain="b.shop.test")
    token = _request_deletion(client, ada, bearer, django_capture_on_commit_callbacks)
    response = client.post(
        f"{API}/auth/delete/confirm/",
        {"token": token},
        content_type="application/json",
        HTTP_HOST="b.shop.test",
    )
    assert_problem(response, 400, "token_invalid")
    ada.refresh_from_db()
    assert ada.is_active


def test_registered_anonymisers_run_before_the_user_is_anonymised(
    client, ada, bearer, django_capture_on_commit_callbacks
):
    seen = []
    services_lifecycle.account_anonymiser_register("test_orders", lambda u: seen.append(u.email))
    try:
        token = _request_deletion(client, ada, bearer, django_capture_on_commit_callbacks)
        assert post(client, "auth/delete/confirm/", {"token": token}).status_code == 204
    finally:
        services_lifecycle._anonymisers.pop("test_orders")
    assert seen == ["ada@example.com"]


def test_a_failing_anonymiser_deletes_nothing(
    client, ada, bearer, django_capture_on_commit_callbacks
):
    def broken(user):
        raise RuntimeError("orders unavailable")

    services_lifecycle.account_anonymiser_register("test_broken", broken)
    token = _request_deletion(client, ada, bearer, django_capture_on_commit_callbacks)
    client.raise_request_exception = False
    try:
        response = post(client, "auth/delete/confirm/", {"token": token})
    finally:
        services_lifecycle._anonymisers.pop("test_broken")
    assert response.status_code == 500
    ada.refresh_from_db()
    assert ada.is_active
    assert ada.email == "ada@example.com"
    # The token was not used up: the user can try again once the fault is fixed.
    assert post(client, "auth/delete/confirm/", {"token": token}).status_code == 204
