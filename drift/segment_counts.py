"""Counting one batch per segment level: the rows grouped into cells (their combination of
segment codes), each feature's counts, sketch and sums per cell, folded into every segment
column's levels. Sums are taken per cell and added exactly (:mod:`drift.exact`) to the whole
and to each level, so every column's levels add up to the whole's sums bit for bit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from drift import exact, sketch
from drift.accumulators import NumericAccumulator
from drift.profile import NumericProfile

DENSE_COUNT: Final = 1 << 22
"""Slots (cells or levels × sketch keys present) up to which a batch is counted in a dense
array rather than by sorting."""

Codes = npt.NDArray[np.intp]


def grown(array: npt.NDArray[Any], size: int, fill: float) -> npt.NDArray[Any]:
    if array.size >= size:
        return array
    return np.concatenate([array, np.full(size - array.size, fill, dtype=array.dtype)])


def count_distinct(
    flat: npt.NDArray[np.int64], weights: npt.NDArray[np.int64] | None, size: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct values of ``flat`` (all below ``size``), sorted, with their summed
    ``weights`` (default 1 each): by counting into a dense array while ``size`` is small, by
    sorting otherwise."""
    if size <= DENSE_COUNT:
        dense = np.bincount(flat, weights=weights, minlength=size)
        found = np.flatnonzero(dense)
        return found.astype(np.int64), dense[found].astype(np.int64)  # exact below 2**53
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    if ordered.size == 0:
        return ordered, ordered
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    if weights is None:
        return ordered[starts], np.diff(np.append(starts, ordered.size))
    return ordered[starts], np.add.reduceat(weights[order], starts)


class KeyNumbers:
    """A feature's sketch keys numbered in order of first sight, shared by its segment
    columns: they count into tables of (level × keys seen so far), a few thousand wide, rather
    than × 65,536."""

    def __init__(self) -> None:
        self.lookup = np.full(sketch.N_KEYS, -1, dtype=np.int64)
        self.keys = np.zeros(0, dtype=np.int64)

    def number(self, keys: npt.NDArray[np.uint32]) -> npt.NDArray[np.int64]:
        found = self.lookup[keys]
        fresh = found < 0
        if fresh.any():
            new = np.unique(keys[fresh]).astype(np.int64)
            self.lookup[new] = np.arange(self.keys.size, self.keys.size + new.size)
            self.keys = np.concatenate([self.keys, new])
            found = self.lookup[keys]
        return found


class BatchKeys:
    """One batch of a feature: each row's sketch key and key number, and its NaN rows (in no
    bucket)."""

    def __init__(self, keys: npt.NDArray[np.uint32], numbers: KeyNumbers, nan: Codes) -> None:
        self.keys, self.nan, self.width = keys, nan, 0
        self.numbers = numbers.number(keys)
        self.width = numbers.keys.size


class Cells:
    """One batch's rows grouped by their combination of segment codes ("cells"): every
    segment column's levels are unions of cells, so what is summed per cell adds up exactly
    to each level and to the whole."""

    def __init__(self, codes: Sequence[Codes], sizes: Sequence[int]) -> None:
        if len(codes) == 1:
            self.row_cell, self.count = codes[0], sizes[0]
            self.codes = [np.arange(sizes[0], dtype=np.intp)]
            return
        cell_id = np.zeros(codes[0].size, dtype=np.int64)
        for column, size in zip(codes, sizes, strict=True):
            cell_id = cell_id * size + column
        cells, inverse = np.unique(cell_id, return_inverse=True)
        self.row_cell, self.count = inverse.astype(np.intp), cells.size
        self.codes = []
        for size in reversed(sizes):
            self.codes.insert(0, (cells % size).astype(np.intp))
            cells = cells // size


