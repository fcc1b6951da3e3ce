"""Notification preferences and consents of the signed-in user: /api/<version>/me/..."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.accounts import selectors_preferences as selectors
from emporium.accounts import services_preferences as services
from emporium.accounts.models import (
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    User,
)
from emporium.core.caching import cache_headers
from emporium.core.callers import client_ip
from emporium.core.pagination import PageNumberPagination

PREFERENCES_DESCRIPTION = """\
Which messages you receive, per event and channel (`email`, `sms`, `push`).

Defaults, until you change them:

| event | email | sms | push |
|---|---|---|---|
| `order_status` | on | off | on |
| `shipping` | on | off | on |
| `marketing` | off | off | off |
| `account_security` | on (always) | off | off |

`account_security.email` cannot be turned off (400 `required_channel`). Marketing is opt-in:
a marketing message is only sent on a channel that is on here **and** whose consent
(`marketing_email`, `marketing_sms`, `marketing_push`, see `me/consents/`) is currently granted.
"""

CONSENTS_DESCRIPTION = """\
Your consents: `current` holds the decision in effect for each purpose (the latest record, or
null if you were never asked), `history` every grant and withdrawal, newest first, paginated
with `page` and `page_size` (default 20, at most 100). Records are never changed or deleted:
a new decision is a new record.
"""


class RejectUnknownFieldsMixin(serializers.Serializer[Any]):
    """Unknown keys are errors (DRF ignores them by default): a typo must not go unnoticed."""

    unknown_code = "unknown_field"
    unknown_message = _("Unknown field.")

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, Any] = {}
        if isinstance(data, Mapping):
            errors = {
                str(key): [ErrorDetail(str(self.unknown_message), code=self.unknown_code)]
                for key in data
                if key not in self.fields
            }
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            errors = {**exc.detail, **errors}
        if errors:
            raise ValidationError(errors)
        return value


class NotificationChannelsSerializer(RejectUnknownFieldsMixin):
    unknown_code = "unknown_channel"
    unknown_message = _("Unknown channel.")

    email = serializers.BooleanField()
    sms = serializers.BooleanField()
    push = serializers.BooleanField()


class NotificationPreferencesSerializer(RejectUnknownFieldsMixin):
    """The whole matrix: every event with every channel."""

    unknown_code = "unknown_event"
    unknown_message = _("Unknown notification event.")

    order_status = NotificationChannelsSerializer(
        help_text="Order placed, paid, cancelled, refunded."
    )
    shipping = NotificationChannelsSerializer(help_text="Shipped, out for delivery, delivered.")
    marketing = NotificationChannelsSerializer(
        help_text="Offers and newsletters; also needs the matching consent."
    )
    account_security = NotificationChannelsSerializer(
        help_text="Sign-ins, password and email changes; `email` is always true."
    )


class ConsentCreateSerializer(serializers.Serializer[Any]):
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    granted = serializers.BooleanField(help_text="true grants, false withdraws.")
    # DRF pops declared fields off the class, so shadowing Field.source is harmless.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=ConsentSource.choices, help_text="Where the user made this decision."
    )
    policy_version = serializers.CharField(
        max_length=20, help_text="Version of the privacy policy the user was shown."
    )


class ConsentRecordSerializer(serializers.ModelSerializer[ConsentRecord]):
    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "purpose",
            "granted",
            "source",
            "policy_version",
            "ip_address",
            "user_agent",
            "created_at",
        ]
        read_only_fields = fields


class ConsentStateSerializer(serializers.Serializer[Any]):
    granted = serializers.BooleanField()
    since = serializers.DateTimeField(
        source="created_at", help_text="When this decision was recorded."
    )
    policy_version = serializers.CharField()


class ConsentCurrentSerializer(serializers.Serializer[Any]):
    marketing_email = ConsentStateSerializer(allow_null=True)
    marketing_sms = ConsentStateSerializer(allow_null=True)
    marketing_push = ConsentStateSerializer(allow_null=True)
    profiling = ConsentStateSerializer(allow_null=True)


class ConsentsSerializer(serializers.Serializer[Any]):
    current = ConsentCurrentSerializer()
    count = serializers.IntegerField(help_text="Number of records in the whole history.")
    next = serializers.URLField(allow_null=True, help_text="The next history page.")
    previous = serializers.URLField(allow_null=True, help_text="The previous history page.")
    history = ConsentRecordSerializer(many=True)


def _user(request: Request) -> User:
    # IsAuthenticated has run: the user is a signed-in User of the current tenant.
    return cast(User, request.user)


@method_decorator(cache_headers(public=False), name="dispatch")
class NotificationPreferencesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Your notification preferences",
        description=PREFERENCES_DESCRIPTION,
        responses={200: NotificationPreferencesSerializer},
    )
    def get(self, request: Request, version: str) -> Response:
        matrix = selectors.notification_preferences_get(user=_user(request))
        return Response(NotificationPreferencesSerializer(matrix).data)

    @extend_schema(
        summary="Replace your notification preferences",
        description=PREFERENCES_DESCRIPTION
        + "\nSend the whole matrix: every event with every channel; unknown names are "
        "rejected (`unknown_event`, `unknown_channel`).",
        request=NotificationPreferencesSerializer,
        responses={200: NotificationPreferencesSerializer},
    )
    def put(self, request: Request, version: str) -> Response:
        data = NotificationPreferencesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            matrix = services.notification_preferences_replace(
                user=_user(request), preferences=data.validated_data
            )
        except services.PreferencesInvalid as exc:
            raise ValidationError(
                {p.field: [ErrorDetail(p.message, code=p.code)] for p in exc.problems}
            ) from exc
        return Response(NotificationPreferencesSerializer(matrix).data)


@method_decorator(cache_headers(public=False), name="dispatch")
class ConsentsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Your consents: the current state and the history",
        description=CONSENTS_DESCRIPTION,
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, description="History page, from 1."),
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="Records per page (at most 100)."
            ),
        ],
        responses={200: ConsentsSerializer},
    )
    def get(self, request: Request, version: str) -> Response:
        user = _user(request)
        paginator = PageNumberPagination()
        history = paginator.paginate_queryset(
            selectors.consent_history_for(user=user), request, view=self
        )
        body = {
            "current": selectors.consent_current_for(user=user),
            "count": paginator.page.paginator.count if paginator.page is not None else 0,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "history": history or [],
        }
        return Response(ConsentsSerializer(body).data)

    @extend_schema(
        summary="Grant or withdraw a consent",
        description="Appends a record to your consent history, with the time, your IP address "
        "and user agent; it becomes the current decision for its purpose.",
        request=ConsentCreateSerializer,
        responses={201: ConsentRecordSerializer},
    )
    def post(self, request: Request, version: str) -> Response:
        data = ConsentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = services.consent_record_create(
            user=_user(request),
            ip_address=client_ip(request._request),
            user_agent=request.headers.get("User-Agent", ""),
            **data.validated_data,
        )
        return Response(ConsentRecordSerializer(record).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path(
        "me/notification-preferences/",
        NotificationPreferencesView.as_view(),
        name="me-notification-preferences",
    ),
    path("me/consents/", ConsentsView.as_view(), name="me-consents"),
]
