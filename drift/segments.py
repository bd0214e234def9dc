"""Segment profiles: a profile of every segment's rows beside the whole's, in the same pass.

A dataset's ``segment_by`` columns (categorical or integer) cut its rows into segments, one per
level: the ``segment_top_k`` most frequent levels each get one, the rest share ``OTHER``.
Counts and sketches are counted per level and sums are exact row by row
(:class:`drift.exact.Terms`), so one column's segments merged give the whole's profile bit for
bit (bins aside: they are pinned on the whole only). A snapshot profiled like a reference takes
the reference's levels (a level it never saw is ``OTHER``), so both sides have the same segments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import pyarrow as pa

from drift import sketch
from drift.accumulators import Accumulator, CategoricalAccumulator, NumericAccumulator
from drift.columns import ArrowColumn, kind_of, type_name
from drift.errors import DriftInputError
from drift.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    Profile,
)
from drift.segment_categories import CategoricalSegments, categorical_cells, encoded
from drift.segment_counts import Cells, Codes, KeyNumbers, NumericSegments, grown, numeric_cells

OTHER: Final = "OTHER"
NULL_LEVEL: Final = "(null)"
"""The segment of rows whose segment column is null."""
DEFAULT_SEGMENT_TOP_K: Final = 10
MAX_SEGMENT_TOP_K: Final = 100
TRACKED_LEVELS: Final = 1000
"""Levels a reference counts on their own before further new ones go straight to OTHER: the
top-K are chosen among them at the end of the pass, so memory stays flat on id-like columns."""
MAX_SEGMENT_PROFILES: Final = 10_000
"""Cap on segment columns × (segment_top_k + 1) × features: the column profiles a profile
with segments holds (and every partition stores)."""


def check_segments(
    schema: pa.Schema, segment_by: Sequence[str], top_k: int, features: Sequence[str]
) -> None:
    """Refuse segment columns drift cannot cut by, and configurations over the cap, naming the
    setting to change."""
    if not 1 <= top_k <= MAX_SEGMENT_TOP_K:
        raise DriftInputError(f"segment_top_k must be from 1 to {MAX_SEGMENT_TOP_K}, not {top_k}")
    if len(set(segment_by)) != len(segment_by):
        raise DriftInputError(f"segment_by names a column twice: {', '.join(segment_by)}")
    for name in segment_by:
        if name not in schema.names:
            raise DriftInputError(f"segment_by: unknown column {name}")
        type_ = schema.field(name).type
        if kind_of(type_) != "categorical" and not pa.types.is_integer(type_):
            raise DriftInputError(
                f"segment_by: column {name} is {type_name(type_)}; "
                "a segment column must be categorical or integer"
            )
    problem = over_cap(len(segment_by), top_k, len(features))
    if problem:
        raise DriftInputError(problem)


def over_cap(columns: int, top_k: int, features: int) -> str | None:
    """Why segmenting ``features`` by ``columns`` columns of ``top_k`` levels is refused, if
    it is: more segment profiles than :data:`MAX_SEGMENT_PROFILES`."""
    profiles = columns * (top_k + 1) * features
    if profiles <= MAX_SEGMENT_PROFILES:
        return None
    return (
        f"segment_by: {columns} column(s) × {top_k + 1} segments × {features} features = "
        f"{profiles:,} segment profiles, over the cap of {MAX_SEGMENT_PROFILES:,}; segment "
        "by fewer columns or lower segment_top_k"
    )


class _Levels:
    """A segment column's levels as codes: 0 is OTHER, then each level as first seen."""

    def __init__(self, fixed: Sequence[str] | None) -> None:
        self.names: list[str] = [OTHER]
        self._codes: dict[str, int] = {}
        self.open = fixed is None
        for level in fixed or []:
            if level != OTHER:
                self._add(level)
        self.open_limit = TRACKED_LEVELS + 1

    def _add(self, level: str) -> int:
        self._codes[level] = len(self.names)
        self.names.append(level)
        return len(self.names) - 1

    def code(self, level: str) -> int:
        found = self._codes.get(level)
        if found is not None:
            return found
        if self.open and len(self.names) < self.open_limit:
            return self._add(level)
        return 0

    def of(self, column: ArrowColumn) -> Codes:
        """Each row's code."""
        indices, names = encoded(column)
        table = [self.code(name) for name in names]
        table.append(self.code(NULL_LEVEL) if column.null_count else 0)
        return np.asarray(table, dtype=np.intp)[indices]


