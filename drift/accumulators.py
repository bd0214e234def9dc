"""Per-column accumulators: one streaming pass adds each batch's column, ``finish`` gives the
column's profile."""

from __future__ import annotations

from collections import Counter
from typing import Final

import numpy as np
import pyarrow as pa

from drift import exact, sketch
from drift.columns import ArrowColumn, as_float64, kind_of, level_counts, type_name
from drift.profile import (
    MAX_LEVELS,
    CategoricalProfile,
    NumericProfile,
    UnsupportedProfile,
    fold_levels,
)

ANCHOR_SAMPLE: Final = 16_384
"""Values of the first batch whose median anchors the sketch: any value amid the bulk gives
it its fine resolution, and the median of a whole row group is a costly part of profiling a
reference (docs/benchmarks.md, "Figures behind the code")."""


def anchor_of(values: sketch.FloatArray) -> float | None:
    """The sketch anchor a column's first values give: the median of an even-spaced sample of
    them, which puts the sketch's fine resolution on the bulk (0 when only ±inf were seen);
    None for nothing but NaN."""
    sample = values[:: max(1, values.size // ANCHOR_SAMPLE)]
    present = sample[np.isfinite(sample)]
    if present.size == 0:
        present = values[np.isfinite(values)]  # the sample missed the few finite values
    if present.size == 0:
        return 0.0 if np.isinf(values).any() else None
    return float(np.median(present))


class NumericAccumulator:
    def __init__(self, dtype: str, anchor: float | None, *, cell_sums: bool = False) -> None:
        self.dtype = dtype
        self.anchor = anchor
        self.cell_sums = cell_sums
        """Leave ``total``/``total_sq`` to :mod:`drift.segments`, which adds the sums of each
        batch's segment cells, so that every segment column's levels add up to them exactly."""
        self.raw = np.zeros(sketch.N_KEYS, dtype=np.int64)
        self.rows = self.missing = self.finite = 0
        # Kept exactly, so a day profiled in parts merges to the one-pass profile bit for bit.
        self.total: list[float] = []
        self.total_sq: list[float] = []
        self.low = np.inf
        self.high = -np.inf

    def update(self, column: ArrowColumn) -> sketch.FloatArray:
        """Add a batch's column; its values as float64 (null as NaN), for the segments."""
        values = as_float64(column)
        self.rows += values.size
        if values.size == 0:
            return values
        if self.anchor is None:
            self.anchor = anchor_of(values)
            if self.anchor is None:
                self.missing += values.size  # nothing but NaN so far: no anchor yet
                return values
        nan_before = sketch.raw_nan_count(self.raw)
        sketch.add_raw_counts(self.raw, values, self.anchor)
        n_nan = sketch.raw_nan_count(self.raw) - nan_before
        self.missing += n_nan
        self._moments(values, n_nan)
        return values

    def _moments(self, values: sketch.FloatArray, n_nan: int) -> None:
        if n_nan == values.size:
            return
        low, high = float(np.fmin.reduce(values)), float(np.fmax.reduce(values))  # skip NaN
        if np.isinf(low) or np.isinf(high):  # rare: ±inf stay out of the moments
            finite = values[np.isfinite(values)]
            if finite.size:
                self._add(finite, finite.size, float(finite.min()), float(finite.max()))
            return
        zeroed = values
        if n_nan:  # NaN adds nothing: zero them in this thread's work buffer
            zeroed = sketch.float_buffer(values.size)
            np.copyto(zeroed, values)
            zeroed[np.isnan(values)] = 0.0
        self._add(zeroed, values.size - n_nan, low, high)

    def _add(self, values: sketch.FloatArray, count: int, low: float, high: float) -> None:
        self.finite += count
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        if self.cell_sums:
            return
        exact.add(self.total, float(values.sum()))
        # einsum, not np.dot: BLAS wakes its thread pool for every call (slower here).
        exact.add(self.total_sq, float(np.einsum("i,i->", values, values)))

    def finish(self) -> NumericProfile:
        keys, counts = sketch.to_sparse(sketch.ordered(self.raw))
        return NumericProfile(
            dtype=self.dtype,
            rows=self.rows,
            missing=self.missing,
            finite=self.finite,
            sum=exact.rounded(self.total),
            sum_sq=exact.rounded(self.total_sq),
            sum_parts=exact.canonical(self.total),
            sum_sq_parts=exact.canonical(self.total_sq),
            min=self.low if self.finite else None,
            max=self.high if self.finite else None,
            anchor=self.anchor,
            sketch_keys=keys.tolist(),
            sketch_counts=counts.tolist(),
        )


def level_name(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CategoricalAccumulator:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.rows = self.missing = self.other = 0
        self.counts: Counter[str] = Counter()

    def update(self, column: ArrowColumn) -> None:
        self.rows += len(column)
        self.missing += column.null_count or 0
        for value, count in level_counts(column):
            self.counts[level_name(value)] += count
        if len(self.counts) > 4 * MAX_LEVELS:  # bound memory on id-like columns
            kept, self.other = fold_levels(self.counts, self.other)
            self.counts = Counter(kept)

    def finish(self) -> CategoricalProfile:
        levels, other = fold_levels(self.counts, self.other)
        return CategoricalProfile(
            dtype=self.dtype, rows=self.rows, missing=self.missing, levels=levels, other=other
        )


class _UnsupportedAccumulator:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.rows = 0

    def update(self, column: ArrowColumn) -> None:
        self.rows += len(column)

    def finish(self) -> UnsupportedProfile:
        return UnsupportedProfile(dtype=self.dtype, rows=self.rows)


Accumulator = NumericAccumulator | CategoricalAccumulator | _UnsupportedAccumulator


def accumulator(
    type_: pa.DataType, anchor: float | None, *, cell_sums: bool = False
) -> Accumulator:
    kind = kind_of(type_)
    if kind == "numeric":
        return NumericAccumulator(type_name(type_), anchor, cell_sums=cell_sums)
    if kind == "categorical":
        return CategoricalAccumulator(type_name(type_))
    return _UnsupportedAccumulator(type_name(type_))
