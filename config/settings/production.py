"""Production: secrets, PostgreSQL and DEBUG off are enforced by the environment loader."""

from config.settings.base import *  # noqa: F403

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
