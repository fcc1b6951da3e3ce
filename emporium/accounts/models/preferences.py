"""Notification preferences per event and channel, and the append-only history of consents.

Notification defaults (what a user who never changed anything gets):

    event              email  sms  push
    order_status       on     off  on
    shipping           on     off  on
    marketing          off    off  off   opt-in only
    account_security   on     off  off   email is required: it cannot be turned off

Marketing messages need BOTH the channel enabled here AND a current granted consent for the
channel's purpose (`marketing_email`, `marketing_sms`, `marketing_push`); see
`emporium.accounts.selectors_preferences.notification_channels_for`.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from emporium.core.models import TenantOwnedModel

__all__ = [
    "ConsentPurpose",
    "ConsentRecord",
    "ConsentRecordImmutable",
    "ConsentSource",
    "NotificationChannel",
    "NotificationEvent",
    "NotificationPreference",
]


class NotificationEvent(models.TextChoices):
    ORDER_STATUS = "order_status", _("Order status")
    SHIPPING = "shipping", _("Shipping")
    MARKETING = "marketing", _("Marketing")
    ACCOUNT_SECURITY = "account_security", _("Account security")


class NotificationChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push notification")


# (event, channel) -> enabled for a user without a stored choice.
NOTIFICATION_DEFAULTS: dict[tuple[str, str], bool] = {
    ("order_status", "email"): True,
    ("order_status", "sms"): False,
    ("order_status", "push"): True,
    ("shipping", "email"): True,
    ("shipping", "sms"): False,
    ("shipping", "push"): True,
    ("marketing", "email"): False,
    ("marketing", "sms"): False,
    ("marketing", "push"): False,
    ("account_security", "email"): True,
    ("account_security", "sms"): False,
    ("account_security", "push"): False,
}
# Channels that are always on: users must learn about sign-ins, password and email changes.
REQUIRED_CHANNELS: frozenset[tuple[str, str]] = frozenset({("account_security", "email")})


class NotificationPreference(TenantOwnedModel):
    """A user's choice for one (event, channel); missing rows mean the default."""

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(max_length=32, choices=NotificationEvent.choices)
    channel = models.CharField(max_length=16, choices=NotificationChannel.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = [
            # The tenant leads so the constraint survives sharding by tenant.
            models.UniqueConstraint(
                fields=["tenant", "user", "event", "channel"],
                name="accounts_notification_preference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event}/{self.channel}: {'on' if self.enabled else 'off'}"


class ConsentPurpose(models.TextChoices):
    MARKETING_EMAIL = "marketing_email", _("Marketing by email")
    MARKETING_SMS = "marketing_sms", _("Marketing by SMS")
    MARKETING_PUSH = "marketing_push", _("Marketing by push notification")
    PROFILING = "profiling", _("Personalised recommendations from my activity")


class ConsentSource(models.TextChoices):
    """Where the user gave or withdrew consent."""

    SIGNUP_FORM = "signup_form", _("Sign-up form")
    ACCOUNT_SETTINGS = "account_settings", _("Account settings")
    CHECKOUT = "checkout", _("Checkout")
    API = "api", _("API")


class ConsentRecordImmutable(RuntimeError):
    """A consent record was about to be changed or deleted: the history is append-only."""


class ConsentRecord(TenantOwnedModel):
    """One grant or withdrawal of consent, as the user gave it; the latest per purpose counts.

    Rows are only ever added: `save()` refuses to update an existing row and `delete()` refuses
    too. Erasing an account's personal data works on querysets (`update()`/`delete()`), which
    bypass these guards on purpose.
    """

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="consent_records"
    )
    purpose = models.CharField(max_length=32, choices=ConsentPurpose.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=50, choices=ConsentSource.choices)
    policy_version = models.CharField(max_length=20)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["user", "purpose", "-created_at"], name="accounts_consent_user_purpose"
            ),
            models.Index(fields=["user", "-created_at"], name="accounts_consent_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose}: {'granted' if self.granted else 'withdrawn'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ConsentRecordImmutable("Consent records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, using: Any = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        raise ConsentRecordImmutable("Consent records are append-only.")
