"""Cart housekeeping run by the worker."""

from __future__ import annotations

from celery import shared_task

from emporium.core.logging import get_logger
from emporium.core.tasks import BaseTask

log = get_logger(__name__)


@shared_task(name="cart.purge_inactive", base=BaseTask)
def purge_inactive() -> int:
    """Hourly: soft-delete carts of every shop inactive longer than CART_RETENTION (active
    ones are marked abandoned). Carts hold no stock reservations, so nothing is released.
    Safe to run twice: a second run finds nothing."""
    # Imported here: the Celery app loads task modules before Django's models are ready.
    from emporium.cart.services import cart_purge_inactive

    purged = cart_purge_inactive()
    log.info("carts_purged", count=purged)
    return purged
