"""Sign-up, email verification and JWT endpoints under /api/<version>/auth/."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from emporium.accounts import services
from emporium.accounts.authentication import AccountPaused, TokenRevoked
from emporium.accounts.lockout import (
    login_failure_record,
    login_lock_remaining,
    login_success_record,
)
from emporium.accounts.models import User
from emporium.accounts.selectors import platform_staff_get
from emporium.cart.services import cart_merge_for_login
from emporium.core.callers import client_ip
from emporium.core.context import require_current_tenant_id


class EmailNotVerified(exceptions.PermissionDenied):
    default_detail = _("Confirm your email address first; we can send the link again.")
    default_code = "email_not_verified"


class AccountLocked(exceptions.Throttled):
    default_detail = _("Too many failed sign-ins: this account is locked for a while.")
    default_code = "account_locked"


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = _("The email or password is wrong.")
    default_code = "invalid_credentials"


def tokens_for(user: User) -> dict[str, str]:
    """A refresh/access pair bound to the user's shop and token version."""
    refresh = RefreshToken.for_user(user)
    refresh["tid"] = str(require_current_tenant_id())
    refresh["ver"] = user.token_version
    return {"refresh": str(refresh), "access": str(refresh.access_token)}


class PublicAuthView(APIView):
    """Auth endpoints ignore any Authorization header (a stale token must not block sign-in)
    but still answer 401, with a WWW-Authenticate challenge, for bad credentials."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class RegisterSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class RegisteredSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    email_verified = serializers.BooleanField()


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(max_length=200)


class EmailSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=254)


class TokenObtainSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField()
    access = serializers.CharField()


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField()


class RegisterView(PublicAuthView):
    throttle_scope = "signup"

    @extend_schema(
        summary="Create an account",
        description="Creates an unverified customer account and emails a verification link.",
        request=RegisterSerializer,
        responses={201: RegisteredSerializer},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.user_register(**data.validated_data)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"password": exc.messages}) from exc
        body = {"id": user.id, "email": user.email, "email_verified": False}
        return Response(RegisteredSerializer(body).data, status=status.HTTP_201_CREATED)


class VerifyEmailView(PublicAuthView):
    @extend_schema(
        summary="Confirm an email address",
        request=TokenSerializer,
        responses={204: None},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = TokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_verify_email(token=data.validated_data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ResendVerificationView(PublicAuthView):
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Send the verification email again",
        description="Always answers 202, whether or not an account has this email.",
        request=EmailSerializer,
        responses={202: None},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = EmailSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_resend_verification(email=data.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)


class TokenObtainView(PublicAuthView):
    throttle_scope = "login"

    @extend_schema(
        summary="Sign in: email and password for an access and a refresh token",
        request=TokenObtainSerializer,
        responses={200: TokenPairSerializer},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = TokenObtainSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        email = data.validated_data["email"]
        ip = client_ip(request._request)
        locked_for = login_lock_remaining(email=email)
        if locked_for:
            services.security_log.warning("login_refused_locked", ip=ip)
            raise AccountLocked(wait=locked_for)
        user = authenticate(
            request._request, username=email, password=data.validated_data["password"]
        )
        user_agent = request.headers.get("User-Agent", "")
        services.login_event_record(
            email=email, succeeded=isinstance(user, User), ip=ip, user_agent=user_agent
        )
        if not isinstance(user, User):
            lock = login_failure_record(email=email)
            services.security_log.warning("login_failed", ip=ip)
            if lock:
                services.security_log.warning("account_locked", ip=ip, seconds=lock)
            raise InvalidCredentials()
        login_success_record(email=email)
        if user.is_paused:
            raise AccountPaused()
        if not user.is_email_verified:
            raise EmailNotVerified()
        services.security_log.info("login_succeeded", user_id=str(user.id), ip=ip)
        # A cart filled before signing in becomes (or joins) the customer's cart.
        cart_merge_for_login(user=user, token=request.headers.get("X-Cart-Token"))
        return Response(TokenPairSerializer(tokens_for(user)).data)


class TokenRefreshView(PublicAuthView):
    @extend_schema(
        summary="Exchange a refresh token for a new pair (the old refresh token stops working)",
        request=RefreshSerializer,
        responses={200: TokenPairSerializer},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(data.validated_data["refresh"])
        except TokenError as exc:
            raise TokenRevoked() from exc
        user_id = refresh.get("user_id")
        user = User.objects.filter(id=user_id).first() or platform_staff_get(user_id=user_id)
        if (
            user is None
            or refresh.get("tid") != str(require_current_tenant_id())
            or refresh.get("ver") != user.token_version
        ):
            raise TokenRevoked()
        if user.is_paused:
            raise AccountPaused()
        if not user.is_active:
            raise TokenRevoked()
        # Rotation: the presented refresh token is blacklisted and a new pair issued.
        refresh.blacklist()
        return Response(TokenPairSerializer(tokens_for(user)).data)


class LogoutView(PublicAuthView):
    @extend_schema(
        summary="Sign out: the refresh token stops working",
        request=RefreshSerializer,
        responses={204: None},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(data.validated_data["refresh"])
            if refresh.get("tid") != str(require_current_tenant_id()):
                raise TokenRevoked()
            refresh.blacklist()
        except TokenError as exc:
            raise TokenRevoked() from exc
        services.security_log.info("logged_out", user_id=str(refresh.get("user_id")))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeSerializer(serializers.Serializer[Any]):
    current_password = serializers.CharField(write_only=True)
    new_password = serializers.CharField(write_only=True)


class PasswordResetConfirmSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(max_length=200)
    new_password = serializers.CharField(write_only=True)


def _weak_password(exc: DjangoValidationError, field: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: exc.messages})


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "login"

    @extend_schema(
        summary="Change the password",
        description="Every token of the account stops working at once; a new pair is returned.",
        request=PasswordChangeSerializer,
        responses={200: TokenPairSerializer},
    )
    def post(self, request: Request, version: str) -> Response:
        data = PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.user_password_change(
                user=request.user,  # type: ignore[arg-type]
                current_password=data.validated_data["current_password"],
                new_password=data.validated_data["new_password"],
            )
        except DjangoValidationError as exc:
            raise _weak_password(exc, "new_password") from exc
        return Response(TokenPairSerializer(tokens_for(user)).data)


class PasswordResetView(PublicAuthView):
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Email a password reset link",
        description="Always answers 202, whether or not an account has this email.",
        request=EmailSerializer,
        responses={202: None},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = EmailSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_password_reset_request(email=data.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(PublicAuthView):
    throttle_scope = "password_reset"

    @extend_schema(
        summary="Set a new password with the emailed token",
        description="Every token of the account stops working at once.",
        request=PasswordResetConfirmSerializer,
        responses={204: None},
        auth=[],
    )
    def post(self, request: Request, version: str) -> Response:
        data = PasswordResetConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.user_password_reset_confirm(
                token=data.validated_data["token"],
                new_password=data.validated_data["new_password"],
            )
        except DjangoValidationError as exc:
            raise _weak_password(exc, "new_password") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("auth/password/change/", PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset/", PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "auth/password/reset/confirm/",
        PasswordResetConfirmView.as_view(),
        name="auth-password-reset-confirm",
    ),
    path("auth/register/", RegisterView.as_view(), name="auth-register"),
    path("auth/verify-email/", VerifyEmailView.as_view(), name="auth-verify-email"),
    path(
        "auth/resend-verification/",
        ResendVerificationView.as_view(),
        name="auth-resend-verification",
    ),
    path("auth/token/", TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", LogoutView.as_view(), name="auth-logout"),
]
