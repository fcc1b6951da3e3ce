"""Account emails that carry a single-use link."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django_stubs_ext import StrOrPromise

from emporium.accounts.models import User
from emporium.accounts.services import account_token_issue


def email_token_link(
    *, user: User, purpose: str, path: str, subject: StrOrPromise, body: StrOrPromise, **params: Any
) -> None:
    """Issue a fresh token for `purpose` (earlier links stop working) and email
    `FRONTEND_URL/<path>?token=...` in the user's language. `body` may use `%(link)s` and the
    other `params`."""
    token = account_token_issue(user=user, purpose=purpose)
    link = f"{settings.FRONTEND_URL}/{path}?token={token}"
    with translation.override(user.locale or settings.LANGUAGE_CODE):
        send_mail(
            subject=str(subject),
            message=str(body) % {"link": link, **params},
            from_email=None,
            recipient_list=[user.email],
        )
