"""Categorical columns per segment level: Arrow's dictionaries read as level numbers (a
segment column's codes and a categorical feature's levels alike), and a categorical feature's
level counts per segment level (:mod:`drift.segments`)."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from drift import segment_counts
from drift.accumulators import level_name
from drift.columns import ArrowColumn, dictionary_codes
from drift.profile import CategoricalProfile, fold_levels
from drift.segment_counts import Cells, Codes, grown


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


class CategoricalSegments:
    """One categorical feature's level counts per level of one segment column: a table of
    counts (segment level × feature level) while it stays small, Counters beyond."""

    def __init__(self) -> None:
        self.missing = np.zeros(0, dtype=np.int64)
        self.index: dict[str, int] = {}
        self.table = np.zeros((0, 0), dtype=np.int64)
        self.spilled: list[Counter[str]] | None = None

    def grow(self, n: int) -> None:
        self.missing = grown(self.missing, n, 0)

    def add(self, to_code: Codes, n: int, table: npt.NDArray[np.int64], names: list[str]) -> None:
        """Fold a batch's counts per (cell, level; the last column null) into these levels."""
        by_code = np.zeros((n, table.shape[1]), dtype=np.int64)
        np.add.at(by_code, to_code, table)
        self.missing += by_code[:, -1]
        columns = [self.index.setdefault(name, len(self.index)) for name in names]
        if self.spilled is None and n * len(self.index) > segment_counts.DENSE_COUNT:
            self.spilled = [self._counts(code) for code in range(self.table.shape[0])]
        if self.spilled is not None:
            self.spilled.extend(Counter() for _ in range(n - len(self.spilled)))
            for code, level in zip(*np.nonzero(by_code[:, :-1]), strict=True):
                self.spilled[code][names[level]] += int(by_code[code, level])
            return
        grown_table = np.zeros((n, len(self.index)), dtype=np.int64)
        grown_table[: self.table.shape[0], : self.table.shape[1]] = self.table
        self.table = grown_table
        self.table[:, columns] += by_code[:, :-1]  # a batch names each level once

    def _counts(self, code: int) -> Counter[str]:
        if self.spilled is not None:
            return self.spilled[code] if code < len(self.spilled) else Counter()
        if code >= self.table.shape[0]:
            return Counter()
        row = self.table[code]
        names = list(self.index)
        return Counter({names[i]: int(row[i]) for i in np.flatnonzero(row).tolist()})

    def finish(self, code: int, rows: int, whole: CategoricalProfile) -> CategoricalProfile:
        levels, other = fold_levels(self._counts(code), 0)
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
