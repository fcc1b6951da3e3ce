"""Embedded email delivery: each message is written under var/mail and noted in the log."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.mail.backends.filebased import EmailBackend
from django.core.mail.message import EmailMessage

from emporium.core.logging import get_logger

log = get_logger(__name__)


class FileAndLogEmailBackend(EmailBackend):
    """Django's file backend plus one log line per message (subject only: addresses are PII)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = super().send_messages(email_messages)
        for message in email_messages:
            log.info(
                "email_written",
                subject=message.subject,
                recipients=len(message.recipients()),
                path=str(self._fname) if hasattr(self, "_fname") else None,
            )
        return sent
