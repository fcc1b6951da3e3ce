"""Writes for notification preferences and consents."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from emporium.accounts.models import (
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    NotificationChannel,
    NotificationEvent,
    NotificationPreference,
    User,
)
from emporium.accounts.models.preferences import REQUIRED_CHANNELS
from emporium.accounts.selectors_preferences import NotificationMatrix
from emporium.core.errors import ApplicationError

USER_AGENT_MAX_LENGTH = 256


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field of a request: `field` is a dotted path like `marketing.sms`."""

    field: str
    code: str
    message: str


class PreferencesInvalid(ApplicationError):
    """The matrix has invalid fields; `problems` names each of them."""

    status = 400
    code = "validation_error"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(str(_("The request has invalid fields.")))
        self.problems = problems


@transaction.atomic
def notification_preferences_replace(
    *, user: User, preferences: Mapping[str, Mapping[str, bool]]
) -> NotificationMatrix:
    """Replace the user's whole matrix `{event: {channel: enabled}}`; returns the new matrix.

    Every event and channel must be given, and nothing else; required channels (account
    security email) must stay on. Raises `PreferencesInvalid` naming every bad field.
    """
    problems = _matrix_problems(preferences)
    if problems:
        raise PreferencesInvalid(problems)
    matrix: NotificationMatrix = {
        event: {
            channel: bool(preferences[event][channel]) for channel in NotificationChannel.values
        }
        for event in NotificationEvent.values
    }
    rows = [
        NotificationPreference(
            tenant_id=user.tenant_id, user=user, event=event, channel=channel, enabled=enabled
        )
        for event, channels in matrix.items()
        for channel, enabled in channels.items()
    ]
    # One upsert: concurrent replacements cannot trip over the unique constraint.
    NotificationPreference.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["tenant", "user", "event", "channel"],
        update_fields=["enabled", "updated_at"],
    )
    return matrix


def _matrix_problems(preferences: Mapping[str, Mapping[str, bool]]) -> list[FieldProblem]:
    problems = [
        FieldProblem(str(event), "unknown_event", str(_("Unknown notification event.")))
        for event in preferences
        if event not in NotificationEvent.values
    ]
    for event in NotificationEvent.values:
        channels = preferences.get(event)
        if channels is None:
            problems.append(FieldProblem(event, "required", str(_("This field is required."))))
            continue
        problems.extend(
            FieldProblem(f"{event}.{channel}", "unknown_channel", str(_("Unknown channel.")))
            for channel in channels
            if channel not in NotificationChannel.values
        )
        for channel in NotificationChannel.values:
            field = f"{event}.{channel}"
            if channel not in channels:
                problems.append(FieldProblem(field, "required", str(_("This field is required."))))
            elif not channels[channel] and (event, channel) in REQUIRED_CHANNELS:
                message = str(_("This channel cannot be turned off."))
                problems.append(FieldProblem(field, "required_channel", message))
    return problems


@transaction.atomic
def consent_record_create(
    *,
    user: User,
    purpose: str,
    granted: bool,
    source: str,
    policy_version: str,
    ip_address: str | None,
    user_agent: str,
) -> ConsentRecord:
    """Append a grant or withdrawal of consent to the user's history; it is current from now.

    `ip_address` that is not a valid address (e.g. "unknown") is stored as empty; the user
    agent is cut to 256 characters.
    """
    if purpose not in ConsentPurpose.values:
        raise ValueError(f"Unknown consent purpose {purpose!r}")
    if source not in ConsentSource.values:
        raise ValueError(f"Unknown consent source {source!r}")
    record: ConsentRecord = ConsentRecord.objects.create(
        user=user,
        purpose=purpose,
        granted=granted,
        source=source,
        policy_version=policy_version.strip()[:20],
        ip_address=_valid_ip(ip_address),
        user_agent=user_agent[:USER_AGENT_MAX_LENGTH],
    )
    return record


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
