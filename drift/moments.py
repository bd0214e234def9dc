"""What a profile keeps for multivariate drift: the second moments of its encoded columns, as
exact parts, so that profiles merge like their columns' sums do (:mod:`drift.multivariate`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drift.errors import STRICT_FIELDS

HASH_BUCKETS: Final = 4
"""Indicator columns each categorical feature is hashed into (crc32 of the level, modulo)."""
MAX_ENCODED: Final = 64
"""Encoded columns a multivariate profile may hold: a numeric feature counts one, a
categorical one HASH_BUCKETS."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Moments:
    """The rows' count, each encoded column's sum and every pair's sum of products (the upper
    triangle, row by row), each as exact parts. A reference also keeps its parts' errors
    against its own PCA (``part_errors``, with their ``part_rows``): the spread the current's
    error is judged by."""

    __pydantic_config__ = STRICT_FIELDS
    columns: list[str]
    """Encoded columns: a numeric feature's name, or ``feature#bucket``."""
    features: list[str]
    """The feature each encoded column comes from."""
    rows: int
    sums: list[list[float]]
    products: list[list[float]]
    part_errors: list[float] | None = None
    part_rows: list[int] | None = None
