from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emporium.search.services import search_reindex
from emporium.tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Rebuild the product search index. Elasticsearch: builds a fresh index of every shop "
        "and swaps the alias to it, or with --tenant re-indexes one shop in place. Database "
        "backend: rebuilds the SQLite FTS5 index, or runs ANALYZE on PostgreSQL (its indexes "
        "follow the table by themselves)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Slug of the one shop to re-index.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No shop has the slug {options['tenant']!r}.")
            tenant_id = tenant.id
        self.stdout.write(f"Search index: {search_reindex(tenant_id=tenant_id)}.")
