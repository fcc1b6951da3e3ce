"""The one validated view of the process environment (DESIGN.md section 4).

Layers: field defaults (base) <- the `EMPORIUM_ENV` profile's defaults <- environment variables.
`load_environment()` validates everything at once and raises `ConfigurationError` with a single
message that names every bad variable and why.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

BASE_DIR = Path(__file__).resolve().parents[1]

Profile = Literal["dev", "test", "staging", "production"]
PROFILES: tuple[Profile, ...] = ("dev", "test", "staging", "production")
INSECURE_SECRET_KEY = "django-insecure-emporium-dev-only-never-use-this-key-in-production-0000"  # noqa: S105 (the dev-only default that staging/production refuse)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

# Profile defaults sit between the field defaults and the environment variables.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "debug": True,
        "log_format": "console",
        # Any local front-end dev server may call the API in dev.
        "cors_allowed_origin_regexes": [r"^https?://(localhost|127\.0\.0\.1)(:\d+)?$"],
    },
    "test": {
        "debug": False,
        "log_format": "console",
        "log_level": "WARNING",
        "var_dir": BASE_DIR / "var" / "test",
        # Tests create and roll back shops and domains; each request must see the database.
        "tenant_cache_seconds": 0,
    },
    "staging": {"log_format": "json", "tenant_trusted_networks": "", "hsts_enabled": True},
    "production": {"log_format": "json", "tenant_trusted_networks": "", "hsts_enabled": True},
}

DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}
REDIS_SCHEMES = {"redis", "rediss", "unix"}
BROKER_SCHEMES = {"amqp", "amqps", "pyamqp", "redis", "rediss", "filesystem"}
EMAIL_SCHEMES = {"smtp", "smtp+tls", "smtp+ssl", "console", "file"}


_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


class ConfigurationError(ImproperlyConfigured):
    """Raised at startup when the environment is invalid; `problems` maps variable -> reason."""

    def __init__(self, profile: str, problems: dict[str, str]) -> None:
        self.problems = problems
        lines = [f"  - {name}: {reason}" for name, reason in sorted(problems.items())]
        super().__init__(
            f"Invalid configuration for EMPORIUM_ENV={profile} "
            f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n" + "\n".join(lines)
        )


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _require_scheme(value: str | None, schemes: set[str], what: str) -> str | None:
    if value is None or value == "":
        return None
    scheme = urlsplit(value).scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ValueError(f"{what} URL must use one of the schemes {allowed}; got {scheme!r}")
    return value


class EnvironmentSettings(BaseSettings):
    """Every environment variable Emporium reads; the field name upper-cased is the variable."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, frozen=True)

    emporium_env: Profile = "dev"
    debug: bool = False
    secret_key: SecretStr = SecretStr(INSECURE_SECRET_KEY)
    allowed_hosts: Annotated[list[str], NoDecode] = ["localhost", "127.0.0.1", "[::1]"]
    var_dir: Path = BASE_DIR / "var"

    database_url: str | None = None
    database_conn_max_age: int = Field(default=60, ge=0)
    # The hottest reads use server-side prepared statements (off for poolers before PgBouncer 1.21).
    database_prepared_statements: bool = True
    redis_url: str | None = None
    broker_url: str | None = None
    mongodb_uri: str | None = None
    mongodb_db: str = "emporium"
    search_backend: Literal["database", "elasticsearch"] = "database"
    elasticsearch_url: str | None = None
    email_url: str | None = None
    # S3-compatible object storage for product images and private files; off when unset.
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_public_base_url: str | None = None
    s3_signed_url_ttl: int = Field(default=900, gt=0, le=604_800)
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    # Megabytes of cached pages each web process also keeps in memory (Redis only; 0: off).
    response_cache_memory_mb: int = Field(default=64, ge=0)
    # CSV imports above this many bytes run as a background job.
    catalog_import_sync_max_bytes: int = Field(default=1_000_000, gt=0)
    default_from_email: str = "Emporium <no-reply@localhost>"
    # Stripe: the secret API key, the webhook endpoint's signing secret, and (for a local
    # Stripe-compatible server) the API base URL. Both secrets are required outside dev/test.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None
    stripe_webhook_tolerance_seconds: int = Field(default=300, gt=0, le=3600)
    # Carts untouched this long are purged; orders unpaid this long are cancelled.
    cart_retention_days: int = Field(default=30, gt=0)
    order_payment_timeout_minutes: int = Field(default=30, gt=0)

    log_level: LogLevel = "INFO"
    log_levels: Annotated[dict[str, LogLevel], NoDecode] = {}
    log_format: Literal["console", "json"] = "console"
    security_log_file: Path | None = None

    tenant_trusted_networks: Annotated[list[IPNetwork], NoDecode] = [
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    ]
    tenant_strict_hosts: bool = False
    # How long each process remembers which shop a host belongs to (0: ask the database on
    # every request). Changes made in the same process apply at once.
    tenant_cache_seconds: int = Field(default=30, ge=0, le=3600)

    trusted_proxy_networks: Annotated[list[IPNetwork], NoDecode] = []

    cors_allowed_origins: Annotated[list[str], NoDecode] = []
    cors_allowed_origin_regexes: Annotated[list[str], NoDecode] = []
    cors_allow_credentials: bool = False
    cors_preflight_max_age: int = Field(default=86400, ge=0)

    hsts_enabled: bool = False
    hsts_seconds: int = Field(default=31_536_000, ge=31_536_000)
    hsts_preload: bool = True

    security_txt_contact: str = "mailto:security@example.com"
    security_txt_policy: str | None = None
    security_txt_languages: str = "en, de, es"
    security_txt_expires_days: int = Field(default=180, gt=0, le=365)
    sitemap_url: str | None = None

    jwt_signing_key: SecretStr | None = None
    jwt_access_lifetime_seconds: int = Field(default=300, gt=0, le=86_400)
    jwt_refresh_lifetime_seconds: int = Field(default=14 * 86_400, gt=0)
    frontend_url: str = "http://127.0.0.1:8000"

    rate_limits: Annotated[dict[str, str], NoDecode] = {}
    idempotency_ttl_seconds: int = Field(default=86_400, gt=0)
    gzip_min_bytes: int = Field(default=1024, ge=0)
    request_max_decompressed_bytes: int = Field(default=10 * 1024 * 1024, gt=0)

    celery_task_soft_time_limit: int = Field(default=300, gt=0)
    celery_task_time_limit: int = Field(default=360, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables win over the profile defaults passed as init arguments.
        return env_settings, init_settings

    @field_validator(
        "allowed_hosts",
        "tenant_trusted_networks",
        "trusted_proxy_networks",
        "cors_allowed_origins",
        "cors_allowed_origin_regexes",
        mode="before",
    )
    @classmethod
    def _csv_list(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("log_levels", mode="before")
    @classmethod
    def _logger_levels(cls, value: Any) -> Any:
        """`LOG_LEVELS=django.db.backends=DEBUG,celery=WARNING` -> {logger: level}."""
        if not isinstance(value, str):
            return value
        levels: dict[str, str] = {}
        for item in _split_csv(value):
            logger, sep, level = item.partition("=")
            if not sep or not logger.strip():
                raise ValueError(f"expected logger=LEVEL pairs separated by commas; got {item!r}")
            levels[logger.strip()] = level.strip().upper()
        return levels

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _rate_limits(cls, value: Any) -> Any:
        """`RATE_LIMITS=login=5/min,anon=100/min` -> {scope: rate}."""
        if not isinstance(value, str):
            return value
        rates: dict[str, str] = {}
        for item in _split_csv(value):
            scope, sep, rate = item.partition("=")
            if not sep or not _RATE.match(rate.strip()):
                raise ValueError(
                    f"expected scope=N/period (period: sec, min, hour, day); got {item!r}"
                )
            rates[scope.strip()] = rate.strip()
        return rates

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(
                    f"an origin is scheme://host[:port] without a path; got {origin!r}"
                )
        return value

    @field_validator("cors_allowed_origin_regexes")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from exc
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("secret_key")
    @classmethod
    def _secret_key_for_profile(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if info.data.get("emporium_env") in ("staging", "production"):
            secret = value.get_secret_value()
            if secret == INSECURE_SECRET_KEY or not secret:
                raise ValueError("required outside dev/test: set a random value")
            if len(secret) < 50 or len(set(secret)) < 5:
                raise ValueError("too weak: use at least 50 random characters")
        return value

    @field_validator("debug")
    @classmethod
    def _no_debug_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("emporium_env") == "production":
            raise ValueError("must be off in production")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = _require_scheme(value, DATABASE_SCHEMES, "database")
        if info.data.get("emporium_env") == "production" and (
            value is None or urlsplit(value).scheme == "sqlite"
        ):
            raise ValueError("production needs PostgreSQL (postgresql://...), not SQLite")
        if value is not None:
            import dj_database_url

            try:
                dj_database_url.parse(value)
            except ValueError as exc:
                raise ValueError(f"not a valid database URL: {exc}") from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _require_scheme(value, REDIS_SCHEMES, "Redis")

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        return _require_scheme(value, BROKER_SCHEMES, "broker")

    @field_validator("mongodb_uri")
    @classmethod
    def _mongodb_uri(cls, value: str | None) -> str | None:
        return _require_scheme(value, {"mongodb", "mongodb+srv"}, "MongoDB")

    @field_validator("elasticsearch_url")
    @classmethod
    def _elasticsearch_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = _require_scheme(value, {"http", "https"}, "Elasticsearch")
        if value is None and info.data.get("search_backend") == "elasticsearch":
            raise ValueError("required when SEARCH_BACKEND=elasticsearch")
        return value

    @field_validator("s3_endpoint_url", "s3_public_base_url")
    @classmethod
    def _s3_urls(cls, value: str | None) -> str | None:
        return _require_scheme(value, {"http", "https"}, "S3")

    @field_validator("stripe_secret_key", "stripe_webhook_secret")
    @classmethod
    def _stripe_secrets(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("emporium_env") in ("staging", "production") and (
            value is None or not value.get_secret_value()
        ):
            raise ValueError("required outside dev/test")
        return value

    @field_validator("stripe_api_base")
    @classmethod
    def _stripe_api_base(cls, value: str | None) -> str | None:
        return _require_scheme(value, {"http", "https"}, "Stripe API")

    @field_validator("email_url")
    @classmethod
    def _email_url(cls, value: str | None) -> str | None:
        value = _require_scheme(value, EMAIL_SCHEMES, "email")
        if value and urlsplit(value).scheme.startswith("smtp") and not urlsplit(value).hostname:
            raise ValueError("an SMTP URL needs a host: smtp://user:password@host:587")
        return value


def _profile_from(environ: Mapping[str, str]) -> str:
    return environ.get("EMPORIUM_ENV", "dev").strip().lower() or "dev"


def load_environment() -> EnvironmentSettings:
    """Validate the process environment and return the settings, or raise one error."""
    profile = _profile_from(os.environ)
    try:
        return EnvironmentSettings(**PROFILE_DEFAULTS.get(profile, {}))
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "ENVIRONMENT"
            message = error["msg"].removeprefix("Value error, ")
            problems[name] = f"{message} (got {_shown(name, os.environ)})"
        raise ConfigurationError(profile, problems) from None


def _shown(name: str, environ: Mapping[str, str]) -> str:
    """How a bad value appears in the message: secrets and credentials are never echoed."""
    if name not in environ:
        return "unset"
    raw = environ[name]
    if name in {"SECRET_KEY"} or "PASSWORD" in name:
        return "a value that is hidden"
    parts = urlsplit(raw)
    if parts.password:
        raw = raw.replace(f":{parts.password}@", ":***@")
    return repr(raw)
