from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emporium.catalog.warming import warm_tenant
from emporium.tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Fill the response cache: category tree, first product-list pages overall and per "
        "top-level category, top product details; every shop unless --tenant is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this shop (slug).")
        parser.add_argument("--pages", type=int, default=1, help="List pages per listing.")
        parser.add_argument("--products", type=int, default=50, help="Product details to warm.")
        parser.add_argument(
            "--base-url",
            action="append",
            dest="base_urls",
            help="Address customers use, e.g. https://shop.example.com (repeatable; default: "
            "https on each of the shop's domains, or localhost:8000 for a shop without any).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.filter(is_active=True).order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No shop with the slug {options['tenant']!r}.")
        for tenant in tenants:
            result = warm_tenant(
                tenant,
                base_urls=options["base_urls"],
                list_pages=options["pages"],
                top_products=options["products"],
            )
            self.stdout.write(
                f"{tenant.slug}: {result.pages} page(s) cached, {result.failed} failed."
            )
