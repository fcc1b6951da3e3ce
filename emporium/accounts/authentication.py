"""JWT authentication for every user endpoint: tenant-bound, revocable at once, cached."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.tokens import Token

from emporium.accounts.models import User
from emporium.accounts.selectors import user_get_for_token
from emporium.core.context import get_current_tenant_id


class TokenRevoked(exceptions.AuthenticationFailed):
    default_detail = _("The token was revoked or belongs to another shop; sign in again.")
    default_code = "token_revoked"


class AccountPaused(exceptions.PermissionDenied):
    default_detail = _("This account is paused.")
    default_code = "account_paused"


class JWTAuthentication(authentication.JWTAuthentication):
    """`Authorization: Bearer <access token>`.

    The token must have been issued by the current shop (`tid` claim) for the user's current
    token version (`ver` claim; a password change, pause or deletion bumps it), so revocation
    takes effect on the next request. Users are read through a cache.
    """

    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        tenant_id = get_current_tenant_id()
        if tenant_id is None or validated_token.get("tid") != str(tenant_id):
            raise TokenRevoked()
        user = user_get_for_token(
            user_id=validated_token.get("user_id", ""),
            token_version=int(validated_token.get("ver", -1)),
        )
        if user is None:
            raise TokenRevoked()
        if not user.is_active:
            raise exceptions.AuthenticationFailed(
                _("This account is disabled."), code="user_inactive"
            )
        if user.is_paused:
            raise AccountPaused()
        return user


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents JWTAuthentication as the `bearerAuth` scheme."""

    target_class = "emporium.accounts.authentication.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
