"""The caller's own profile under /api/<version>/me/: names, phone, locale, addresses, avatar."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emporium.accounts import selectors_profile, services_profile
from emporium.accounts.images import AvatarUploadLimit
from emporium.accounts.models import Address, Avatar, User


def _me(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


def _validation_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """A service's field errors as a DRF validation error, keeping their codes."""
    return exceptions.ValidationError(serializers.as_serializer_error(exc))


# --- Serializers ---------------------------------------------------------------------------


class AvatarSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(help_text="The avatar, WebP, at most 512x512.")
    thumbnail_url = serializers.URLField(help_text="A 128x128 WebP thumbnail.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class ProfileSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    email = serializers.EmailField(help_text="Read-only here.")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    phone = serializers.CharField(help_text='E.164, e.g. "+4930123456", or "".')
    locale = serializers.CharField(help_text='A language code (en, de, es), or "".')
    email_verified = serializers.BooleanField()
    avatar = AvatarSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class ProfileUpdateSerializer(serializers.Serializer[Any]):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text='International format with the country code ("+49 30 123456"); stored '
        'in E.164; "" removes it.',
    )
    locale = serializers.ChoiceField(
        choices=[code for code, _name in settings.LANGUAGES],
        required=False,
        allow_blank=True,
    )


class AddressSerializer(serializers.ModelSerializer[Address]):
    class Meta:
        model = Address
        fields = [
            "id",
            "label",
            "first_name",
            "last_name",
            "company",
            "line1",
            "line2",
            "city",
            "postal_code",
            "region",
            "country",
            "phone",
            "is_default_shipping",
            "is_default_billing",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AddressWriteSerializer(serializers.Serializer[Any]):
    """Address input. Optional fields left out of a PUT are reset to their defaults (a PATCH,
    being partial, ignores defaults and changes only what it sends)."""

    # Declared fields are moved off the class by DRF; only mypy sees a clash with Field.label.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=64, allow_blank=True, default=""
    )
    first_name = serializers.CharField(max_length=150, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, allow_blank=True, default="")
    company = serializers.CharField(max_length=150, allow_blank=True, default="")
    line1 = serializers.CharField(max_length=255)
    line2 = serializers.CharField(max_length=255, allow_blank=True, default="")
    city = serializers.CharField(max_length=128)
    postal_code = serializers.CharField(max_length=32, allow_blank=True, default="")
    region = serializers.CharField(max_length=128, allow_blank=True, default="")
    country = serializers.CharField(
        max_length=8, help_text="ISO 3166-1 alpha-2 code, e.g. DE (case-insensitive)."
    )
    phone = serializers.CharField(
        max_length=32,
        allow_blank=True,
        default="",
        help_text="Stored in E.164; a number without + is read in the address's country.",
    )
    is_default_shipping = serializers.BooleanField(default=False)
    is_default_billing = serializers.BooleanField(default=False)


class AvatarUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="JPEG, PNG or WebP (decided from the content), at most 2 MB, "
        "64x64 to 4096x4096 pixels."
    )


# --- Views ---------------------------------------------------------------------------------


def _avatar_body(request: Request, avatar: Avatar) -> dict[str, Any]:
    url, thumbnail_url = selectors_profile.avatar_urls(avatar=avatar)
    return {
        "url": request.build_absolute_uri(url),
        "thumbnail_url": request.build_absolute_uri(thumbnail_url),
        "width": avatar.width,
        "height": avatar.height,
    }


def _profile_body(request: Request, user: User) -> dict[str, Any]:
    avatar = selectors_profile.avatar_get_for_user(user=user)
    body = {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "locale": user.locale,
        "email_verified": user.is_email_verified,
        "avatar": _avatar_body(request, avatar) if avatar is not None else None,
        "created_at": user.created_at,
    }
    return ProfileSerializer(body).data


