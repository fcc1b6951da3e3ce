"""Single-use tokens sent by email (verification, password reset, deletion, reactivation)."""

from __future__ import annotations

from django.db import models

from emporium.core.models import TenantOwnedModel


class AccountToken(TenantOwnedModel):
    """Only the SHA-256 of the token is stored; the token itself exists only in the email."""

    class Purpose(models.TextChoices):
        VERIFY_EMAIL = "verify_email"
        PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose name, not a secret)
        DELETE_ACCOUNT = "delete_account"
        REACTIVATE = "reactivate"

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"])]

    def __str__(self) -> str:
        return f"{self.purpose} token"
