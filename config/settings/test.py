"""The test suite: fast hashing, a test-only app holding tenant-owned sample models."""

from config.settings.base import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHITENOISE_USE_FINDERS = True
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# Every test calls from 127.0.0.1 on one shop and counters outlive a test; rate-limit tests set
# their own limits.
RATE_LIMITS = dict.fromkeys(RATE_LIMITS, "1000000/min")  # noqa: F405
