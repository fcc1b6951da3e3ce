"""The environment loader: defaults per profile, validation, and one error naming every problem."""

import subprocess
import sys
from pathlib import Path

import pytest

from config.environment import ConfigurationError, load_environment

ROOT = Path(__file__).resolve().parents[3]
STRONG_KEY = "k3y-" + "".join(chr(ord("a") + i % 26) for i in range(60))


@pytest.fixture
def env(monkeypatch):
    """A clean slate: only the variables a test sets."""
    for name in (
        "EMPORIUM_ENV",
        "DEBUG",
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "BROKER_URL",
        "LOG_LEVEL",
        "LOG_LEVELS",
        "LOG_FORMAT",
        "EMAIL_URL",
        "SEARCH_BACKEND",
        "ELASTICSEARCH_URL",
        "MONGODB_URI",
        "ALLOWED_HOSTS",
        "TENANT_TRUSTED_NETWORKS",
        "VAR_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_dev_defaults_need_nothing(env):
    settings = load_environment()
    assert settings.emporium_env == "dev"
    assert settings.debug is True
    assert settings.database_url is None
    assert settings.log_format == "console"


def test_debug_is_off_outside_dev_by_default(env):
    env.setenv("EMPORIUM_ENV", "test")
    assert load_environment().debug is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("yes", True), ("on", True), ("0", False), ("off", False)],
)
def test_debug_parsing(env, raw, expected):
    env.setenv("DEBUG", raw)
    assert load_environment().debug is expected


def test_unparseable_debug_is_named(env):
    env.setenv("DEBUG", "maybe")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"DEBUG"}
    assert "DEBUG" in str(caught.value)
    assert "'maybe'" in str(caught.value)


def test_bad_database_url_is_named(env):
    env.setenv("DATABASE_URL", "mysql://user@db/shop")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert "DATABASE_URL" in caught.value.problems
    assert "mysql" in caught.value.problems["DATABASE_URL"]


def test_bad_redis_and_broker_urls_are_named_together(env):
    env.setenv("REDIS_URL", "http://127.0.0.1:6379")
    env.setenv("BROKER_URL", "kafka://127.0.0.1")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"REDIS_URL", "BROKER_URL"}


def test_production_refuses_missing_secret_debug_and_sqlite_in_one_message(env):
    env.setenv("EMPORIUM_ENV", "production")
    env.setenv("DEBUG", "true")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {
        "SECRET_KEY",
        "DEBUG",
        "DATABASE_URL",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
    }
    message = str(caught.value)
    assert "EMPORIUM_ENV=production" in message
    assert "5 problems" in message


def _stripe(env):
    env.setenv("STRIPE_SECRET_KEY", "sk_live_from_the_environment")
    env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_from_the_environment")


def test_production_refuses_sqlite_url(env):
    env.setenv("EMPORIUM_ENV", "production")
    _stripe(env)
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("DATABASE_URL", "sqlite:////tmp/shop.sqlite3")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"DATABASE_URL"}


def test_production_refuses_weak_secret_and_never_echoes_it(env):
    env.setenv("EMPORIUM_ENV", "production")
    _stripe(env)
    env.setenv("SECRET_KEY", "short-secret")
    env.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/app")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"SECRET_KEY"}
    assert "short-secret" not in str(caught.value)


def test_production_with_everything_set_loads(env):
    env.setenv("EMPORIUM_ENV", "production")
    _stripe(env)
    env.setenv("SECRET_KEY", STRONG_KEY)
    env.setenv("DATABASE_URL", "postgresql://app:s3cret@db:5432/app")
    settings = load_environment()
    assert settings.debug is False
    assert settings.log_format == "json"
    assert settings.tenant_trusted_networks == []


def test_credentials_in_bad_urls_are_masked(env):
    env.setenv("BROKER_URL", "kafka://user:hunter2@broker:9092")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert "hunter2" not in str(caught.value)


def test_unknown_profile_is_named(env):
    env.setenv("EMPORIUM_ENV", "qa")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"EMPORIUM_ENV"}


def test_log_levels_per_logger(env):
    env.setenv("LOG_LEVEL", "warning")
    env.setenv("LOG_LEVELS", "django.db.backends=debug, celery=ERROR")
    settings = load_environment()
    assert settings.log_level == "WARNING"
    assert settings.log_levels == {"django.db.backends": "DEBUG", "celery": "ERROR"}


@pytest.mark.parametrize("raw", ["celery", "=DEBUG", "celery=LOUD"])
def test_bad_log_levels_are_named(env, raw):
    env.setenv("LOG_LEVELS", raw)
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert "LOG_LEVELS" in caught.value.problems


def test_elasticsearch_backend_needs_its_url(env):
    env.setenv("SEARCH_BACKEND", "elasticsearch")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"ELASTICSEARCH_URL"}


def test_smtp_url_needs_a_host(env):
    env.setenv("EMAIL_URL", "smtp://")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"EMAIL_URL"}


def test_trusted_networks_are_parsed(env):
    env.setenv("TENANT_TRUSTED_NETWORKS", "10.0.0.0/8, 192.168.1.1/32")
    assert [str(n) for n in load_environment().tenant_trusted_networks] == [
        "10.0.0.0/8",
        "192.168.1.1/32",
    ]
    env.setenv("TENANT_TRUSTED_NETWORKS", "not-a-network")
    with pytest.raises(ConfigurationError) as caught:
        load_environment()
    assert set(caught.value.problems) == {"TENANT_TRUSTED_NETWORKS"}


def test_manage_py_stops_with_one_message(tmp_path):
    """Startup fails fast, before Django starts, with the readable message and exit status 1."""
    environ = {
        "PATH": "/usr/bin:/bin",
        "EMPORIUM_ENV": "production",
        "DATABASE_URL": "sqlite:///x.db",
        "DEBUG": "yes",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for name in ("SECRET_KEY", "DEBUG", "DATABASE_URL"):
        assert name in result.stderr
