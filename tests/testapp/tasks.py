"""Tasks used by the test suite to drive a real worker."""

from celery import shared_task
from django.core.cache import cache

from emporium.core.tasks import TransientError, ping, ping_cache_key


@shared_task(name="testapp.flaky_ping")
def flaky_ping(token: str, failures: int) -> None:
    """Fail with TransientError `failures` times, then ping: proves the retry policy end to end."""
    attempts_key = f"{ping_cache_key(token)}:attempts"
    cache.add(attempts_key, 0, timeout=300)
    attempts = cache.incr(attempts_key)
    if attempts <= failures:
        raise TransientError(f"attempt {attempts} fails on purpose")
    ping(token)
