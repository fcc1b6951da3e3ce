"""Writes for a customer's profile: names, phone and locale, addresses and the avatar."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from typing import IO, Any, TypedDict, cast

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from emporium.accounts.images import avatar_process
from emporium.accounts.models import Address, Avatar, User
from emporium.core.errors import ApplicationError
from emporium.core.logging import get_logger

log = get_logger(__name__)

ADDRESS_LIMIT = 50

# ISO 3166-1 alpha-2 (officially assigned codes). Django has no list of its own, and
# phonenumbers' regions include non-ISO ones (AC, TA, XK) and miss some territories.
_COUNTRY_CODES_TEXT = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_COUNTRY_CODES_TEXT.split())


class AddressLimitReached(ApplicationError):
    status = 400
    code = "address_limit_reached"
    title = cast(str, _("An account can keep at most 50 addresses; delete one first."))


class AddressFields(TypedDict, total=False):
    """Writable address fields (a PATCH sends any subset)."""

    label: str
    first_name: str
    last_name: str
    company: str
    line1: str
    line2: str
    city: str
    postal_code: str
    region: str
    country: str
    phone: str
    is_default_shipping: bool
    is_default_billing: bool


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """A phone number in E.164 (`+4930123456`), or "" for an empty one.

    Without `region` the number must start with + and the country code. Raises a
    `ValidationError` with code `invalid_phone`.
    """
    raw = raw.strip()
    if not raw:
        return ""
    invalid = ValidationError(_("Enter a valid phone number, e.g. +4930123456."), "invalid_phone")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise invalid from exc
    if not phonenumbers.is_valid_number(number):
        raise invalid
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _lock_user(user_id: uuid.UUID) -> None:
    """Serialise a user's profile writes (address limit, defaults, avatar) on the user row."""
    list(User.objects.select_for_update().filter(id=user_id).values_list("id", flat=True))


@transaction.atomic
def user_profile_update(
    *,
    user: User,
    first_name: str | None = None,
    last_name: str | None = None,
    phone: str | None = None,
    locale: str | None = None,
) -> User:
    """Change the given profile fields (None leaves a field alone); the phone is stored in
    E.164. Raises `ValidationError` keyed by field."""
    changes: dict[str, str] = {}
    if first_name is not None:
        changes["first_name"] = first_name.strip()
    if last_name is not None:
        changes["last_name"] = last_name.strip()
    if locale is not None:
        changes["locale"] = locale
    if phone is not None:
        try:
            changes["phone"] = phone_normalize(phone)
        except ValidationError as exc:
            raise ValidationError({"phone": exc}) from exc
    changed = [name for name, value in changes.items() if getattr(user, name) != value]
    if not changed:
        return user
    for name in changed:
        setattr(user, name, changes[name])
    user.save(update_fields=[*changed, "updated_at"])  # User.save also clears the user cache
    return user


def _clean_address(data: Mapping[str, Any], *, current: Address | None = None) -> dict[str, Any]:
    """Normalised address fields: country upper-case and known, phone in E.164 (parsed in
    the address's country when it has no + prefix). Raises `ValidationError` keyed by field."""
    cleaned = dict(data)
    errors: dict[str, ValidationError] = {}
    if "country" in cleaned:
        cleaned["country"] = str(cleaned["country"]).strip().upper()
        if cleaned["country"] not in COUNTRY_CODES:
            errors["country"] = ValidationError(
                _("Enter a country as an ISO 3166-1 alpha-2 code, e.g. DE."), "invalid_country"
            )
    country = cleaned.get("country") or (current.country if current else None)
    if "phone" in cleaned and "country" not in errors:
        try:
            cleaned["phone"] = phone_normalize(str(cleaned["phone"]), region=country)
        except ValidationError as exc:
            errors["phone"] = exc
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clear_other_defaults(address: Address) -> None:
    """At most one default of each kind: clear the flag on the user's other addresses first
    (the partial unique constraints would refuse a second one)."""
    others = Address.objects.filter(user_id=address.user_id).exclude(id=address.id)
    if address.is_default_shipping:
        others.filter(is_default_shipping=True).update(is_default_shipping=False)
    if address.is_default_billing:
        others.filter(is_default_billing=True).update(is_default_billing=False)


@transaction.atomic
def address_create(*, user: User, data: AddressFields) -> Address:
    """Add an address to the user's address book (at most `ADDRESS_LIMIT`); making it a
    default clears that default on the other addresses."""
    cleaned = _clean_address(data)
    _lock_user(user.id)
    if Address.objects.filter(user=user).count() >= ADDRESS_LIMIT:
        raise AddressLimitReached()
    address = Address(user=user, **cleaned)
    _clear_other_defaults(address)
    address.save()
    return address


@transaction.atomic
def address_update(*, address: Address, data: AddressFields) -> Address:
    """Change the given fields of an address; making it a default clears that default on the
    user's other addresses."""
    cleaned = _clean_address(data, current=address)
    _lock_user(address.user_id)
    for name, value in cleaned.items():
        setattr(address, name, value)
    _clear_other_defaults(address)
    address.save()
    return address


@transaction.atomic
def address_delete(*, address: Address) -> None:
    """Remove an address (if it was a default, the user has no default of that kind)."""
    address.delete()


def avatar_set(*, user: User, file: IO[bytes], size: int | None = None) -> Avatar:
    """Check, re-encode and store a new avatar for `user`, replacing the old one (whose files
    are deleted after the commit). Raises `AvatarTooLarge`, `AvatarBadFormat` or
    `AvatarDimensions` before anything is stored."""
    processed = avatar_process(file, size=size)
    base = f"avatars/{user.tenant_id}/{user.id}/{secrets.token_hex(16)}"
    image_path = default_storage.save(f"{base}.webp", ContentFile(processed.image))
    thumbnail_path = default_storage.save(f"{base}-thumb.webp", ContentFile(processed.thumbnail))
    try:
        with transaction.atomic():
            _lock_user(user.id)
            avatar: Avatar | None = Avatar.objects.filter(user=user).first()
            old_paths: list[str] = []
            if avatar is None:
                avatar = Avatar(user=user)
            else:
                old_paths = [avatar.image_path, avatar.thumbnail_path]
            avatar.image_path = image_path
            avatar.thumbnail_path = thumbnail_path
            avatar.width = processed.width
            avatar.height = processed.height
            avatar.save()
            if old_paths:
                transaction.on_commit(lambda: _delete_files(old_paths))
    except BaseException:
        _delete_files([image_path, thumbnail_path])
        raise
    return avatar


@transaction.atomic
def avatar_delete(*, user: User) -> bool:
    """Remove the user's avatar (files deleted after the commit); False if there was none."""
    _lock_user(user.id)
    avatar = Avatar.objects.filter(user=user).first()
    if avatar is None:
        return False
    paths = [avatar.image_path, avatar.thumbnail_path]
    avatar.delete()
    transaction.on_commit(lambda: _delete_files(paths))
    return True


def _delete_files(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(path)
        except OSError:
            # A leftover file is harmless; a failed request because of it is not.
            log.warning("avatar_file_not_deleted", path=path)
