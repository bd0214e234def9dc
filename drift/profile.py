"""Profiles: what drift/ remembers about a snapshot, in a mergeable, JSON-serialisable form.

A profile is built once per snapshot in a single streaming pass (see :mod:`drift.profiler`).
Numeric columns keep exact moments plus the fine sketch of :mod:`drift.sketch`; categorical
columns keep exact level counts. Because both are plain counts, two profiles built with the
same anchors merge by addition, and a saved reference can be re-binned for any binning method
without touching the data again.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drift import sketch
from drift.errors import DriftInputError, first_problem

FORMAT: Final = "driftwatch-profile"
FORMAT_VERSION: Final = 1
DEFAULT_BINS: Final = 10
DEFAULT_TOP_K: Final = 50
CANCELLATION: Final = 64 * float(np.finfo(np.float64).eps)
"""Relative rounding noise of E[x²] − E[x]² (pairwise sums of each batch, added per batch)."""
MAX_LEVELS: Final = 10_000
"""Distinct levels kept exactly per categorical column; rarer ones fold into ``other``."""


class Binning(StrEnum):
    QUANTILE = "quantile"
    EQUAL_WIDTH = "equal-width"
    EVIDENTLY = "evidently"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PinnedBins(_Frozen):
    """Bins fixed on the reference: bucket-key cuts, their values, and the reference counts."""

    binning: Binning
    n_bins: int
    cuts: list[int]
    edges: list[float]
    counts: list[int]


class NumericProfile(_Frozen):
    kind: Literal["numeric"] = "numeric"
    dtype: str
    rows: int
    missing: int = Field(description="null or NaN values")
    finite: int = Field(description="values that enter sum, sum_sq, min and max")
    sum: float
    sum_sq: float
    min: float | None
    max: float | None
    anchor: float | None = Field(description="sketch origin; None until a value was seen")
    sketch_keys: list[int]
    sketch_counts: list[int]
    bins: PinnedBins | None = None

    @property
    def present(self) -> int:
        return self.rows - self.missing

    @property
    def mean(self) -> float | None:
        return self.sum / self.finite if self.finite else None

    @property
    def std(self) -> float | None:
        """From the moments; a variance within the rounding noise of ``sum_sq`` is zero, so a
        constant column reads as constant rather than as a spread of 1e-8."""
        if not self.finite:
            return None
        mean = self.sum / self.finite
        mean_sq = self.sum_sq / self.finite
        variance = mean_sq - mean * mean
        if variance <= CANCELLATION * mean_sq:
            return 0.0
        return float(np.sqrt(variance))

    def sketch_arrays(self) -> tuple[sketch.KeyArray, sketch.CountArray]:
        return (
            np.asarray(self.sketch_keys, dtype=np.int64),
            np.asarray(self.sketch_counts, dtype=np.int64),
        )


class CategoricalProfile(_Frozen):
    kind: Literal["categorical"] = "categorical"
    dtype: str
    rows: int
    missing: int = Field(description="null values")
    levels: dict[str, int]
    other: int = Field(0, description=f"values of levels beyond the {MAX_LEVELS:,} most frequent")

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def top(self, k: int) -> list[str]:
        """The k most frequent levels, ties broken by level so the choice is reproducible."""
        ranked = sorted(self.levels.items(), key=lambda item: (-item[1], item[0]))
        return [level for level, _ in ranked[:k]]


class UnsupportedProfile(_Frozen):
    kind: Literal["unsupported"] = "unsupported"
    dtype: str
    rows: int


ColumnProfile = Annotated[
    NumericProfile | CategoricalProfile | UnsupportedProfile, Field(discriminator="kind")
]


class Profile(_Frozen):
    format: Literal["driftwatch-profile"] = FORMAT
    format_version: Literal[1] = FORMAT_VERSION
    source: str | None = None
    rows: int
    binning: Binning = Binning.QUANTILE
    n_bins: int = Field(DEFAULT_BINS, ge=2, le=1000)
    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=MAX_LEVELS)
    columns: dict[str, ColumnProfile]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes, *, origin: str = "profile") -> Profile:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise DriftInputError(
                f"{origin}: not a valid driftwatch profile ({first_problem(exc)})"
            ) from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise DriftInputError(f"{path}: cannot read profile ({exc.strerror})") from None
        return cls.from_json(text, origin=str(path))

    @property
    def anchors(self) -> dict[str, float]:
        return {
            name: col.anchor
            for name, col in self.columns.items()
            if isinstance(col, NumericProfile) and col.anchor is not None
        }


def fold_levels(
    counts: Mapping[str, int], other: int, limit: int = MAX_LEVELS
) -> tuple[dict[str, int], int]:
    """Keep the ``limit`` most frequent levels; the rest add to ``other``."""
    if len(counts) <= limit:
        return dict(counts), other
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:limit])
    return kept, other + sum(n for _, n in ranked[limit:])
