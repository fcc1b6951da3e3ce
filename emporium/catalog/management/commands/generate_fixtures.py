import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from emporium.catalog.fixtures import catalog_generate


class Command(BaseCommand):
    help = "Bulk-insert generated products (with categories and stock) for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        created = catalog_generate(products=options["products"], seed=options["seed"])
        seconds = time.perf_counter() - started
        self.stdout.write(f"Created {created} products in {seconds:.1f} s.")
