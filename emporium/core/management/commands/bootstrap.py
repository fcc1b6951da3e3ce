"""Prepare a local instance for `make run`: migrate, cache table, demo admin, demo data once."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from emporium.accounts.models import User
from emporium.accounts.services import user_create

DEMO_ADMIN_EMAIL = "admin@example.com"
SEED_COMMAND = "seed_demo_data"


class Command(BaseCommand):
    help = "Migrate, create the cache table, create the demo admin and load demo data once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-admin", action="store_true", help="Skip the demo admin.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PROFILE in ("staging", "production"):
            raise CommandError("bootstrap is for local instances; run `migrate` in deployments.")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        self.stdout.write("Database migrated.")
        if SEED_COMMAND in get_commands():
            self._seed_once(Path(settings.VAR_DIR) / "demo-data.loaded")
        if not options["no_admin"]:
            email, password = self._demo_admin(Path(settings.VAR_DIR) / "demo-admin.json")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo admin: http://127.0.0.1:8000/admin/  email {email}  password {password}"
                )
            )

    def _seed_once(self, marker: Path) -> None:
        if marker.exists():
            return
        call_command(SEED_COMMAND)
        marker.write_text("loaded\n")
        self.stdout.write("Demo data loaded.")

    def _demo_admin(self, credentials: Path) -> tuple[str, str]:
        """Create the demo admin once with a random password kept (0600) under var/."""
        if credentials.exists() and User.objects.filter(email__iexact=DEMO_ADMIN_EMAIL).exists():
            saved = json.loads(credentials.read_text())
            return saved["email"], saved["password"]
        password = secrets.token_urlsafe(12)
        user = User.objects.filter(email__iexact=DEMO_ADMIN_EMAIL).first()
        if user is None:
            user = user_create(email=DEMO_ADMIN_EMAIL, password=password, is_superuser=True)
        else:
            user.set_password(password)
        # The demo admin may also sign in to the API (JWT needs a verified email).
        user.email_verified_at = user.email_verified_at or timezone.now()
        user.save(update_fields=["password", "email_verified_at"])
        credentials.touch(mode=0o600)
        credentials.write_text(json.dumps({"email": DEMO_ADMIN_EMAIL, "password": password}))
        return DEMO_ADMIN_EMAIL, password