class NumericSegments:
    """One numeric feature counted per level of one segment column: its sketch as a table of
    (level × key number) while that stays small, as sparse sorted keys beyond."""

    def __init__(self, numbers: KeyNumbers) -> None:
        self.numbers = numbers
        self.table: npt.NDArray[np.int64] | None = np.zeros((0, 0), dtype=np.int64)
        self.missing = np.zeros(0, dtype=np.int64)
        self.finite = np.zeros(0, dtype=np.int64)
        self.low = np.zeros(0)
        self.high = np.zeros(0)
        self.sums: list[list[float]] = []
        self.squares: list[list[float]] = []
        self.keys = np.zeros(0, dtype=np.int64)
        """Once the table is too big: sketch keys with the level's code above the key bits,
        sorted; counts beside."""
        self.counts = np.zeros(0, dtype=np.int64)

    def add_sketch(self, row_code: Codes, batch: BatchKeys) -> None:
        n, width = self.missing.size, batch.width
        if self.table is not None and n * width > DENSE_COUNT:
            self._spill()
        if self.table is None:
            combined = (row_code.astype(np.int64) << sketch.KEY_BITS) | batch.keys
            if batch.nan.size:
                combined = np.delete(combined, batch.nan)
            found = count_distinct(combined, None, n << sketch.KEY_BITS)
            self.keys, self.counts = sketch.add_sparse((self.keys, self.counts), found)
            return
        flat = row_code * width + batch.numbers
        if batch.nan.size:
            flat[batch.nan] = n * width  # a slot past the table, dropped
        counts = np.bincount(flat, minlength=n * width + 1)[: n * width].reshape(n, width)
        if self.table.shape != (n, width):
            table = np.zeros((n, width), dtype=np.int64)
            table[: self.table.shape[0], : self.table.shape[1]] = self.table
            self.table = table
        self.table += counts

    def _spill(self) -> None:
        if self.table is None:
            return
        codes, numbers = np.nonzero(self.table)
        combined = (codes.astype(np.int64) << sketch.KEY_BITS) | self.numbers.keys[numbers]
        order = np.argsort(combined)
        self.keys, self.counts = combined[order], self.table[codes, numbers][order]
        self.table = None

    def grow(self, n: int) -> None:
        self.missing, self.finite = grown(self.missing, n, 0), grown(self.finite, n, 0)
        self.low, self.high = grown(self.low, n, np.inf), grown(self.high, n, -np.inf)
        for parts in (self.sums, self.squares):
            parts.extend([] for _ in range(n - len(parts)))

    def add(
        self,
        to_code: Codes,
        per_cell: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
        bounds: tuple[sketch.FloatArray, sketch.FloatArray] | None,
        sums: tuple[list[float], list[float]] | None,
    ) -> None:
        """Fold one batch's per-cell figures into this column's levels."""
        np.add.at(self.missing, to_code, per_cell[0])
        np.add.at(self.finite, to_code, per_cell[1])
        if bounds is not None:
            np.minimum.at(self.low, to_code, bounds[0])
            np.maximum.at(self.high, to_code, bounds[1])
        if sums is not None:
            for code, total, square in zip(to_code.tolist(), *sums, strict=True):
                if total or square:
                    self.sums[code].append(total)
                    self.squares[code].append(square)
                    if len(self.sums[code]) > exact.COMPACT_AT:
                        exact.extend(self.sums[code], [])
                        exact.extend(self.squares[code], [])

    def _sketch(self, code: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if self.table is not None:
            if code >= self.table.shape[0]:
                return self.keys[:0], self.counts[:0]
            numbers = np.flatnonzero(self.table[code])
            keys = self.numbers.keys[numbers]
            order = np.argsort(keys)
            return keys[order], self.table[code, numbers[order]]
        span = np.searchsorted(self.keys, [code << sketch.KEY_BITS, (code + 1) << sketch.KEY_BITS])
        keys = self.keys[span[0] : span[1]] & (sketch.N_KEYS - 1)
        return keys, self.counts[span[0] : span[1]]

    def finish(self, code: int, rows: int, whole: NumericProfile) -> NumericProfile:
        keys, counts = self._sketch(code)
        finite = int(self.finite[code]) if code < self.finite.size else 0
        sums = self.sums[code] if code < len(self.sums) else []
        squares = self.squares[code] if code < len(self.squares) else []
        return NumericProfile(
            dtype=whole.dtype,
            rows=rows,
            missing=int(self.missing[code]) if code < self.missing.size else 0,
            finite=finite,
            sum=exact.rounded(sums) if sums else 0.0,
            sum_sq=exact.rounded(squares) if squares else 0.0,
            sum_parts=exact.canonical(sums),
            sum_sq_parts=exact.canonical(squares),
            min=float(self.low[code]) if finite else None,
            max=float(self.high[code]) if finite else None,
            anchor=whole.anchor,
            sketch_keys=keys.tolist(),
            sketch_counts=counts.tolist(),
        )


def numeric_cells(
    cells: Cells, values: sketch.FloatArray, whole: NumericAccumulator, numbers: KeyNumbers
) -> tuple[
    tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    BatchKeys | None,
    tuple[sketch.FloatArray, sketch.FloatArray] | None,
    tuple[list[float], list[float]] | None,
]:
    """A numeric feature's batch per cell: (missing, finite) counts, (min, max) and (sum, sum
    of squares) — the sums are added to the whole's here too — and its rows' sketch keys.

    Non-finite rows go to an extra cell ``m`` (dropped after) rather than being masked out:
    one pass each instead of a copy of every array per mask."""
    m, row_cell = cells.count, cells.row_cell
    bad = np.flatnonzero(~np.isfinite(values))
    nan = bad[np.isnan(values[bad])]
    missing = np.bincount(row_cell[nan], minlength=m)
    if whole.anchor is None or nan.size == values.size:
        return (missing, np.zeros(m, dtype=np.int64)), None, None, None
    row = row_cell
    if bad.size:
        row = row_cell.copy()
        row[bad] = m
    keys = sketch.ORDER32.take(sketch.raw_keys(values, whole.anchor))
    keys[nan] = 0  # NaN has no bucket (left out by its rows); ±inf keep theirs
    batch_keys = BatchKeys(keys, numbers, nan)
    finite_counts = np.bincount(row, minlength=m + 1)[:m]
    low, high = np.full(m + 1, np.inf), np.full(m + 1, -np.inf)
    with np.errstate(invalid="ignore"):  # NaN, in the dropped cell m
        np.minimum.at(low, row, values)
        np.maximum.at(high, row, values)
    totals = np.bincount(row, weights=values, minlength=m + 1)[:m].tolist()
    squares = np.bincount(row, weights=values * values, minlength=m + 1)[:m].tolist()
    exact.extend(whole.total, totals)
    exact.extend(whole.total_sq, squares)
    return (missing, finite_counts), batch_keys, (low[:m], high[:m]), (totals, squares)