class MeView(APIView):
    @extend_schema(summary="Your profile", responses={200: ProfileSerializer})
    def get(self, request: Request, version: str) -> Response:
        return Response(_profile_body(request, _me(request)))

    @extend_schema(
        summary="Change your names, phone or locale",
        description="Only the fields sent change. An invalid phone number is refused with "
        "`errors[].code` `invalid_phone`.",
        request=ProfileUpdateSerializer,
        responses={200: ProfileSerializer},
    )
    def patch(self, request: Request, version: str) -> Response:
        data = ProfileUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services_profile.user_profile_update(user=_me(request), **data.validated_data)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        return Response(_profile_body(request, user))


class AddressListView(GenericAPIView[Address]):
    serializer_class = AddressSerializer

    @extend_schema(summary="Your addresses", responses={200: AddressSerializer(many=True)})
    def get(self, request: Request, version: str) -> Response:
        queryset = selectors_profile.address_list_for_user(user=_me(request))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(AddressSerializer(page, many=True).data)

    @extend_schema(
        summary="Add an address",
        description="At most 50 per account (`address_limit_reached`). Making it a default "
        "(shipping or billing) clears that default on your other addresses.",
        request=AddressWriteSerializer,
        responses={201: AddressSerializer},
    )
    def post(self, request: Request, version: str) -> Response:
        data = AddressWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            address = services_profile.address_create(user=_me(request), data=data.validated_data)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)


class AddressDetailView(APIView):
    def _address(self, request: Request, address_id: uuid.UUID) -> Address:
        address = selectors_profile.address_get_for_user(user=_me(request), address_id=address_id)
        if address is None:
            raise exceptions.NotFound(_("No such address."))
        return address

    @extend_schema(summary="One of your addresses", responses={200: AddressSerializer})
    def get(self, request: Request, version: str, address_id: uuid.UUID) -> Response:
        return Response(AddressSerializer(self._address(request, address_id)).data)

    @extend_schema(
        summary="Replace an address",
        request=AddressWriteSerializer,
        responses={200: AddressSerializer},
    )
    def put(self, request: Request, version: str, address_id: uuid.UUID) -> Response:
        return self._update(request, address_id, partial=False)

    @extend_schema(
        summary="Change some fields of an address",
        request=AddressWriteSerializer(partial=True),
        responses={200: AddressSerializer},
    )
    def patch(self, request: Request, version: str, address_id: uuid.UUID) -> Response:
        return self._update(request, address_id, partial=True)

    @extend_schema(summary="Delete an address", responses={204: None})
    def delete(self, request: Request, version: str, address_id: uuid.UUID) -> Response:
        services_profile.address_delete(address=self._address(request, address_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, address_id: uuid.UUID, *, partial: bool) -> Response:
        address = self._address(request, address_id)
        data = AddressWriteSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        try:
            address = services_profile.address_update(address=address, data=data.validated_data)
        except DjangoValidationError as exc:
            raise _validation_error(exc) from exc
        return Response(AddressSerializer(address).data)


class AvatarView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Upload your avatar",
        description="`multipart/form-data` with the image in the field `file`. The format is "
        "decided from the content (JPEG, PNG or WebP; the file name and declared type are "
        "ignored); at most 2 MB (413 `avatar_too_large`) and 64x64 to 4096x4096 pixels "
        "(`avatar_dimensions`); anything else is `avatar_bad_format`. The image is re-encoded "
        "to WebP without metadata (EXIF orientation applied), at most 512x512 plus a "
        "128x128 thumbnail, and replaces the previous avatar.",
        request={"multipart/form-data": AvatarUploadSerializer},
        responses={200: AvatarSerializer},
    )
    def put(self, request: Request, version: str) -> Response:
        user = _me(request)
        request.upload_handlers.insert(0, AvatarUploadLimit())
        data = AvatarUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        avatar = services_profile.avatar_set(user=user, file=upload, size=upload.size)
        return Response(_avatar_body(request, avatar))

    @extend_schema(summary="Remove your avatar", responses={204: None})
    def delete(self, request: Request, version: str) -> Response:
        services_profile.avatar_delete(user=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("me/addresses/", AddressListView.as_view(), name="me-addresses"),
    path(
        "me/addresses/<uuid:address_id>/",
        AddressDetailView.as_view(),
        name="me-address-detail",
    ),
    path("me/avatar/", AvatarView.as_view(), name="me-avatar"),
]
