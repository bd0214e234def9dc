"""Shifts injected into one column of an Arrow table, for the benchmarks that measure whether
drift is found: a mean shift in σ, more nulls, one level's share doubled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Shift = Callable[[np.random.Generator, pa.Table, str], pa.Table]
Injection = tuple[str, str, Shift]
"""(kind, column, shift)."""


def _replaced(
    table: pa.Table, column: str, values: pa.Array[Any] | pa.ChunkedArray[Any]
) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


def mean_shift(_rng: np.random.Generator, table: pa.Table, feature: str) -> pa.Table:
    """Every value moved by half the column's standard deviation."""
    values = table.column(feature).to_numpy(zero_copy_only=False).astype(float)
    return _replaced(table, feature, pa.array(values + 0.5 * np.nanstd(values)))


def more_nulls(rng: np.random.Generator, table: pa.Table, feature: str) -> pa.Table:
    """5 % of the rows (of those with a value) made null: +5 points of nulls."""
    column = table.column(feature).combine_chunks()
    present = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
    chosen = rng.choice(present, size=round(0.05 * len(column)), replace=False)
    mask = np.zeros(len(column), dtype=bool)
    mask[chosen] = True
    return _replaced(
        table, feature, pc.if_else(pa.array(mask), pa.scalar(None, column.type), column)
    )


def doubled_level(level: str) -> Shift:
    """``level``'s share doubled, rows of the other levels moved to it at random."""

    def inject(rng: np.random.Generator, table: pa.Table, feature: str) -> pa.Table:
        values = np.asarray(table.column(feature).to_pylist(), dtype=object)
        share = float(np.mean(values == level))
        others = np.flatnonzero(values != level)
        # moving k rows of other levels to it doubles its share: (share·n + k) / n = 2·share
        moved = rng.choice(others, size=min(len(others), round(share * len(values))), replace=False)
        values[moved] = level
        return _replaced(table, feature, pa.array(values.tolist()))

    return inject
