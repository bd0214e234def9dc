"""What may leave the store as a link or a number, whatever an incident's evidence holds: the
console and every notification channel read evidence through these, so a value stored before
validation (or by another writer) is shown harmlessly or not at all."""

from __future__ import annotations

import math
import re
from typing import Final
from urllib.parse import urlsplit

MAX_URL: Final = 2000
_UNSAFE_IN_URL: Final = re.compile(r"[\s<>|\"'`\\\x00-\x1f\x7f]")
"""Characters that end a link in Slack's ``<url|text>``, an HTML attribute, or a header."""


def safe_url(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL with nothing that could break out of a
    link (Slack's ``|`` and ``>``, quotes, spaces, control characters); else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return None
    if _UNSAFE_IN_URL.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return value


def number(value: object) -> float | None:
    """A finite real number (not a bool, not a numeric string); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def one_line(value: object) -> str:
    """Text for a header or a one-line field: CR, LF and other control characters become
    spaces (an email header with a line break would not be sent at all)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(value)).strip()
