"""Profiles: what drift/ remembers about a snapshot, in a mergeable, JSON-serialisable form.

A profile is built once per snapshot in a single streaming pass (see :mod:`drift.profiler`).
Numeric columns keep exact moments plus the fine sketch of :mod:`drift.sketch`; categorical
columns keep exact level counts. Because both are plain counts, two profiles built with the
same anchors merge by addition, and a saved reference can be re-binned for any binning method
without touching the data again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

from drift import sketch
from drift.errors import STRICT_FIELDS, DriftInputError, first_problem
from drift.moments import Moments

if TYPE_CHECKING:
    from pydantic import TypeAdapter

FORMAT: Final = "driftwatch-profile"
FORMAT_VERSION: Final = 1
DEFAULT_BINS: Final = 10
DEFAULT_TOP_K: Final = 50
CANCELLATION: Final = 64 * float(np.finfo(np.float64).eps)
"""Relative rounding noise of E[x²] − E[x]² (pairwise sums of each batch, added per batch)."""
MAX_BINS: Final = 1000
MAX_LEVELS: Final = 10_000
"""Distinct levels kept exactly per categorical column; rarer ones fold into ``other``."""


class Binning(StrEnum):
    QUANTILE = "quantile"
    EQUAL_WIDTH = "equal-width"
    EVIDENTLY = "evidently"


# Plain frozen dataclasses: a scan builds and reads them without importing pydantic, which
# validates them only where JSON crosses in or out (``Profile.from_json``/``to_json``).


@dataclass(frozen=True, kw_only=True, slots=True)
class PinnedBins:
    """Bins fixed on the reference: bucket-key cuts, their values, and the reference counts."""

    __pydantic_config__ = STRICT_FIELDS

    binning: Binning
    n_bins: int
    cuts: list[int]
    edges: list[float]
    counts: list[int]


@dataclass(frozen=True, kw_only=True, slots=True)
class NumericProfile:
    __pydantic_config__ = STRICT_FIELDS
    kind: Literal["numeric"] = "numeric"
    dtype: str
    rows: int
    missing: int
    """Null or NaN values."""
    finite: int
    """Values that enter sum, sum_sq, min and max."""
    sum: float
    sum_sq: float
    min: float | None
    max: float | None
    anchor: float | None
    """Sketch origin; None until a value was seen."""
    sketch_keys: list[int]
    sketch_counts: list[int]
    bins: PinnedBins | None = None
    sum_parts: list[float] | None = None
    """``sum`` exactly, as non-overlapping floats (:mod:`drift.exact`), so merges are exact;
    None in profiles saved before it was kept (they merge through ``sum``)."""
    sum_sq_parts: list[float] | None = None

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
        """The sketch as read-only arrays, converted once per list while it is in use (a
        rolling window reads each stored profile's sketch many times)."""
        return _int64s(self.sketch_keys), _int64s(self.sketch_counts)


@dataclass(frozen=True, kw_only=True, slots=True)
class CategoricalProfile:
    __pydantic_config__ = STRICT_FIELDS
    kind: Literal["categorical"] = "categorical"
    dtype: str
    rows: int
    missing: int
    """Null values."""
    levels: dict[str, int]
    other: int = 0
    """Values of levels beyond the MAX_LEVELS most frequent."""

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def top(self, k: int) -> list[str]:
        """The k most frequent levels, ties broken by level so the choice is reproducible."""
        ranked = sorted(self.levels.items(), key=lambda item: (-item[1], item[0]))
        return [level for level, _ in ranked[:k]]


@dataclass(frozen=True, kw_only=True, slots=True)
class UnsupportedProfile:
    __pydantic_config__ = STRICT_FIELDS
    kind: Literal["unsupported"] = "unsupported"
    dtype: str
    rows: int


ColumnProfile = NumericProfile | CategoricalProfile | UnsupportedProfile


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    __pydantic_config__ = STRICT_FIELDS
    format: Literal["driftwatch-profile"] = FORMAT
    format_version: Literal[1] = FORMAT_VERSION
    source: str | None = None
    rows: int
    binning: Binning = Binning.QUANTILE
    n_bins: int = DEFAULT_BINS
    top_k: int = DEFAULT_TOP_K
    columns: dict[str, ColumnProfile]
    segments: dict[str, dict[str, Profile]] | None = None
    """Per segment column, per level (the top ``segment_top_k`` and ``OTHER``), the profile of
    its rows (:mod:`drift.segments`); None when profiled without segments."""
    segment_top_k: int | None = None
    multivariate: Moments | None = None
    """Second moments of the encoded columns (:mod:`drift.multivariate`); None when profiled
    without them."""

    def __post_init__(self) -> None:
        if not 2 <= self.n_bins <= MAX_BINS:
            raise ValueError(f"n_bins must be from 2 to {MAX_BINS}, not {self.n_bins}")
        if not 1 <= self.top_k <= MAX_LEVELS:
            raise ValueError(f"top_k must be from 1 to {MAX_LEVELS}, not {self.top_k}")

    def to_json(self) -> str:
        return _adapter().dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes, *, origin: str = "profile") -> Profile:
        from pydantic import ValidationError

        try:
            return _adapter().validate_json(text)
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

    def numeric(self) -> dict[str, NumericProfile]:
        return {n: c for n, c in self.columns.items() if isinstance(c, NumericProfile)}

    @classmethod
    def grid(cls, anchors: Mapping[str, float]) -> Profile:
        """A profile of no rows holding only sketch anchors: profiles built ``like`` it share
        one grid and merge exactly, whatever else they saw."""
        columns: dict[str, ColumnProfile] = {
            name: NumericProfile(
                dtype="double",
                rows=0,
                missing=0,
                finite=0,
                sum=0.0,
                sum_sq=0.0,
                min=None,
                max=None,
                anchor=anchor,
                sketch_keys=[],
                sketch_counts=[],
            )
            for name, anchor in anchors.items()
        }
        return cls(source="grid", rows=0, columns=columns)

    @property
    def anchors(self) -> dict[str, float]:
        return {name: col.anchor for name, col in self.numeric().items() if col.anchor is not None}


