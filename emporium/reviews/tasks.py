"""Review tasks: the nightly rating reconciliation and the anonymisation of deleted accounts."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from pymongo.errors import ConnectionFailure

from emporium.core.logging import get_logger
from emporium.core.tasks import BaseTask, TransientError

log = get_logger(__name__)
# pymongo's network errors are not builtin ConnectionErrors: retry them too.
MONGO_RETRY: tuple[type[BaseException], ...] = (*BaseTask.autoretry_for, ConnectionFailure)


@shared_task(name="reviews.reconcile", base=BaseTask, autoretry_for=MONGO_RETRY)
def reconcile_ratings() -> dict[str, Any]:
    """Nightly: recompute every product's rating in every shop and repair any drift."""
    from emporium.reviews.services import reviews_reconcile

    report = reviews_reconcile()
    log.info(
        "reviews_reconciled",
        products_checked=report.products_checked,
        repaired=len(report.repaired),
    )
    return {"products_checked": report.products_checked, "repaired": len(report.repaired)}


@shared_task(name="reviews.anonymise_user", base=BaseTask, autoretry_for=MONGO_RETRY)
def anonymise_user_reviews(user_id: str) -> int:
    """Detach a deleted account from its reviews (queued by the account deletion)."""
    import uuid

    from emporium.reviews.services import reviews_anonymise_for_user

    try:
        return reviews_anonymise_for_user(user_id=uuid.UUID(user_id))
    except ConnectionFailure as exc:
        raise TransientError(str(exc)) from exc
