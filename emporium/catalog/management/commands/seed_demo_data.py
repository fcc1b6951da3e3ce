from typing import Any

from django.core.management.base import BaseCommand

from emporium.catalog.fixtures import catalog_generate
from emporium.catalog.models import Product

DEMO_PRODUCTS = 200


class Command(BaseCommand):
    help = "Load the demo catalog (category tree, about 200 products with stock); idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        missing = DEMO_PRODUCTS - Product.all_objects.count()
        created = catalog_generate(products=missing, seed=42) if missing > 0 else 0
        self.stdout.write(f"Demo catalog: {created} product(s) added.")
