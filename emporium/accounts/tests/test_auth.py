"""Sign-up, email verification and JWT sign-in, refresh and sign-out, through HTTP."""

import re

import pytest
from django.core import mail
from django.utils import timezone

from conftest import TEST_PASSWORD
from emporium.accounts.models import AccountToken, User
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db
API = "/api/v1/auth"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _eager_mail(settings):
    """Celery tasks run in-process here; the real worker is covered in tests/."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def _post(client, path, data, **extra):
    return client.post(f"{API}/{path}", data, content_type="application/json", **extra)


def _link_token(message):
    return re.search(r"token=([\w-]+)", message.body).group(1)


def _register(client, email="ada@example.com", **extra):
    return _post(
        client, "register/", {"email": email, "password": PASSWORD, "first_name": "Ada", **extra}
    )


def test_register_verify_and_sign_in(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _register(client)
    assert response.status_code == 201, response.content
    assert response.json()["email_verified"] is False
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]
    token = _link_token(mail.outbox[0])
    assert not AccountToken.objects.filter(token_hash=token).exists()  # only the hash is kept

    refused = _post(client, "token/", {"email": "ada@example.com", "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["code"] == "email_not_verified"

    assert _post(client, "verify-email/", {"token": token}).status_code == 204
    again = _post(client, "verify-email/", {"token": token})
    assert again.status_code == 400
    assert again.json()["code"] == "token_invalid"

    signed_in = _post(client, "token/", {"email": "ADA@example.com", "password": PASSWORD})
    assert signed_in.status_code == 200
    tokens = signed_in.json()
    me = client.get("/api/v1/rate-limits/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert me.status_code == 200


def test_registration_validates_password_and_duplicates(client):
    weak = _post(client, "register/", {"email": "bob@example.com", "password": "short"})
    assert weak.status_code == 400
    assert weak.json()["errors"][0]["field"] == "password"
    similar = _post(
        client,
        "register/",
        {"email": "margaret.hamilton@example.com", "password": "margaret.hamilton"},
    )
    assert similar.status_code == 400
    _register(client, email="bob@example.com")
    taken = _register(client, email="BOB@example.com")
    assert taken.status_code == 400
    assert taken.json()["code"] == "email_taken"
    assert User.objects.filter(email__iexact="bob@example.com").count() == 1


def test_expired_or_unknown_verification_token(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _register(client)
    token = _link_token(mail.outbox[0])
    AccountToken.objects.update(expires_at=timezone.now())
    assert _post(client, "verify-email/", {"token": token}).json()["code"] == "token_invalid"
    assert _post(client, "verify-email/", {"token": "nope"}).json()["code"] == "token_invalid"
    assert User.objects.get().email_verified_at is None


def test_resend_never_reveals_whether_an_email_exists(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _register(client)
    first = _link_token(mail.outbox[0])
    with django_capture_on_commit_callbacks(execute=True):
        known = _post(client, "resend-verification/", {"email": "ada@example.com"})
        unknown = _post(client, "resend-verification/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert len(mail.outbox) == 2
    second = _link_token(mail.outbox[1])
    # Only the latest link works.
    assert _post(client, "verify-email/", {"token": first}).status_code == 400
    assert _post(client, "verify-email/", {"token": second}).status_code == 204


def test_wrong_password_and_unknown_email_look_the_same(client, make_user):
    make_user()
    wrong = _post(client, "token/", {"email": "ada@example.com", "password": "nope-nope-nope"})
    unknown = _post(client, "token/", {"email": "eve@example.com", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"


def test_refresh_rotates_and_blacklists_the_old_token(client, make_user):
    make_user()
    tokens = _post(client, "token/", {"email": "ada@example.com", "password": TEST_PASSWORD}).json()
    rotated = _post(client, "token/refresh/", {"refresh": tokens["refresh"]})
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != tokens["refresh"]
    reused = _post(client, "token/refresh/", {"refresh": tokens["refresh"]})
    assert reused.status_code == 401
    assert reused.json()["code"] == "token_revoked"
    assert _post(client, "token/refresh/", {"refresh": "garbage"}).status_code == 401


def test_logout_blacklists_the_refresh_token(client, make_user):
    make_user()
    tokens = _post(client, "token/", {"email": "ada@example.com", "password": TEST_PASSWORD}).json()
    assert _post(client, "logout/", {"refresh": tokens["refresh"]}).status_code == 204
    assert _post(client, "token/refresh/", {"refresh": tokens["refresh"]}).status_code == 401


def test_tokens_are_bound_to_their_shop(client, make_user, bearer, settings):
    settings.ALLOWED_HOSTS = ["other.shop.test", "testserver"]
    TenantDomainFactory(domain="other.shop.test")
    user = make_user()
    headers = bearer(user)
    assert client.get("/api/v1/rate-limits/", **headers).status_code == 200
    elsewhere = client.get("/api/v1/rate-limits/", HTTP_HOST="other.shop.test", **headers)
    assert elsewhere.status_code == 401
    assert elsewhere.json()["code"] == "token_revoked"


def test_revocation_is_immediate(client, make_user, bearer):
    from emporium.accounts.services import user_tokens_revoke

    user = make_user()
    headers = bearer(user)
    assert client.get("/api/v1/rate-limits/", **headers).status_code == 200
    user_tokens_revoke(user=user, reason="test")
    response = client.get("/api/v1/rate-limits/", **headers)
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


def test_paused_account_is_refused(client, make_user, bearer):
    user = make_user()
    headers = bearer(user)
    user.paused_at = timezone.now()
    user.save()
    response = client.get("/api/v1/rate-limits/", **headers)
    assert response.status_code == 403
    assert response.json()["code"] == "account_paused"
    login = _post(client, "token/", {"email": "ada@example.com", "password": TEST_PASSWORD})
    assert login.json()["code"] == "account_paused"


def test_warm_authenticated_request_costs_no_user_query(client, make_user, bearer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = bearer(make_user())
    client.get("/api/v1/rate-limits/", **headers)  # warms the cache
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/rate-limits/", **headers).status_code == 200
    assert not [q for q in queries if "accounts_user" in q["sql"]]


def test_customers_of_other_shops_are_separate(client, make_user):
    other = TenantDomainFactory().tenant
    make_user()
    with tenant_context(other.id):
        User.objects.create_user("ada@example.com", "another-long-passphrase-7")
    assert User.unscoped.filter(email="ada@example.com").count() == 2


def test_purge_expired_tokens(make_user):
    from django.core.management import call_command

    from emporium.accounts.services import account_token_issue

    user = make_user()
    account_token_issue(user=user, purpose="password_reset")
    account_token_issue(user=user, purpose="verify_email")
    AccountToken.objects.filter(purpose="password_reset").update(expires_at=timezone.now())
    call_command("purge_expired_tokens")
    assert list(AccountToken.objects.values_list("purpose", flat=True)) == ["verify_email"]


def test_account_emails_use_the_users_language(make_user):
    from emporium.accounts.tasks import send_password_reset_email

    user = make_user(locale="de")
    send_password_reset_email(str(user.id))
    assert mail.outbox[0].subject == "Passwort zurücksetzen"
    assert "/reset-password?token=" in mail.outbox[0].body
    assert "innerhalb einer Stunde" in mail.outbox[0].body