_ARRAYS: OrderedDict[int, tuple[list[int], sketch.KeyArray]] = OrderedDict()
_ARRAYS_LOCK = threading.Lock()
CACHED_ELEMENTS: Final = 1 << 21
"""Sketch values kept converted, as int64 arrays (the newest lists' first)."""
_cached = [0]


def sketch_lists(keys: sketch.KeyArray, counts: sketch.CountArray) -> tuple[list[int], list[int]]:
    """A sketch computed as arrays, as a profile's lists; the arrays are remembered for them,
    so the next read of the sketch does not convert it back."""
    lists = keys.tolist(), counts.tolist()
    for values, array in zip(lists, (keys, counts), strict=True):
        _remember(values, array.astype(np.int64, copy=False))
    return lists


def _remember(values: list[int], array: sketch.KeyArray) -> sketch.KeyArray:
    array.flags.writeable = False
    key = id(values)
    with _ARRAYS_LOCK:
        if key not in _ARRAYS:
            _ARRAYS[key] = (values, array)
            _cached[0] += array.size
        while _cached[0] > CACHED_ELEMENTS and len(_ARRAYS) > 1:
            _cached[0] -= _ARRAYS.popitem(last=False)[1][1].size
    return array


def _int64s(values: list[int]) -> sketch.KeyArray:
    """``values`` as a read-only int64 array. Keyed by the list's identity, and the entry holds
    the list, so its id cannot be reused by another list while the entry lives."""
    key = id(values)
    with _ARRAYS_LOCK:
        hit = _ARRAYS.get(key)
        if hit is not None and hit[0] is values:
            _ARRAYS.move_to_end(key)
            return hit[1]
    return _remember(values, np.asarray(values, dtype=np.int64))


@cache
def _adapter() -> TypeAdapter[Profile]:
    from pydantic import TypeAdapter

    return TypeAdapter(Profile)


def fold_levels(
    counts: Mapping[str, int], other: int, limit: int = MAX_LEVELS
) -> tuple[dict[str, int], int]:
    """Keep the ``limit`` most frequent levels; the rest add to ``other``."""
    if len(counts) <= limit:
        return dict(counts), other
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:limit])
    return kept, other + sum(n for _, n in ranked[limit:])
