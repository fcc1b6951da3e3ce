"""Writes for accounts: registration, email verification, one-time tokens, revocation."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from emporium.accounts.models import AccountToken, LoginEvent, User
from emporium.core.errors import ApplicationError
from emporium.core.logging import get_logger

security_log = get_logger("emporium.security")


class TokenInvalid(ApplicationError):
    status = 400
    code = "token_invalid"
    title = _("This link is invalid, expired or was already used.")


class EmailTaken(ApplicationError):
    status = 400
    code = "email_taken"
    title = _("An account with this email already exists.")


@transaction.atomic
def user_create(
    *, email: str, password: str | None, is_staff: bool = False, is_superuser: bool = False
) -> User:
    """Create a user of the current tenant (email unique per tenant, case-insensitively)."""
    return User.objects.create_user(
        email, password, is_staff=is_staff or is_superuser, is_superuser=is_superuser
    )


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def account_token_issue(*, user: User, purpose: str) -> str:
    """A new single-use token for `purpose`; only its hash is stored. Earlier unused tokens of
    the same purpose stop working, so only the latest email's link is valid."""
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        AccountToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).delete()
        AccountToken.objects.create(
            user=user,
            purpose=purpose,
            token_hash=_hash(raw),
            expires_at=timezone.now() + settings.ACCOUNT_TOKEN_LIFETIMES[purpose],
        )
    return raw


@transaction.atomic
def account_token_consume(*, raw: str, purpose: str) -> User:
    """Use a token once: returns its user, or raises `TokenInvalid` (unknown, expired, used)."""
    token = (
        AccountToken.objects.select_for_update()
        .select_related("user")
        .filter(token_hash=_hash(raw), purpose=purpose)
        .first()
    )
    if token is None or token.used_at is not None or token.expires_at <= timezone.now():
        raise TokenInvalid()
    token.used_at = timezone.now()
    token.save(update_fields=["used_at", "updated_at"])
    user: User = token.user
    return user


def account_tokens_purge_expired() -> int:
    """Delete expired and used tokens of every tenant; returns how many."""
    now = timezone.now()
    deleted, _ = AccountToken.unscoped.filter(expires_at__lte=now).delete()
    used, _ = AccountToken.unscoped.filter(used_at__lte=now - timedelta(days=1)).delete()
    return int(deleted + used)


def user_register(*, email: str, password: str, first_name: str = "", last_name: str = "") -> User:
    """Create an unverified customer and send the verification email after commit."""
    email = User.objects.normalize_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTaken()
    candidate = User(email=email, first_name=first_name, last_name=last_name)
    validate_password(password, user=candidate)
    with transaction.atomic():
        user = User.objects.create_user(email, password, first_name=first_name, last_name=last_name)
        _send_verification_on_commit(user)
    security_log.info("account_registered", user_id=str(user.id))
    return user


def _send_verification_on_commit(user: User) -> None:
    from emporium.accounts.tasks import send_verification_email

    user_id = str(user.id)
    transaction.on_commit(lambda: send_verification_email.delay(user_id))


def user_verify_email(*, token: str) -> User:
    """Mark the email of the token's user verified (idempotent for an already verified user)."""
    with transaction.atomic():
        user = account_token_consume(raw=token, purpose=AccountToken.Purpose.VERIFY_EMAIL)
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at", "updated_at"])
    security_log.info("email_verified", user_id=str(user.id))
    return user


def user_resend_verification(*, email: str) -> None:
    """Send a new verification email if an unverified account has this email; says nothing
    either way (callers must not learn which emails have accounts)."""
    user = User.objects.filter(email__iexact=email, email_verified_at__isnull=True).first()
    if user is not None:
        _send_verification_on_commit(user)


def user_tokens_revoke(*, user: User, reason: str) -> None:
    """Revoke every token of `user` now: access tokens by bumping the token version, refresh
    tokens by blacklisting them."""
    with transaction.atomic():
        # One atomic increment; User.save also drops the cached user (now and after commit).
        user.token_version = F("token_version") + 1
        user.save(update_fields=["token_version", "updated_at"])
        user.refresh_from_db(fields=["token_version"])
        outstanding = OutstandingToken.objects.filter(user_id=user.id).exclude(
            blacklistedtoken__isnull=False
        )
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
    security_log.info("tokens_revoked", user_id=str(user.id), reason=reason)


class WrongPassword(ApplicationError):
    status = 400
    code = "wrong_password"
    title = _("The current password is wrong.")


def user_password_change(*, user: User, current_password: str, new_password: str) -> User:
    """Change the password after checking the current one; every existing token stops working.

    Raises `WrongPassword`, or Django's ValidationError for a weak new password.
    """
    if not user.check_password(current_password):
        raise WrongPassword()
    validate_password(new_password, user=user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        user_tokens_revoke(user=user, reason="password_changed")
    security_log.info("password_changed", user_id=str(user.id))
    return user


def user_password_reset_request(*, email: str) -> None:
    """Email a reset link if an account has this email; says nothing either way."""
    user = User.objects.filter(email__iexact=email, is_active=True).first()
    if user is None:
        return
    from emporium.accounts.tasks import send_password_reset_email

    user_id = str(user.id)
    transaction.on_commit(lambda: send_password_reset_email.delay(user_id))
    security_log.info("password_reset_requested", user_id=user_id)


def user_password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set a new password with a reset token; every existing token stops working. Opening the
    emailed link also proves the address, so it counts as verified."""
    with transaction.atomic():
        user = account_token_consume(raw=token, purpose=AccountToken.Purpose.PASSWORD_RESET)
        validate_password(new_password, user=user)
        user.set_password(new_password)
        if user.email_verified_at is None:
            user.email_verified_at = timezone.now()
        user.save(update_fields=["password", "email_verified_at", "updated_at"])
        user_tokens_revoke(user=user, reason="password_reset")
    security_log.info("password_reset", user_id=str(user.id))
    return user


def login_event_record(*, email: str, succeeded: bool, ip: str, user_agent: str) -> None:
    """Add a sign-in attempt to the history of the account with `email`, if there is one."""
    user = User.objects.filter(email__iexact=email).only("id", "tenant_id").first()
    if user is None:
        return
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        ip = ""
    LoginEvent.objects.create(
        user=user, succeeded=succeeded, ip_address=ip or None, user_agent=user_agent[:256]
    )
