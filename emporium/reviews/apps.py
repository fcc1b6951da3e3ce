from typing import Any

from django.apps import AppConfig
from django.db import transaction


def _anonymise_reviews(user: Any) -> None:
    # After the commit and through the worker: deleting an account must not depend on MongoDB
    # being reachable at that moment; the task retries until it is. The reviews show
    # "Anonymous" at once anyway, since the user row itself is anonymised.
    from emporium.reviews.tasks import anonymise_user_reviews

    user_id = str(user.pk)
    transaction.on_commit(lambda: anonymise_user_reviews.delay(user_id))


class ReviewsConfig(AppConfig):
    name = "emporium.reviews"
    label = "reviews"
    verbose_name = "Reviews"

    def ready(self) -> None:
        from emporium.accounts.services_lifecycle import account_anonymiser_register

        account_anonymiser_register("reviews", _anonymise_reviews)
