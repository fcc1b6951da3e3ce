"""Writes for an account's lifecycle: pause, reactivation and deletion (anonymisation).

Decisions:
- A pause refuses every token at once through the paused state (403 `account_paused`); the
  tokens are revoked when the pause is lifted, so none issued before it works again.
- Pausing a paused account changes nothing: the first `paused_at` and reason stay (the pause
  began then). One exception: staff pausing an account its owner paused takes the pause over,
  so the owner's emailed reactivation link stops working.
- Only superusers may pause or reactivate staff and superusers; nobody pauses themselves
  through the staff endpoint (users pause their own account with `me/pause/`).
- Deletion keeps the `User` row, anonymised and inactive, so other domains' rows (orders kept for
  accounting) still point at it. Consent records stay as evidence of what was consented to and
  when (GDPR art. 7(1)), stripped of IP address and user agent. Addresses, the avatar,
  notification preferences and one-time tokens are deleted; every JWT is revoked.
- Other domains erase or anonymise their own personal data by registering an anonymiser
  (`account_anonymiser_register`) in their AppConfig.ready(); anonymisers run inside the deletion
  transaction, before the user's own fields are cleared.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from emporium.accounts.lockout import login_success_record
from emporium.accounts.models import (
    AccountDeletion,
    AccountPause,
    AccountToken,
    Address,
    ConsentRecord,
    NotificationPreference,
    User,
)
from emporium.accounts.services import (
    TokenInvalid,
    WrongPassword,
    account_token_consume,
    security_log,
    user_tokens_revoke,
)
from emporium.accounts.services_profile import avatar_delete
from emporium.core.errors import ApplicationError

__all__ = [
    "AccountAnonymiser",
    "CannotPauseSelf",
    "CannotPauseStaff",
    "account_anonymiser_register",
    "account_anonymisers",
    "account_delete_confirm",
    "account_delete_request",
    "user_pause",
    "user_pause_by_owner",
    "user_reactivate",
    "user_reactivate_with_token",
]


class CannotPauseSelf(ApplicationError):
    status = 400
    code = "cannot_pause_self"
    title = _("You cannot pause your own account here; use your account settings.")


class CannotPauseStaff(ApplicationError):
    status = 403
    code = "cannot_pause_staff"
    title = _("Only a superuser can pause or reactivate a staff account.")


# --- Anonymisers: other domains' part of an account deletion -----------------------------------

AccountAnonymiser = Callable[[User], None]
_anonymisers: dict[str, AccountAnonymiser] = {}


def account_anonymiser_register(name: str, anonymiser: AccountAnonymiser) -> None:
    """Register `anonymiser(user)` to erase or anonymise a domain's personal data of a user who
    deletes their account (e.g. "orders": blank the addresses on orders, keep the amounts).

    Call it from the domain's AppConfig.ready(). It runs inside the deletion transaction while
    the user still has their email and names; it must be idempotent, and an exception aborts the
    whole deletion. Registering a name again replaces the earlier function.
    """
    _anonymisers[name] = anonymiser


def account_anonymisers() -> dict[str, AccountAnonymiser]:
    """The registered anonymisers by name (a copy)."""
    return dict(_anonymisers)


# --- Pause and reactivation --------------------------------------------------------------------


def _locked(user: User) -> User:
    locked: User = User.objects.select_for_update().get(id=user.id)
    return locked


def _open_pause(user: User) -> AccountPause | None:
    pause: AccountPause | None = AccountPause.objects.filter(
        user=user, reactivated_at__isnull=True
    ).first()
    return pause


def _pause(*, user: User, actor: User | None, reason: str) -> tuple[User, bool]:
    """Pause `user` (locked by the caller); returns the user and whether anything changed."""
    by_owner = actor is None
    pause = _open_pause(user)
    if user.paused_at is not None and pause is not None:
        if pause.by_owner and not by_owner:
            pause.by_owner = False
            pause.paused_by = actor
            pause.save(update_fields=["by_owner", "paused_by", "updated_at"])
            AccountToken.objects.filter(user=user, purpose=AccountToken.Purpose.REACTIVATE).delete()
            return user, True
        return user, False
    now = timezone.now()
    if pause is not None:
        # The pause was lifted outside these services (the admin form): close that record.
        pause.reactivated_at = now
        pause.save(update_fields=["reactivated_at", "updated_at"])
    user.paused_at = user.paused_at or now
    user.pause_reason = user.pause_reason or reason
    user.save(update_fields=["paused_at", "pause_reason", "updated_at"])
    AccountPause.objects.create(
        user=user,
        paused_at=user.paused_at,
        paused_by=actor,
        by_owner=by_owner,
        reason=user.pause_reason,
    )
    # No token revocation here: the paused state itself refuses every token at once (access
    # tokens with 403 `account_paused` in JWTAuthentication, refresh and sign-in in the token
    # views), where a version bump would answer 401 `token_revoked` instead. The tokens are
    # revoked on reactivation, so none issued before the pause works again.
    return user, True


def user_pause(*, user: User, actor: User, reason: str = "", ip: str | None = None) -> User:
    """Staff pause `user`: every token stops working at once and sign-in is refused until staff
    reactivate the account. Idempotent (the first `paused_at` and reason stay).

    Raises `CannotPauseSelf`, or `CannotPauseStaff` when a non-superuser targets staff.
    """
    if user.id == actor.id:
        raise CannotPauseSelf()
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise CannotPauseStaff()
    with transaction.atomic():
        user, changed = _pause(user=_locked(user), actor=actor, reason=reason.strip())
    if changed:
        security_log.info(
            "account_paused", user_id=str(user.id), actor_id=str(actor.id), by_owner=False, ip=ip
        )
    return user


def user_pause_by_owner(*, user: User, reason: str = "", ip: str | None = None) -> User:
    """The account holder pauses their own account; a reactivation link is emailed after the
    commit. Every token stops working at once."""
    from emporium.accounts.tasks_lifecycle import send_reactivation_email

    with transaction.atomic():
        user, changed = _pause(user=_locked(user), actor=None, reason=reason.strip())
        if changed:
            user_id = str(user.id)
            transaction.on_commit(lambda: send_reactivation_email.delay(user_id))
    if changed:
        security_log.info(
            "account_paused", user_id=str(user.id), actor_id=str(user.id), by_owner=True, ip=ip
        )
    return user


def _reactivate(*, user: User, actor: User | None) -> bool:
    """Lift the pause of `user` (locked by the caller); False if it was not paused."""
    if user.paused_at is None:
        return False
    AccountPause.objects.filter(user=user, reactivated_at__isnull=True).update(
        reactivated_at=timezone.now(), reactivated_by=actor, updated_at=timezone.now()
    )
    AccountToken.objects.filter(user=user, purpose=AccountToken.Purpose.REACTIVATE).delete()
    user.paused_at = None
    user.pause_reason = ""
    user.save(update_fields=["paused_at", "pause_reason", "updated_at"])
    user_tokens_revoke(user=user, reason="account_reactivated")
    return True


def user_reactivate(*, user: User, actor: User, ip: str | None = None) -> User:
    """Staff lift a pause (theirs or the owner's); a no-op for an active account. The user signs
    in again: tokens from before the pause stay revoked. Raises `CannotPauseStaff`."""
    if (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise CannotPauseStaff()
    with transaction.atomic():
        user = _locked(user)
        changed = _reactivate(user=user, actor=actor)
    if changed:
        security_log.info(
            "account_reactivated", user_id=str(user.id), actor_id=str(actor.id), ip=ip
        )
    return user


def user_reactivate_with_token(*, token: str, ip: str | None = None) -> User:
    """Lift a pause the owner started, with the emailed link (a no-op for an active account).

    Raises `TokenInvalid` for an unknown, expired or used token, and for a pause that staff
    started or took over (only staff lift those).
    """
    with transaction.atomic():
        user = _locked(account_token_consume(raw=token, purpose=AccountToken.Purpose.REACTIVATE))
        pause = _open_pause(user)
        if user.paused_at is not None and (pause is None or not pause.by_owner):
            raise TokenInvalid()
        changed = _reactivate(user=user, actor=user)
    if changed:
        security_log.info("account_reactivated", user_id=str(user.id), actor_id=str(user.id), ip=ip)
    return user


# --- Deletion ----------------------------------------------------------------------------------


def account_delete_request(*, user: User, password: str, ip: str | None = None) -> AccountDeletion:
    """Check the password and email a confirmation link (after the commit); nothing is deleted
    until the link is used. The password guards against a stolen access token.

    Raises `WrongPassword`.
    """
    from emporium.accounts.tasks_lifecycle import send_account_deletion_email

    if not user.check_password(password):
        security_log.warning("account_deletion_refused", user_id=str(user.id), ip=ip)
        raise WrongPassword()
    with transaction.atomic():
        deletion: AccountDeletion
        deletion, _created = AccountDeletion.objects.update_or_create(
            user_id=user.id, completed_at=None, defaults={"requested_at": timezone.now()}
        )
        user_id = str(user.id)
        transaction.on_commit(lambda: send_account_deletion_email.delay(user_id))
    security_log.info("account_deletion_requested", user_id=str(user.id), ip=ip)
    return deletion


def account_delete_confirm(*, token: str, ip: str | None = None) -> AccountDeletion:
    """Delete the account of the emailed token: personal data erased or anonymised, every token
    revoked, the email free to register again; returns the audit record (no PII).

    Raises `TokenInvalid` for an unknown, expired or used token.
    """
    with transaction.atomic():
        user = _locked(
            account_token_consume(raw=token, purpose=AccountToken.Purpose.DELETE_ACCOUNT)
        )
        old_email = user.email
        for anonymiser in _anonymisers.values():
            anonymiser(user)
        _erase_account_data(user)
        _anonymise_user(user)
        user_tokens_revoke(user=user, reason="account_deleted")
        now = timezone.now()
        deletion: AccountDeletion | None = AccountDeletion.objects.filter(
            user_id=user.id, completed_at=None
        ).first()
        if deletion is None:
            deletion = AccountDeletion(user_id=user.id, requested_at=now)
        deletion.completed_at = now
        deletion.save()
    # Failed sign-in counters are cached under the email address.
    login_success_record(email=old_email)
    security_log.info("account_deleted", user_id=str(user.id), ip=ip)
    return deletion


def _erase_account_data(user: User) -> None:
    Address.objects.filter(user=user).delete()
    avatar_delete(user=user)  # the files go after the commit
    NotificationPreference.objects.filter(user=user).delete()
    AccountToken.objects.filter(user=user).delete()
    # Consent records refuse save()/delete(); a queryset update is the sanctioned way to strip
    # what identifies the person while keeping the facts.
    ConsentRecord.objects.filter(user=user).update(
        ip_address=None, user_agent="", updated_at=timezone.now()
    )
    AccountPause.objects.filter(user=user).update(reason="", updated_at=timezone.now())
    # The admin's change history names the user by their email.
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(User), object_id=str(user.id)
    ).update(object_repr=str(user.id))


def _anonymise_user(user: User) -> None:
    user.email = f"deleted-{uuid.uuid4().hex}@invalid"
    user.first_name = ""
    user.last_name = ""
    user.phone = ""
    user.locale = ""
    user.pause_reason = ""
    user.paused_at = None
    user.email_verified_at = None
    user.last_login = None
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.set_unusable_password()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()
