"""Account emails and housekeeping, run by the worker."""

from __future__ import annotations

from celery import shared_task
from django.utils.translation import gettext_lazy as _

from emporium.accounts.emails import email_token_link
from emporium.accounts.models import AccountToken, User
from emporium.accounts.services import account_tokens_purge_expired
from emporium.core.logging import get_logger

log = get_logger(__name__)


@shared_task(name="accounts.send_verification_email")
def send_verification_email(user_id: str) -> None:
    """Email a fresh verification link (a retry sends a new link; the old one stops working)."""
    user = User.objects.filter(id=user_id, email_verified_at__isnull=True).first()
    if user is None:
        return
    email_token_link(
        user=user,
        purpose=AccountToken.Purpose.VERIFY_EMAIL,
        path="verify-email",
        subject=_("Confirm your email address"),
        body=_("Welcome! Confirm your email address by opening this link:\n\n%(link)s\n"),
    )
    log.info("verification_email_sent", user_id=user_id)


@shared_task(name="accounts.send_password_reset_email")
def send_password_reset_email(user_id: str) -> None:
    """Email a password reset link (a retry sends a new link; the old one stops working)."""
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        return
    email_token_link(
        user=user,
        purpose=AccountToken.Purpose.PASSWORD_RESET,
        path="reset-password",
        subject=_("Reset your password"),
        body=_(
            "Someone asked to reset the password of your account. If it was you, open this "
            "link within an hour:\n\n%(link)s\n\nOtherwise ignore this email."
        ),
    )
    log.info("password_reset_email_sent", user_id=user_id)


@shared_task(name="accounts.purge_expired_tokens")
def purge_expired_tokens() -> int:
    """Daily: delete expired and used one-time tokens of every tenant."""
    return account_tokens_purge_expired()


# Tasks of the other account modules, registered with the worker through this module.
from emporium.accounts.tasks_exports import *  # noqa: E402,F403
from emporium.accounts.tasks_lifecycle import *  # noqa: E402,F403
