"""Password change and reset, brute-force lockout and the security log, through HTTP."""

import io
import json
import logging
import re

import pytest
from django.core import mail

from conftest import TEST_PASSWORD
from emporium.accounts import lockout
from emporium.accounts.models import User
from emporium.core.logging import build_formatter

pytestmark = pytest.mark.django_db
API = "/api/v1/auth"
NEW_PASSWORD = "an-even-longer-new-passphrase-99"


@pytest.fixture(autouse=True)
def _eager(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def security_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(build_formatter("json"))
    logger = logging.getLogger("emporium.security")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def _post(client, path, data, **extra):
    return client.post(f"{API}/{path}", data, content_type="application/json", **extra)


def _sign_in(client, password=TEST_PASSWORD, email="ada@example.com", **extra):
    return _post(client, "token/", {"email": email, "password": password}, **extra)


def test_password_change_revokes_every_token_at_once(client, make_user, security_log):
    make_user()
    old = _sign_in(client).json()
    other_device = _sign_in(client).json()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {old['access']}"}
    wrong = _post(
        client,
        "password/change/",
        {"current_password": "nope-nope-nope", "new_password": NEW_PASSWORD},
        **headers,
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "wrong_password"
    weak = _post(
        client,
        "password/change/",
        {"current_password": TEST_PASSWORD, "new_password": "12345"},
        **headers,
    )
    assert weak.status_code == 400
    assert weak.json()["errors"][0]["field"] == "new_password"

    changed = _post(
        client,
        "password/change/",
        {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
        **headers,
    )
    assert changed.status_code == 200
    fresh = changed.json()

    stale = client.get("/api/v1/rate-limits/", **headers)
    assert stale.status_code == 401
    assert stale.json()["code"] == "token_revoked"
    for refresh in (old["refresh"], other_device["refresh"]):
        assert _post(client, "token/refresh/", {"refresh": refresh}).status_code == 401
    assert (
        client.get(
            "/api/v1/rate-limits/", HTTP_AUTHORIZATION=f"Bearer {fresh['access']}"
        ).status_code
        == 200
    )
    assert _post(client, "token/refresh/", {"refresh": fresh["refresh"]}).status_code == 200
    assert _sign_in(client, password=NEW_PASSWORD).status_code == 200

    events = [line["event"] for line in security_log()]
    assert "password_changed" in events
    assert "tokens_revoked" in events
    text = json.dumps(security_log())
    assert TEST_PASSWORD not in text
    assert NEW_PASSWORD not in text


def test_password_change_needs_authentication(client):
    response = _post(
        client, "password/change/", {"current_password": "x", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 401


def test_password_reset_flow(client, make_user, django_capture_on_commit_callbacks):
    user = make_user(email_verified_at=None)
    old_refresh = None
    with django_capture_on_commit_callbacks(execute=True):
        known = _post(client, "password/reset/", {"email": "ADA@example.com"})
        unknown = _post(client, "password/reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert len(mail.outbox) == 1
    token = re.search(r"token=([\w-]+)", mail.outbox[0].body).group(1)

    weak = _post(client, "password/reset/confirm/", {"token": token, "new_password": "123"})
    assert weak.status_code == 400
    # A weak password does not use up the token.
    ok = _post(client, "password/reset/confirm/", {"token": token, "new_password": NEW_PASSWORD})
    assert ok.status_code == 204
    reused = _post(
        client, "password/reset/confirm/", {"token": token, "new_password": NEW_PASSWORD}
    )
    assert reused.json()["code"] == "token_invalid"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert user.is_email_verified
    assert user.token_version == 1
    assert old_refresh is None


def test_lockout_after_repeated_failures_then_recovery(client, make_user, settings, monkeypatch):
    settings.LOGIN_LOCKOUT_THRESHOLD = 3
    settings.LOGIN_LOCKOUT_BASE_SECONDS = 60
    make_user()
    now = [1_000_000.0]
    monkeypatch.setattr(lockout, "now", lambda: now[0])
    for _ in range(3):
        assert _sign_in(client, password="wrong-wrong-wrong").status_code == 401
    locked = _sign_in(client)  # even the right password is refused while locked
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert 0 < int(locked["Retry-After"]) <= 61

    now[0] += 62
    # Another failure after the cool-down doubles it.
    assert _sign_in(client, password="wrong-wrong-wrong").status_code == 401
    again = _sign_in(client)
    assert again.status_code == 429
    assert 61 < int(again["Retry-After"]) <= 121

    now[0] += 122
    assert _sign_in(client).status_code == 200
    # Success reset the count: one more failure does not lock.
    assert _sign_in(client, password="wrong-wrong-wrong").status_code == 401
    assert _sign_in(client).status_code == 200


def test_lockout_also_covers_unknown_emails(client, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    for _ in range(2):
        assert _sign_in(client, email="ghost@example.com").status_code == 401
    assert _sign_in(client, email="ghost@example.com").status_code == 429


def test_lockout_is_per_account(client, make_user, settings):
    settings.LOGIN_LOCKOUT_THRESHOLD = 2
    make_user()
    make_user(email="grace@example.com")
    for _ in range(2):
        _sign_in(client, password="wrong-wrong-wrong")
    assert _sign_in(client).status_code == 429
    assert _sign_in(client, email="grace@example.com").status_code == 200


def test_sign_in_events_are_in_the_security_log(client, make_user, security_log):
    make_user()
    _sign_in(client, password="wrong-wrong-wrong", REMOTE_ADDR="203.0.113.7")
    _sign_in(client, HTTP_X_REQUEST_ID="req-login-0001")
    lines = security_log()
    failed = next(line for line in lines if line["event"] == "login_failed")
    assert failed["ip"] == "203.0.113.7"
    succeeded = next(line for line in lines if line["event"] == "login_succeeded")
    assert succeeded["request_id"] == "req-login-0001"
    assert succeeded["user_id"] == str(User.objects.get().id)
    assert TEST_PASSWORD not in json.dumps(lines)
    assert "ada@example.com" not in json.dumps(lines)


def test_sign_ins_are_recorded_in_the_login_history(client, make_user):
    from emporium.accounts.models import LoginEvent

    user = make_user()
    _sign_in(client, password="wrong-wrong-wrong", REMOTE_ADDR="203.0.113.9")
    _sign_in(client, HTTP_USER_AGENT="Shop/1.0 " + "x" * 400)
    _sign_in(client, email="nobody@example.com")
    events = list(LoginEvent.objects.order_by("created_at"))
    assert [(e.user_id, e.succeeded) for e in events] == [(user.id, False), (user.id, True)]
    assert events[0].ip_address == "203.0.113.9"
    assert len(events[1].user_agent) == 256
