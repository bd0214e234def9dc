"""Counting one batch per segment level: the rows grouped into cells (their combination of
segment codes), each feature's counts, sketch and sums per cell, folded into every segment
column's levels. Sums are taken per cell and added exactly (:mod:`drift.exact`) to the whole
and to each level, so every column's levels add up to the whole's sums bit for bit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from drift import exact, sketch
from drift.accumulators import NumericAccumulator, level_name
from drift.columns import ArrowColumn, dictionary_codes
from drift.profile import CategoricalProfile, NumericProfile, fold_levels

DENSE_COUNT: Final = 1 << 22
"""Slots (cells or levels × sketch keys present) up to which a batch is counted in a dense
array rather than by sorting."""

Codes = npt.NDArray[np.intp]


def encoded(column: ArrowColumn) -> tuple[Codes, list[str]]:
    """A column as level numbers into the returned names (null: ``len(names)``). Parquet
    hands a row group over as many chunks sharing one dictionary: each distinct dictionary is
    mapped once."""
    import pyarrow.compute as pc

    names: dict[str, int] = {}
    parts: list[Codes] = []
    tables: list[tuple[pa.Array[Any], list[int]]] = []
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        encoded = chunk if isinstance(chunk, pa.DictionaryArray) else pc.dictionary_encode(chunk)
        encoded = cast("pa.DictionaryArray[Any, Any]", encoded)
        dictionary = encoded.dictionary
        table = next((t for d, t in tables if d is dictionary or d.equals(dictionary)), None)
        if table is None:
            table = [names.setdefault(level_name(v), len(names)) for v in dictionary.to_pylist()]
            tables.append((dictionary, table))
        parts.append(np.asarray([*table, -1], dtype=np.intp)[dictionary_codes(encoded)])
    codes = (
        np.concatenate(parts) if len(parts) != 1 else parts[0] if parts else np.zeros(0, np.intp)
    )
    codes[codes < 0] = len(names)
    return codes, list(names)


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


class CellSketch:
    """One feature's batch sketch per cell: the batch's distinct sketch keys (sorted, ``P``
    of them) and, per non-empty (cell, key), ``cell·P + key index`` and its count. Keys are
    numbered densely first, so counting takes (cells × keys present) slots, not × 65,536."""

    def __init__(self, cells: Codes, m: int, keys: npt.NDArray[np.uint32]) -> None:
        """``cells`` below ``m`` are kept; ``m`` marks rows to leave out (NaN)."""
        seen = np.bincount(keys, minlength=sketch.N_KEYS)
        self.present = np.flatnonzero(seen).astype(np.int64)
        number = np.zeros(sketch.N_KEYS, dtype=np.int64)
        number[self.present] = np.arange(self.present.size)
        self.size = self.present.size
        flat = cells.astype(np.int64) * self.size + number[keys]
        entries, counts = count_distinct(flat, None, (m + 1) * self.size)
        kept = entries < m * self.size
        self.entries, self.counts = entries[kept], counts[kept]

    def by_code(
        self, to_code: Codes, n: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The counts per (code, key) of one segment column, keyed ``code << KEY_BITS | key``
        and sorted."""
        cell, index = np.divmod(self.entries, self.size)
        flat, counts = count_distinct(to_code[cell] * self.size + index, self.counts, n * self.size)
        code, index = np.divmod(flat, self.size)
        return (code << sketch.KEY_BITS) | self.present[index], counts


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
    """One numeric feature counted per level of one segment column."""

    def __init__(self) -> None:
        self.missing = np.zeros(0, dtype=np.int64)
        self.finite = np.zeros(0, dtype=np.int64)
        self.low = np.zeros(0)
        self.high = np.zeros(0)
        self.sums: list[list[float]] = []
        self.squares: list[list[float]] = []
        self.keys = np.zeros(0, dtype=np.int64)
        """Sketch keys with the level's code above the key bits, sorted; counts beside."""
        self.counts = np.zeros(0, dtype=np.int64)

    def grow(self, n: int) -> None:
        self.missing, self.finite = grown(self.missing, n, 0), grown(self.finite, n, 0)
        self.low, self.high = grown(self.low, n, np.inf), grown(self.high, n, -np.inf)
        for parts in (self.sums, self.squares):
            parts.extend([] for _ in range(n - len(parts)))

    def add(
        self,
        to_code: Codes,
        per_cell: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
        sketch_cells: CellSketch | None,
        bounds: tuple[sketch.FloatArray, sketch.FloatArray] | None,
        sums: tuple[list[float], list[float]] | None,
    ) -> None:
        """Fold one batch's per-cell figures into this column's levels."""
        np.add.at(self.missing, to_code, per_cell[0])
        np.add.at(self.finite, to_code, per_cell[1])
        if sketch_cells is not None:
            batch = sketch_cells.by_code(to_code, self.missing.size)
            self.keys, self.counts = sketch.add_sparse((self.keys, self.counts), batch)
        if bounds is not None:
            np.minimum.at(self.low, to_code, bounds[0])
            np.maximum.at(self.high, to_code, bounds[1])
        if sums is not None:
            for code, total, square in zip(to_code.tolist(), *sums, strict=True):
                if total or square:
                    exact.add(self.sums[code], total)
                    exact.add(self.squares[code], square)

    def finish(self, code: int, rows: int, whole: NumericProfile) -> NumericProfile:
        span = np.searchsorted(self.keys, [code << sketch.KEY_BITS, (code + 1) << sketch.KEY_BITS])
        keys = self.keys[span[0] : span[1]] & (sketch.N_KEYS - 1)
        counts = self.counts[span[0] : span[1]]
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
    cells: Cells, values: sketch.FloatArray, whole: NumericAccumulator
) -> tuple[
    tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    CellSketch | None,
    tuple[sketch.FloatArray, sketch.FloatArray] | None,
    tuple[list[float], list[float]] | None,
]:
    """A numeric feature's batch per cell: (missing, finite) counts, the sketch keyed by cell,
    (min, max) and (sum, sum of squares); the sums are added to the whole's here too.

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
    if bad.size:  # NaN has no key; ±inf keep theirs (in the sketch, not in the moments)
        keys[nan] = 0
        present = row_cell.copy()
        present[nan] = m
    else:
        present = row_cell
    cell_sketch = CellSketch(present, m, keys)
    finite_counts = np.bincount(row, minlength=m + 1)[:m]
    low, high = np.full(m + 1, np.inf), np.full(m + 1, -np.inf)
    with np.errstate(invalid="ignore"):  # NaN, in the dropped cell m
        np.minimum.at(low, row, values)
        np.maximum.at(high, row, values)
    totals = np.bincount(row, weights=values, minlength=m + 1)[:m].tolist()
    squares = np.bincount(row, weights=values * values, minlength=m + 1)[:m].tolist()
    for total, square in zip(totals, squares, strict=True):
        if total or square:
            exact.add(whole.total, total)
            exact.add(whole.total_sq, square)
    return (missing, finite_counts), cell_sketch, (low[:m], high[:m]), (totals, squares)


class CategoricalSegments:
    """One categorical feature's level counts per level of one segment column."""

    def __init__(self) -> None:
        self.missing = np.zeros(0, dtype=np.int64)
        self.levels: list[Counter[str]] = []

    def grow(self, n: int) -> None:
        self.missing = grown(self.missing, n, 0)
        self.levels.extend(Counter() for _ in range(n - len(self.levels)))

    def add(self, to_code: Codes, n: int, table: npt.NDArray[np.int64], names: list[str]) -> None:
        """Fold a batch's counts per (cell, level; the last column null) into these levels."""
        by_code = np.zeros((n, table.shape[1]), dtype=np.int64)
        np.add.at(by_code, to_code, table)
        self.missing += by_code[:, -1]
        for code, level in zip(*np.nonzero(by_code[:, :-1]), strict=True):
            self.levels[code][names[level]] += int(by_code[code, level])

    def finish(self, code: int, rows: int, whole: CategoricalProfile) -> CategoricalProfile:
        counts = self.levels[code] if code < len(self.levels) else Counter()
        levels, other = fold_levels(counts, 0)
        missing = int(self.missing[code]) if code < self.missing.size else 0
        return CategoricalProfile(
            dtype=whole.dtype, rows=rows, missing=missing, levels=levels, other=other
        )


def categorical_cells(cells: Cells, column: ArrowColumn) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Counts per (cell, level), nulls in the last column, and the levels' names."""
    indices, names = encoded(column)
    width = len(names) + 1
    table = np.bincount(cells.row_cell * width + indices, minlength=cells.count * width)
    return table.reshape(cells.count, width), names
