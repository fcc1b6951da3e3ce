"""Sign-in history: what users see in their data export and what retention purges."""

from __future__ import annotations

from django.db import models

from emporium.core.models import TenantOwnedModel

__all__ = ["LoginEvent"]


class LoginEvent(TenantOwnedModel):
    """One sign-in attempt on an existing account (attempts on unknown emails have no owner and
    are only in the security log)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="login_events")
    succeeded = models.BooleanField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{'success' if self.succeeded else 'failure'} at {self.created_at:%Y-%m-%d %H:%M}"
