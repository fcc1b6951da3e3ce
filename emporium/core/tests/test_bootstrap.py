"""`manage.py bootstrap`, the first step of `make run`."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from emporium.accounts.models import User

pytestmark = pytest.mark.django_db


def _run(**options) -> str:
    out = io.StringIO()
    call_command("bootstrap", stdout=out, **options)
    return out.getvalue()


def test_creates_demo_admin_once_and_prints_credentials(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first = _run()
    saved = json.loads((tmp_path / "demo-admin.json").read_text())
    assert saved["email"] in first
    assert saved["password"] in first
    assert oct((tmp_path / "demo-admin.json").stat().st_mode & 0o777) == "0o600"
    admin = User.objects.get(email=saved["email"])
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(saved["password"])
    assert admin.is_email_verified

    second = _run()
    assert saved["password"] in second
    assert User.objects.filter(email=saved["email"]).count() == 1


def test_lost_credentials_file_resets_the_password(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    _run()
    old = json.loads((tmp_path / "demo-admin.json").read_text())["password"]
    (tmp_path / "demo-admin.json").unlink()
    _run()
    new = json.loads((tmp_path / "demo-admin.json").read_text())["password"]
    assert new != old
    assert User.objects.get(email="admin@example.com").check_password(new)


def test_no_admin_flag(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    output = _run(no_admin=True)
    assert "password" not in output
    assert not User.objects.filter(is_staff=True).exists()  # demo customers only


def test_refused_in_production(settings):
    settings.PROFILE = "production"
    with pytest.raises(CommandError):
        _run()
