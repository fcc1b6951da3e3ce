"""The daily retention purge, with frozen time: each data class goes exactly when due."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.files.storage import default_storage
from django.utils import timezone
from freezegun import freeze_time

from emporium.accounts.models import AccountToken, DataExport, User
from emporium.accounts.retention import PURGERS, retention_purge, retention_purger_register
from emporium.accounts.services import account_token_issue
from emporium.accounts.tasks_exports import retention_purge as retention_purge_task
from emporium.core.context import tenant_context
from tests.factories import TenantDomainFactory

pytestmark = pytest.mark.django_db

START = "2030-01-01T12:00:00Z"
EXPORTS = "/api/v1/me/exports/"


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


def unverified(email):
    return User.objects.create_user(email, "a-long-passphrase-42")


def exists(user):
    return User.unscoped.filter(id=user.id).exists()


def test_unverified_accounts_are_deleted_after_30_days_and_no_sooner(make_user):
    with freeze_time(START) as frozen:
        old = unverified("old@example.com")
        verified = make_user(email="verified@example.com")
        staff = User.objects.create_user("staff@example.com", "a-long-passphrase-42", is_staff=True)
        frozen.tick(timedelta(days=10))
        recent = unverified("recent@example.com")

        frozen.tick(timedelta(days=20) - timedelta(seconds=1))  # old is 30 days minus 1 s
        assert retention_purge()["unverified_accounts"] == 0
        assert exists(old)

        frozen.tick(timedelta(seconds=1))
        assert retention_purge()["unverified_accounts"] == 1
        assert not exists(old)
        assert exists(recent)

        frozen.tick(timedelta(days=10))
        assert retention_purge()["unverified_accounts"] == 1
        assert not exists(recent)

        frozen.tick(timedelta(days=3650))
        assert retention_purge()["unverified_accounts"] == 0
        assert exists(verified)
        assert exists(staff)


def test_unverified_accounts_of_every_shop_are_purged(settings):
    settings.ACCOUNT_RETENTION = {"unverified_accounts": timedelta(days=2)}
    with freeze_time(START) as frozen:
        mine = unverified("ada@example.com")
        shop = TenantDomainFactory(domain="other.shop.test").tenant
        with tenant_context(shop.id):
            theirs = unverified("ada@example.com")
        frozen.tick(timedelta(days=1))
        assert retention_purge()["unverified_accounts"] == 0
        frozen.tick(timedelta(days=1))
        # Runs with no shop in context, like the scheduled task.
        with tenant_context(None):
            assert retention_purge_task.delay().get()["unverified_accounts"] == 2
        assert not exists(mine)
        assert not exists(theirs)


def test_exports_and_their_files_are_deleted_after_7_days(
    client, bearer, make_user, media, django_capture_on_commit_callbacks
):
    with freeze_time(START) as frozen:
        ada = make_user(email="ada@example.com")
        frozen.tick(timedelta(days=1))  # the export is counted from when it is ready
        with django_capture_on_commit_callbacks(execute=True):
            export_id = client.post(EXPORTS, **bearer(ada)).json()["id"]
        path = DataExport.objects.get().file_path
        assert default_storage.exists(path)

        frozen.tick(timedelta(days=7) - timedelta(seconds=1))
        assert retention_purge()["exports"] == 0
        assert default_storage.exists(path)
        assert client.get(f"{EXPORTS}{export_id}/", **bearer(ada)).status_code == 200

        frozen.tick(timedelta(seconds=1))
        assert retention_purge()["exports"] == 1
        assert not default_storage.exists(path)
        assert not DataExport.objects.exists()
        assert not list(media.rglob("*.json"))
        assert client.get(f"{EXPORTS}{export_id}/", **bearer(ada)).status_code == 404
        assert retention_purge()["exports"] == 0  # nothing left on a second run
        assert exists(ada)


def test_export_that_never_finished_is_deleted_after_7_days(client, bearer, make_user):
    with freeze_time(START) as frozen:
        ada = make_user(email="ada@example.com")
        assert client.post(EXPORTS, **bearer(ada)).status_code == 202  # never built
        frozen.tick(timedelta(days=7) - timedelta(seconds=1))
        assert retention_purge()["exports"] == 0
        frozen.tick(timedelta(seconds=1))
        assert retention_purge()["exports"] == 1
        # The user may ask again: nothing is stuck pending.
        new = client.post(EXPORTS, **bearer(ada))
        assert new.status_code == 202
        assert DataExport.objects.count() == 1


def test_expired_one_time_tokens_are_purged_when_they_expire(make_user):
    with freeze_time(START) as frozen:
        user = unverified("ada@example.com")
        account_token_issue(user=user, purpose=AccountToken.Purpose.VERIFY_EMAIL)  # 3 days
        frozen.tick(timedelta(days=3) - timedelta(seconds=1))
        assert retention_purge()["expired_tokens"] == 0
        assert AccountToken.objects.count() == 1
        frozen.tick(timedelta(seconds=1))
        assert retention_purge()["expired_tokens"] == 1
        assert not AccountToken.objects.exists()


def test_expired_sessions_are_cleared():
    with freeze_time(START) as frozen:
        short = SessionStore()
        short.set_expiry(3600)
        short.create()
        long = SessionStore()
        long.set_expiry(7200)
        long.create()
        frozen.tick(timedelta(minutes=59))
        assert retention_purge()["sessions"] == 0
        frozen.tick(timedelta(minutes=2))
        assert retention_purge()["sessions"] == 1
        assert list(Session.objects.values_list("session_key", flat=True)) == [long.session_key]


def test_registered_purgers_get_their_cutoff(monkeypatch, settings):
    settings.ACCOUNT_RETENTION = {"deleted_accounts": timedelta(days=10)}
    monkeypatch.setattr("emporium.accounts.retention.PURGERS", dict(PURGERS))
    cutoffs = {}

    def purger(name, count):
        def purge(cutoff):
            cutoffs[name] = cutoff
            return count

        return purge

    retention_purger_register(data_class="login_history", purger=purger("login_history", 4))
    retention_purger_register(data_class="deleted_accounts", purger=purger("deleted", 2))
    with pytest.raises(ValueError, match="Unknown retention data class"):
        retention_purger_register(data_class="typo", purger=purger("typo", 0))

    with freeze_time(START):
        counts = retention_purge()
        now = timezone.now()
    assert counts["login_history"] == 4
    assert counts["deleted_accounts"] == 2
    assert cutoffs == {
        "login_history": now - timedelta(days=90),  # the default
        "deleted": now - timedelta(days=10),  # from settings
    }


def test_nothing_registered_means_nothing_purged():
    counts = retention_purge()
    assert counts == {
        "unverified_accounts": 0,
        "deleted_accounts": 0,
        "login_history": 0,
        "exports": 0,
        "expired_tokens": 0,
        "sessions": 0,
    }


def test_login_history_is_purged_after_its_retention(make_user):
    from datetime import timedelta

    from django.utils import timezone

    from emporium.accounts.models import LoginEvent
    from emporium.accounts.retention import retention_purge

    user = make_user()
    now = timezone.now()
    old = LoginEvent.objects.create(user=user, succeeded=True)
    LoginEvent.objects.filter(id=old.id).update(created_at=now - timedelta(days=91))
    recent = LoginEvent.objects.create(user=user, succeeded=False)
    result = retention_purge(now=now)
    assert result["login_history"] == 1
    assert list(LoginEvent.objects.values_list("id", flat=True)) == [recent.id]
