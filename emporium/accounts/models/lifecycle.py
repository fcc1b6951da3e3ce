"""Account lifecycle records: pauses (who paused, why, until when) and deletions (no PII).

A deleted account's `User` row is kept, anonymised and inactive, so that rows of other domains
(orders, reviews) keep pointing at something; `AccountDeletion` is the audit record saying that
and when it happened. It holds ids and timestamps only, never an email or a name.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from emporium.core.models import TenantOwnedModel

__all__ = ["AccountDeletion", "AccountPause"]


class AccountPause(TenantOwnedModel):
    """One pause of an account, from pausing to reactivation (open while `reactivated_at` is
    null). `User.paused_at`/`pause_reason` mirror the open pause for fast checks on each request.
    """

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    paused_at = models.DateTimeField()
    # Null with `by_owner` True: the account holder paused it. A staff pause (even of an
    # account the owner had paused) cannot be lifted with the emailed reactivation link.
    paused_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_owner = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    reactivated_at = models.DateTimeField(null=True, blank=True)
    reactivated_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(reactivated_at__isnull=True),
                name="accounts_account_pause_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"pause {self.paused_at:%Y-%m-%d}"


class AccountDeletion(TenantOwnedModel):
    """Audit record of an account deletion: requested, then completed. No personal data.

    `user_id` is a plain UUID rather than a foreign key, so the record outlives the anonymised
    user row if a retention job removes that row later.
    """

    user_id = models.UUIDField(db_index=True)
    requested_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one pending request per user; completed records accumulate.
            models.UniqueConstraint(
                fields=["user_id"],
                condition=Q(completed_at__isnull=True),
                name="accounts_account_deletion_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"deletion of {self.user_id}"
