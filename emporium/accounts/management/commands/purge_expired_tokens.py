from typing import Any

from django.core.management.base import BaseCommand

from emporium.accounts.services import account_tokens_purge_expired


class Command(BaseCommand):
    help = "Delete expired and used one-time account tokens of every tenant."

    def handle(self, *args: Any, **options: Any) -> None:
        count = account_tokens_purge_expired()
        self.stdout.write(f"Deleted {count} token(s).")
