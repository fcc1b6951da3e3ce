"""Reads for notification preferences and consents.

The rule for marketing: a marketing message goes out on a channel only when the user enabled
that channel for `marketing` in their notification preferences AND their latest consent record
for the channel's purpose (`marketing_email`, `marketing_sms`, `marketing_push`) grants it.
Either one alone is not enough: the preference says how the user wants to hear from the shop,
the consent is the legal permission, recorded with time, source and policy version.
"""

from __future__ import annotations

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from emporium.accounts.models import (
    ConsentPurpose,
    ConsentRecord,
    NotificationChannel,
    NotificationEvent,
    NotificationPreference,
    User,
)
from emporium.accounts.models.preferences import NOTIFICATION_DEFAULTS, REQUIRED_CHANNELS

# The consent purpose a marketing message on each channel needs.
MARKETING_CONSENT_FOR_CHANNEL: dict[str, str] = {
    NotificationChannel.EMAIL: ConsentPurpose.MARKETING_EMAIL,
    NotificationChannel.SMS: ConsentPurpose.MARKETING_SMS,
    NotificationChannel.PUSH: ConsentPurpose.MARKETING_PUSH,
}

NotificationMatrix = dict[str, dict[str, bool]]


def notification_preferences_get(*, user: User) -> NotificationMatrix:
    """The user's full matrix `{event: {channel: enabled}}`: stored choices over the defaults.

    Required channels (account security email) are always on, whatever is stored.
    """
    enabled = dict(NOTIFICATION_DEFAULTS)
    stored = NotificationPreference.objects.filter(user=user).values_list(
        "event", "channel", "enabled"
    )
    for event, channel, value in stored:
        if (event, channel) in enabled:  # ignore rows for events or channels since retired
            enabled[(event, channel)] = value
    for required in REQUIRED_CHANNELS:
        enabled[required] = True
    return {
        event: {channel: enabled[(event, channel)] for channel in NotificationChannel.values}
        for event in NotificationEvent.values
    }


def notification_channels_for(*, user: User, event: str) -> set[str]:
    """The channels on which `user` may be sent a message about `event` (empty when none).

    For `marketing`, a channel also needs a current granted consent for its purpose (see the
    module docstring). Raises `ValueError` for an unknown event: a typo must not silently mute
    (or send) messages.
    """
    if event not in NotificationEvent.values:
        raise ValueError(f"Unknown notification event {event!r}")
    matrix = notification_preferences_get(user=user)
    channels = {channel for channel, enabled in matrix[event].items() if enabled}
    if event == NotificationEvent.MARKETING and channels:
        granted = {
            purpose
            for purpose, record in consent_current_for(user=user).items()
            if record is not None and record.granted
        }
        channels = {c for c in channels if MARKETING_CONSENT_FOR_CHANNEL[c] in granted}
    return channels


def consent_current_for(*, user: User) -> dict[str, ConsentRecord | None]:
    """The latest consent record of `user` for each purpose (None: never asked), one query."""
    ranked = ConsentRecord.objects.filter(user=user).annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("purpose")],
            order_by=[F("created_at").desc(), F("id").desc()],
        )
    )
    current: dict[str, ConsentRecord | None] = dict.fromkeys(ConsentPurpose.values)
    for record in ranked.filter(rank=1):
        if record.purpose in current:
            current[record.purpose] = record
    return current


def consent_is_granted(*, user: User, purpose: str) -> bool:
    """Whether the user's latest consent record for `purpose` grants it (False if none)."""
    latest = (
        ConsentRecord.objects.filter(user=user, purpose=purpose)
        .order_by("-created_at", "-id")
        .values_list("granted", flat=True)
        .first()
    )
    return bool(latest)


def consent_history_for(*, user: User) -> QuerySet[ConsentRecord]:
    """Every consent record of `user`, newest first (stable order for pagination)."""
    records: QuerySet[ConsentRecord] = ConsentRecord.objects.filter(user=user)
    return records.order_by("-created_at", "-id")
