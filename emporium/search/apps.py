from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _restore_sqlite_index(using: str = "default", **_: Any) -> None:
    # A migration that rebuilds catalog_product on SQLite drops the index triggers.
    from emporium.search.database import ensure_sqlite_index

    ensure_sqlite_index(connections[using])


class SearchConfig(AppConfig):
    name = "emporium.search"
    label = "search"

    def ready(self) -> None:
        from emporium.search import receivers

        receivers.connect()
        post_migrate.connect(_restore_sqlite_index, sender=self)
