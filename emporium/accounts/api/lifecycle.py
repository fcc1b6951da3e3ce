"""Pause, reactivation and deletion of accounts: by the account holder (`me/...`, emailed links
under `auth/...`) and by the shop's staff (`admin/users/{id}/...`)."""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.accounts import services_lifecycle
from emporium.accounts.api.auth import PublicAuthView, TokenSerializer
from emporium.accounts.models import User
from emporium.core.callers import client_ip


def _me(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


def _shop_user(user_id: uuid.UUID) -> User:
    """A live (not deleted) user of the current shop, else 404: other shops' users do not exist
    here."""
    user = User.objects.filter(id=user_id, is_active=True).first()
    if user is None:
        raise exceptions.NotFound()
    return user


class PauseSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why the account is paused (kept for staff; cleared on reactivation).",
    )


class AccountStatusSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    paused = serializers.BooleanField(source="is_paused")
    paused_at = serializers.DateTimeField(
        allow_null=True, help_text="When the current pause began (the first pause request)."
    )
    pause_reason = serializers.CharField()


class DeleteRequestSerializer(serializers.Serializer[Any]):
    password = serializers.CharField(
        write_only=True,
        style={"input_type": "password"},
        help_text="The current password: a stolen access token alone cannot request deletion.",
    )


class AdminUserPauseView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Pause a customer's account (staff)",
        description=(
            "Every token of the account stops working at once (403 `account_paused`) and "
            "sign-in is refused until staff reactivate it. Pausing a paused account changes "
            "nothing. Staff cannot pause themselves (400 `cannot_pause_self`); only superusers "
            "pause staff (403 `cannot_pause_staff`)."
        ),
        request=PauseSerializer,
        responses={200: AccountStatusSerializer},
    )
    def post(self, request: Request, version: str, user_id: uuid.UUID) -> Response:
        data = PauseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services_lifecycle.user_pause(
            user=_shop_user(user_id),
            actor=_me(request),
            reason=data.validated_data["reason"],
            ip=client_ip(request._request),
        )
        return Response(AccountStatusSerializer(user).data)


class AdminUserReactivateView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Reactivate a paused account (staff)",
        description=(
            "The user can sign in again; tokens from before the pause stay revoked. A no-op "
            "for an active account. Only superusers reactivate staff (403 `cannot_pause_staff`)."
        ),
        request=None,
        responses={204: None},
    )
    def post(self, request: Request, version: str, user_id: uuid.UUID) -> Response:
        services_lifecycle.user_reactivate(
            user=_shop_user(user_id), actor=_me(request), ip=client_ip(request._request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MePauseView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Pause my account",
        description=(
            "Every token stops working at once and sign-in is refused; a reactivation link is "
            "emailed (`POST auth/reactivate/`)."
        ),
        request=PauseSerializer,
        responses={200: AccountStatusSerializer},
    )
    def post(self, request: Request, version: str) -> Response:
        data = PauseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services_lifecycle.user_pause_by_owner(
            user=_me(request),
            reason=data.validated_data["reason"],
            ip=client_ip(request._request),
        )
        return Response(AccountStatusSerializer(user).data)


class ReactivateView(PublicAuthView):
    @extend_schema(
        summary="Reactivate my paused account with the emailed token",
        description=(
            "Works for a pause the account holder started; 400 `token_invalid` for an unknown, "
            "expired or used token or a pause staff started. Sign in again afterwards."
        ),
        request=TokenSerializer,
        responses={204: None},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = TokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services_lifecycle.user_reactivate_with_token(
            token=data.validated_data["token"], ip=client_ip(request._request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeDeleteView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "login"

    @extend_schema(
        summary="Ask to delete my account",
        description=(
            "Checks the password (400 `wrong_password`) and emails a confirmation link; nothing "
            "is deleted until it is used (`POST auth/delete/confirm/`)."
        ),
        request=DeleteRequestSerializer,
        responses={202: None},
    )
    def post(self, request: Request, version: str) -> Response:
        data = DeleteRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services_lifecycle.account_delete_request(
            user=_me(request),
            password=data.validated_data["password"],
            ip=client_ip(request._request),
        )
        return Response(status=status.HTTP_202_ACCEPTED)


class DeleteConfirmView(PublicAuthView):
    @extend_schema(
        summary="Delete my account with the emailed token",
        description=(
            "Erases or anonymises the personal data, revokes every token and frees the email "
            "address; orders stay, anonymised. 400 `token_invalid` for an unknown, expired or "
            "used token."
        ),
        request=TokenSerializer,
        responses={204: None},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = TokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services_lifecycle.account_delete_confirm(
            token=data.validated_data["token"], ip=client_ip(request._request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path(
        "admin/users/<uuid:user_id>/pause/",
        AdminUserPauseView.as_view(),
        name="admin-user-pause",
    ),
    path(
        "admin/users/<uuid:user_id>/reactivate/",
        AdminUserReactivateView.as_view(),
        name="admin-user-reactivate",
    ),
    path("me/pause/", MePauseView.as_view(), name="me-pause"),
    path("me/delete/", MeDeleteView.as_view(), name="me-delete"),
    path("auth/reactivate/", ReactivateView.as_view(), name="auth-reactivate"),
    path("auth/delete/confirm/", DeleteConfirmView.as_view(), name="auth-delete-confirm"),
]
