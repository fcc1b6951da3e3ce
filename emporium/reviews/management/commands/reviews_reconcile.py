from typing import Any

from django.core.management.base import BaseCommand

from emporium.reviews.services import reviews_reconcile


class Command(BaseCommand):
    help = (
        "Recompute every product's rating (all shops) from the published reviews in MongoDB "
        "and repair the products whose stored average or count drifted."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = reviews_reconcile()
        for drift in report.repaired:
            self.stdout.write(
                f"repaired tenant={drift.tenant_id} product={drift.product_id}: "
                f"{drift.stored_average}/{drift.stored_count} -> {drift.average}/{drift.count}"
            )
        self.stdout.write(
            f"Checked {report.products_checked} products, repaired {len(report.repaired)}."
        )
