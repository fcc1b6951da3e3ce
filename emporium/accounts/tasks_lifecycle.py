"""Emails of an account's lifecycle: the reactivation link and the deletion confirmation link."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from emporium.accounts.emails import email_token_link
from emporium.accounts.models import AccountPause, AccountToken, User
from emporium.core.logging import get_logger

__all__ = ["send_account_deletion_email", "send_reactivation_email"]

log = get_logger(__name__)


@shared_task(name="accounts.send_reactivation_email")
def send_reactivation_email(user_id: str) -> None:
    """Email a reactivation link to a user who paused their own account (a retry sends a new
    link; the old one stops working). Nothing is sent once staff took the pause over."""
    user = User.objects.filter(id=user_id, is_active=True, paused_at__isnull=False).first()
    if user is None:
        return
    if not AccountPause.objects.filter(
        user=user, reactivated_at__isnull=True, by_owner=True
    ).exists():
        return
    email_token_link(
        user=user,
        purpose=AccountToken.Purpose.REACTIVATE,
        path="reactivate",
        subject=_("Your account is paused"),
        body=_(
            "Your account is paused: nobody can sign in to it. When you want to use it "
            "again, open this link:\n\n%(link)s\n"
        ),
    )
    log.info("reactivation_email_sent", user_id=user_id)


@shared_task(name="accounts.send_account_deletion_email")
def send_account_deletion_email(user_id: str) -> None:
    """Email the link that confirms an account deletion (a retry sends a new link; the old one
    stops working)."""
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        return
    lifetime = settings.ACCOUNT_TOKEN_LIFETIMES[AccountToken.Purpose.DELETE_ACCOUNT]
    hours = int(lifetime.total_seconds() // 3600)
    email_token_link(
        user=user,
        purpose=AccountToken.Purpose.DELETE_ACCOUNT,
        path="delete-account",
        subject=_("Confirm the deletion of your account"),
        body=_(
            "Someone asked to delete your account. If it was you, open this link within "
            "%(hours)s hours to delete it for good:\n\n%(link)s\n\nOtherwise ignore this "
            "email and consider changing your password."
        ),
        hours=hours,
    )
    log.info("account_deletion_email_sent", user_id=user_id)