class _SegmentColumn:
    """Every feature counted per level of one segment column."""

    def __init__(
        self,
        name: str,
        accumulators: Mapping[str, Accumulator],
        fixed: Sequence[str] | None,
        numbers: Mapping[str, KeyNumbers],
    ) -> None:
        self.name = name
        self.levels = _Levels(fixed)
        self.rows = np.zeros(0, dtype=np.int64)
        self.numeric = {
            feature: NumericSegments(numbers[feature])
            for feature, acc in accumulators.items()
            if feature != name and isinstance(acc, NumericAccumulator)
        }
        self.categorical = {
            feature: CategoricalSegments()
            for feature, acc in accumulators.items()
            if feature != name and isinstance(acc, CategoricalAccumulator)
        }

    def grow(self) -> int:
        n = len(self.levels.names)
        self.rows = grown(self.rows, n, 0)
        for numeric in self.numeric.values():
            numeric.grow(n)
        for categorical in self.categorical.values():
            categorical.grow(n)
        return n

    def _profile(self, code: int, columns: Mapping[str, ColumnProfile]) -> Profile:
        rows = int(self.rows[code]) if code < self.rows.size else 0
        found: dict[str, ColumnProfile] = {}
        for feature, whole in columns.items():
            numeric, categorical = self.numeric.get(feature), self.categorical.get(feature)
            if numeric is not None and isinstance(whole, NumericProfile):
                found[feature] = numeric.finish(code, rows, whole)
            elif categorical is not None and isinstance(whole, CategoricalProfile):
                found[feature] = categorical.finish(code, rows, whole)
        return Profile(rows=rows, columns=found)

    def finish(self, columns: Mapping[str, ColumnProfile], top_k: int) -> dict[str, Profile]:
        """The kept levels' profiles (most rows first; a reference's order when fixed), then
        OTHER: every other level merged."""
        from drift.merge import merge

        names, rows = self.levels.names, grown(self.rows, len(self.levels.names), 0)
        codes = range(1, len(names))
        if self.levels.open:
            ranked = sorted(codes, key=lambda code: (-int(rows[code]), names[code]))
            kept = [code for code in ranked[:top_k] if rows[code]]
        else:
            kept = list(codes)
        found = {names[code]: self._profile(code, columns) for code in kept}
        other = self._profile(0, columns)
        for code in sorted(set(codes) - set(kept)):
            other = merge(other, self._profile(code, columns))
        found[OTHER] = other
        return found


class Segmenter:
    """The segment columns of one profiling pass."""

    def __init__(
        self,
        segment_by: Sequence[str],
        accumulators: Mapping[str, Accumulator],
        top_k: int,
        like: Profile | None = None,
    ) -> None:
        self.top_k = top_k
        fixed = like.segments if like is not None and like.segments else {}
        self.numbers = {name: KeyNumbers() for name in accumulators}
        self.columns = [
            _SegmentColumn(
                name, accumulators, list(fixed[name]) if name in fixed else None, self.numbers
            )
            for name in segment_by
        ]

    def update(
        self,
        batch: pa.RecordBatch | pa.Table,
        accumulators: Mapping[str, Accumulator],
        values: Mapping[str, sketch.FloatArray],
    ) -> None:
        codes = [column.levels.of(batch.column(column.name)) for column in self.columns]
        sizes = [column.grow() for column in self.columns]
        cells = Cells(codes, sizes)
        rows = np.bincount(cells.row_cell, minlength=cells.count)
        for column, to_code in zip(self.columns, cells.codes, strict=True):
            np.add.at(column.rows, to_code, rows)
        for feature, acc in accumulators.items():
            if isinstance(acc, NumericAccumulator) and feature in values:
                counts, keys, bounds, sums = numeric_cells(
                    cells, values[feature], acc, self.numbers[feature]
                )
                for column, to_code, row_code in zip(self.columns, cells.codes, codes, strict=True):
                    part = column.numeric.get(feature)
                    if part is not None:
                        part.add(to_code, counts, bounds, sums)
                        if keys is not None:
                            part.add_sketch(row_code, keys)
            elif isinstance(acc, CategoricalAccumulator):
                table, names = categorical_cells(cells, batch.column(feature))
                for column, to_code, size in zip(self.columns, cells.codes, sizes, strict=True):
                    if feature in column.categorical:
                        column.categorical[feature].add(to_code, size, table, names)

    def finish(self, columns: Mapping[str, ColumnProfile]) -> dict[str, dict[str, Profile]]:
        return {column.name: column.finish(columns, self.top_k) for column in self.columns}
