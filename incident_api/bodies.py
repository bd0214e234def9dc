"""What every request body is built from: no NUL anywhere, no unknown field, ISO 8601 only."""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

Name = Field(min_length=1, max_length=200)
ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def iso_8601_only(value: object) -> object:
    """pydantic would read "0.5" as a Unix timestamp; the API promises ISO 8601 only."""
    if isinstance(value, str) and not ISO_DATE_TIME.match(value):
        raise ValueError("expected an ISO 8601 date-time with a UTC offset")
    return value


class NoNul(BaseModel):
    """No text anywhere in the body (nested JSON included) holds a NUL character: PostgreSQL can
    store none in text or jsonb, so it would fail at the database instead of here (a 500 found
    by tests/api/test_security.py)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


class Strict(NoNul):
    """Unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
