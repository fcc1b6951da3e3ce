"""Staging: production behaviour with relaxed data policies; secrets required."""

from config.settings.base import *  # noqa: F403

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
