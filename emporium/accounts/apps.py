from datetime import datetime
from typing import Any

from django.apps import AppConfig


def _login_history(user: Any) -> list[dict[str, Any]]:
    from emporium.accounts.models import LoginEvent

    return [
        {
            "at": event.created_at.isoformat(),
            "succeeded": event.succeeded,
            "ip_address": event.ip_address,
            "user_agent": event.user_agent,
        }
        for event in LoginEvent.objects.filter(user=user).order_by("-created_at")
    ]


def _erase_login_history(user: Any) -> None:
    from emporium.accounts.models import LoginEvent

    LoginEvent.objects.filter(user=user).delete()


def _purge_login_history(cutoff: datetime) -> int:
    from emporium.accounts.models import LoginEvent

    deleted, _ = LoginEvent.unscoped.filter(created_at__lt=cutoff).delete()
    return int(deleted)


def _erase_exports(user: Any) -> None:
    from emporium.accounts.services_exports import data_exports_delete_for_user

    data_exports_delete_for_user(user=user)


class AccountsConfig(AppConfig):
    name = "emporium.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from emporium.accounts.retention import retention_purger_register
        from emporium.accounts.services_exports import exporter_register
        from emporium.accounts.services_lifecycle import account_anonymiser_register

        # Sign-in history: in the GDPR export, erased with the account, purged after retention.
        exporter_register(section="login_history", exporter=_login_history)
        account_anonymiser_register("login_history", _erase_login_history)
        retention_purger_register(data_class="login_history", purger=_purge_login_history)
        # Export files hold a full copy of the personal data: deleted with the account.
        account_anonymiser_register("exports", _erase_exports)
