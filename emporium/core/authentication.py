"""DRF authentication classes with problem codes of their own."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from rest_framework import authentication, exceptions
from rest_framework.request import Request


class CsrfFailed(exceptions.PermissionDenied):
    default_detail = _("CSRF verification failed: send the X-CSRFToken header with session auth.")
    default_code = "csrf_failed"


class AccountPausedForSession(exceptions.PermissionDenied):
    default_detail = _("This account is paused.")
    default_code = "account_paused"


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication; a CSRF failure is reported with code `csrf_failed`, and a
    paused account is refused (`account_paused`) as with tokens."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is not None and getattr(result[0], "is_paused", False):
            raise AccountPausedForSession()
        return result

    def enforce_csrf(self, request: Request) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise CsrfFailed() from exc


class SessionAuthenticationScheme(SessionScheme):  # type: ignore[no-untyped-call]
    """Documents `SessionAuthentication` in the OpenAPI schema as the cookie scheme."""

    target_class = "emporium.core.authentication.SessionAuthentication"
