"""Review text as stored: plain text, markup removed, surrounding whitespace trimmed."""

from __future__ import annotations

from django.utils.html import strip_tags


def review_text_clean(value: str) -> str:
    """`value` without HTML tags and comments (Django's `strip_tags`; neither bleach nor nh3 is
    a dependency) and without leading or trailing whitespace. Entities stay as typed: the API
    returns JSON, clients escape on output."""
    return strip_tags(value).strip()
