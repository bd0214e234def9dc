"""Errors that mean "the input is wrong", as opposed to a bug: the CLI turns them into exit 2."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pydantic import ValidationError


class DriftInputError(ValueError):
    """A missing or unreadable file, a corrupt profile, an unknown column or a bad option."""


def first_problem(exc: ValidationError) -> str:
    """The first validation problem as ``field.path: message`` for a one-line error."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    return f"{where}: {first['msg']}"


STRICT_FIELDS: Final = {"extra": "forbid"}
"""pydantic's config (``__pydantic_config__``) for drift's dataclasses where JSON or a config
file crosses into them: an unknown field is a mistake, not something to ignore."""
