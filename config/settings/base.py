"""Settings shared by every profile. Values derive from the validated environment only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from corsheaders.defaults import default_headers

from config import environment
from config.environment import EnvironmentSettings, load_environment

# Lets admin and form classes be subscripted at run time, as the type stubs require.
django_stubs_ext.monkeypatch()

ENV: EnvironmentSettings = load_environment()
PROFILE = ENV.emporium_env
BASE_DIR = environment.BASE_DIR
VAR_DIR: Path = ENV.var_dir
for _sub in ("", "media", "mail", "static", "celery/broker", "celery/processed", "celery/control"):
    (VAR_DIR / _sub).mkdir(parents=True, exist_ok=True)

DEBUG = ENV.debug
SECRET_KEY = ENV.secret_key.get_secret_value()
ALLOWED_HOSTS = ENV.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "rest_framework_simplejwt.token_blacklist",
    "emporium.core",
    "emporium.tenants",
    "emporium.accounts",
    "emporium.catalog",
    "emporium.inventory",
    "emporium.search",
    "emporium.pricing",
    "emporium.cart",
    "emporium.orders",
    "emporium.payments",
    "emporium.reviews",
]

MIDDLEWARE = [
    "emporium.core.middleware.RequestIDMiddleware",
    "emporium.core.middleware.AccessLogMiddleware",
    "emporium.core.ratelimit.RateLimitHeadersMiddleware",
    "emporium.core.security.SecurityHeadersMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "emporium.core.compression.GZipResponseMiddleware",
    "emporium.core.compression.RequestDecompressionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "emporium.tenants.middleware.TenantMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Above idempotency so replayed responses carry the current lifecycle headers.
    "emporium.api.versioning.DeprecationHeadersMiddleware",
    "emporium.core.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: a cached page is answered with every other middleware still around it.
    "emporium.core.response_cache.CachedPageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# --- Database: PostgreSQL when DATABASE_URL is set, SQLite (WAL) in var/ otherwise -----------
def _database(url: str | None) -> dict[str, Any]:
    if url is None:
        url = f"sqlite:///{VAR_DIR / 'emporium.sqlite3'}"
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=ENV.database_conn_max_age, conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # WAL lets the web server, worker and scheduler read while one of them writes.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        name = Path(str(config["NAME"]))
        config["TEST"] = {"NAME": str(name.with_name(f"test-{name.name}"))}
    else:
        config.setdefault("OPTIONS", {})["connect_timeout"] = 5
        if config["ENGINE"] == "django.db.backends.postgresql":
            # Django's backend, with a health check that costs no round trip per request.
            config["ENGINE"] = "emporium.core.postgresql"
    return config


DATABASES = {"default": _database(ENV.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["emporium.accounts.backends.TenantEmailBackend"]
# Emails are unique per tenant, not globally; TenantEmailBackend scopes the lookup (auth.W004).
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "first_name", "last_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


# The hottest catalog reads are prepared on PostgreSQL (emporium/core/postgresql/base.py).
DATABASE_PREPARED_STATEMENTS = ENV.database_prepared_statements


# --- Cache: Redis when REDIS_URL is set, a database table every local process shares otherwise --
if ENV.redis_url:
    CACHES = {
        "default": {
            "BACKEND": "emporium.core.cache_backends.RedisCache",
            "LOCATION": ENV.redis_url,
            "KEY_PREFIX": "emporium",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "emporium_cache",
            "KEY_PREFIX": "emporium",
        }
    }

# Anonymous pages each process also keeps in memory, on Redis only (emporium/core/page_memory.py).
RESPONSE_CACHE_MEMORY_BYTES = ENV.response_cache_memory_mb * 1024 * 1024


# --- Celery: RabbitMQ/Redis when BROKER_URL is set, a file-system transport in var/ otherwise ---
CELERY_BROKER_URL = ENV.broker_url or "filesystem://localhost/"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "celery" / "broker"),
        "data_folder_out": str(VAR_DIR / "celery" / "broker"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
    # The file-system transport has no fan-out exchange for remote control commands.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = ENV.celery_task_soft_time_limit
CELERY_TASK_TIME_LIMIT = ENV.celery_task_time_limit
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")
# Periodic jobs: later domains add entries here (name -> task, schedule in seconds or crontab).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "core.heartbeat": {"task": "core.heartbeat", "schedule": 60.0},
    "core.purge_idempotency_records": {
        "task": "core.purge_idempotency_records",
        "schedule": 3600.0,
    },
    "accounts.purge_expired_tokens": {
        "task": "accounts.purge_expired_tokens",
        "schedule": 86400.0,
    },
    # Also runs Django's clearsessions.
    "accounts.retention_purge": {"task": "accounts.retention_purge", "schedule": 86400.0},
    "cart.purge_inactive": {"task": "cart.purge_inactive", "schedule": 3600.0},
    "orders.expire_pending": {"task": "orders.expire_pending", "schedule": 60.0},
    # Recomputes every product's rating from the reviews and reports any drift it repaired.
    "reviews.reconcile": {"task": "reviews.reconcile", "schedule": crontab(hour=3, minute=30)},
    "core.relay_outbox": {"task": "core.relay_outbox", "schedule": 10.0},
}


# --- MongoDB and search: hooks for the reviews and search modules -----------------------------
MONGODB_URI = ENV.mongodb_uri
MONGODB_DB = ENV.mongodb_db
SEARCH_BACKEND = ENV.search_backend
ELASTICSEARCH_URL = ENV.elasticsearch_url
# One alias over every shop's products (queries filter by tenant); reindexing swaps it.
SEARCH_INDEX_ALIAS = "emporium-products"
# Lower bounds of the price facet's buckets.
SEARCH_PRICE_BUCKETS = (0, 10, 25, 50, 100, 250, 500, 1000)
# Below this many hits, substring matches and then corrected spellings are tried.
SEARCH_FUZZY_MIN_HITS = 3


# --- Email: SMTP when EMAIL_URL is set, files in var/mail (and a log line) otherwise -----------
def _email(url: str | None) -> dict[str, Any]:
    if url is None:
        return {
            "EMAIL_BACKEND": "emporium.core.mail.FileAndLogEmailBackend",
            "EMAIL_FILE_PATH": str(VAR_DIR / "mail"),
        }
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": parts.path,
        }
    query = parse_qs(parts.query)
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": parts.port or (465 if parts.scheme == "smtp+ssl" else 587),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": parts.scheme == "smtp+tls",
        "EMAIL_USE_SSL": parts.scheme == "smtp+ssl",
        "EMAIL_TIMEOUT": int(query.get("timeout", ["10"])[0]),
    }


globals().update(_email(ENV.email_url))
DEFAULT_FROM_EMAIL = ENV.default_from_email
SERVER_EMAIL = ENV.default_from_email


# --- Files -----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


# S3-compatible storage: product images are uploaded there by a task when a bucket is set.
S3_BUCKET = ENV.s3_bucket
S3_ENDPOINT_URL = ENV.s3_endpoint_url
S3_REGION = ENV.s3_region
S3_PUBLIC_BASE_URL = ENV.s3_public_base_url
S3_SIGNED_URL_TTL = ENV.s3_signed_url_ttl
AWS_ACCESS_KEY_ID = ENV.aws_access_key_id
AWS_SECRET_ACCESS_KEY = (
    ENV.aws_secret_access_key.get_secret_value() if ENV.aws_secret_access_key else None
)
CATALOG_IMPORT_SYNC_MAX_BYTES = ENV.catalog_import_sync_max_bytes
CATALOG_IMPORT_MAX_BYTES = 50_000_000
CATALOG_IMPORT_MAX_ROWS = 200_000
# Uploaded import files wait here for the worker: private, outside MEDIA_ROOT, never served.
CATALOG_IMPORT_ROOT = VAR_DIR / "imports"


# --- Internationalisation and time ----------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True


# --- Tenancy ---------------------------------------------------------------------------------
TENANT_TRUSTED_NETWORKS = ENV.tenant_trusted_networks
TENANT_STRICT_HOSTS = ENV.tenant_strict_hosts
TENANT_CACHE_SECONDS = ENV.tenant_cache_seconds
TENANT_HEADER = "X-Tenant"


# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.URLPathVersioning",
    "DEFAULT_VERSION": "v1",
    "ALLOWED_VERSIONS": ["v1", "v2"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "emporium.accounts.authentication.JWTAuthentication",
        "emporium.core.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "emporium.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "emporium.core.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["emporium.core.ratelimit.DefaultRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}

# Versions served under /api/<version>/. A deprecated version's responses carry Deprecation,
# Sunset and Link headers (RFC 9745, RFC 8594); dates are ISO 8601 in UTC.
API_VERSIONS: dict[str, dict[str, str | None]] = {
    "v1": {"deprecated_at": None, "sunset_at": None},
    "v2": {"deprecated_at": None, "sunset_at": None},
}
API_CHANGELOG_PATH = "/api/changelog/"

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Emporium API",
    "DESCRIPTION": "Multi-tenant e-commerce API. Errors are application/problem+json (RFC 9457).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # An enum holding "" (blank choice) is rejected by OpenAPI validators; blank stays allowed.
    "ENUM_ADD_EXPLICIT_BLANK_NULL_CHOICE": False,
    "ENUM_NAME_OVERRIDES": {
        "ConsentPurposeEnum": "emporium.accounts.models.preferences.ConsentPurpose",
        "ConsentSourceEnum": "emporium.accounts.models.preferences.ConsentSource",
        "ReviewStatusEnum": "emporium.reviews.documents.ReviewStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "emporium.api.schema.add_problem_responses",
    ],
}


# --- Rate limits: "N/period" per scope; counters in the shared cache ------------------------
# `anon` and `user` apply to every API request; named scopes are stricter limits that views
# opt into with `throttle_scope`.
RATE_LIMITS: dict[str, str] = {
    "anon": "120/min",
    "user": "600/min",
    "login": "5/min",
    "signup": "5/hour",
    "password_reset": "5/hour",
    "review_create": "5/hour",
    "cart_write": "120/min",
    "checkout": "20/min",
    "graphql": "120/min",
    **ENV.rate_limits,
}


# --- Accounts: JWT and one-time tokens -----------------------------------------------------
SIMPLE_JWT: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=ENV.jwt_access_lifetime_seconds),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=ENV.jwt_refresh_lifetime_seconds),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": ENV.jwt_signing_key.get_secret_value() if ENV.jwt_signing_key else SECRET_KEY,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# Lifetimes of the single-use tokens sent by email.
ACCOUNT_TOKEN_LIFETIMES: dict[str, timedelta] = {
    "verify_email": timedelta(days=3),
    "password_reset": timedelta(hours=1),
    "delete_account": timedelta(hours=24),
    "reactivate": timedelta(days=7),
}
# How long each class of account data is kept (emporium/accounts/retention.py purges daily).
ACCOUNT_RETENTION: dict[str, timedelta] = {
    "unverified_accounts": timedelta(days=30),
    "deleted_accounts": timedelta(days=30),
    "login_history": timedelta(days=90),
    "exports": timedelta(days=7),
}
# How long a signed GDPR export download link works.
ACCOUNT_EXPORT_LINK_MAX_AGE = timedelta(minutes=15)
# Brute-force protection: after this many consecutive failures an account is locked for a
# cool-down that doubles with each further failure, up to the maximum.
LOGIN_LOCKOUT_THRESHOLD = 5
LOGIN_LOCKOUT_BASE_SECONDS = 60
LOGIN_LOCKOUT_MAX_SECONDS = 3600
# Where the links in account emails point (the storefront's pages).
FRONTEND_URL = ENV.frontend_url


# --- Idempotency keys for POST under /api/ ---------------------------------------------------
IDEMPOTENCY_TTL_SECONDS = ENV.idempotency_ttl_seconds
# URL names (namespace:name) whose POSTs must carry an Idempotency-Key (checkout, payments...).
IDEMPOTENCY_REQUIRED_FOR: list[str] = ["api:order-list"]


# --- Cart, checkout and payments ---------------------------------------------------------------
CART_RETENTION = timedelta(days=ENV.cart_retention_days)
# Most units of one product a single cart line may hold.
CART_LINE_MAX_QUANTITY = 99
CART_MAX_LINES = 100
ORDER_PAYMENT_TIMEOUT = timedelta(minutes=ENV.order_payment_timeout_minutes)
STRIPE_SECRET_KEY = ENV.stripe_secret_key.get_secret_value() if ENV.stripe_secret_key else None
STRIPE_WEBHOOK_SECRET = (
    ENV.stripe_webhook_secret.get_secret_value() if ENV.stripe_webhook_secret else None
)
# A Stripe-compatible server (tests and local development); None means api.stripe.com.
STRIPE_API_BASE = ENV.stripe_api_base
STRIPE_WEBHOOK_TOLERANCE_SECONDS = ENV.stripe_webhook_tolerance_seconds
STRIPE_TIMEOUT_SECONDS = 10
STRIPE_MAX_NETWORK_RETRIES = 2


# --- Compression -------------------------------------------------------------------------------
GZIP_MIN_BYTES = ENV.gzip_min_bytes
REQUEST_MAX_DECOMPRESSED_BYTES = ENV.request_max_decompressed_bytes


# --- Proxies, CORS and security headers ------------------------------------------------------
TRUSTED_PROXY_NETWORKS = ENV.trusted_proxy_networks
CORS_ALLOWED_ORIGINS = ENV.cors_allowed_origins
CORS_ALLOWED_ORIGIN_REGEXES = ENV.cors_allowed_origin_regexes
CORS_ALLOW_CREDENTIALS = ENV.cors_allow_credentials
CORS_PREFLIGHT_MAX_AGE = ENV.cors_preflight_max_age
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "ETag",
    "Last-Modified",
    "Idempotent-Replayed",
    "X-Cart-Token",
    "Deprecation",
    "Sunset",
    "Link",
]
CORS_URLS_REGEX = r"^/(api|graphql)/.*$"
CORS_ALLOW_HEADERS = [
    *default_headers,
    "accept-language",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "x-cart-token",
    "x-request-id",
]
HSTS_ENABLED = ENV.hsts_enabled
HSTS_SECONDS = ENV.hsts_seconds
HSTS_PRELOAD = ENV.hsts_preload
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "emporium.core.errors.csrf_failure"


# --- robots.txt and security.txt ----------------------------------------------------------
SITEMAP_URL = ENV.sitemap_url
SECURITY_TXT = {
    "contact": ENV.security_txt_contact,
    "policy": ENV.security_txt_policy,
    "preferred_languages": ENV.security_txt_languages,
    "expires_days": ENV.security_txt_expires_days,
}


# --- Logging: structlog renders every record, stdlib ones included ---------------------------
LOG_FORMAT = ENV.log_format
# Authentication and account security events (sign-ins, lockouts, password changes, token
# revocation) go to their own logger: to SECURITY_LOG_FILE when set, else with the other lines.
_security_handler: dict[str, Any] = (
    {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": str(ENV.security_log_file),
        "formatter": "structured",
    }
    if ENV.security_log_file
    else {"class": "logging.StreamHandler", "formatter": "structured"}
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "emporium.core.logging.build_formatter",
            "fmt": ENV.log_format,
        },
    },
    "handlers": {
        "stream": {"class": "logging.StreamHandler", "formatter": "structured"},
        "security": _security_handler,
    },
    "root": {"handlers": ["stream"], "level": ENV.log_level},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "emporium.security": {"handlers": ["security"], "level": "INFO", "propagate": False},
        **{name: {"level": level} for name, level in ENV.log_levels.items()},
    },
}
