"""Seeded synthetic feature snapshots: a reference and a drifted current file.

25 features: ``f00``…``f19`` floats whose current mean and spread shift in grades (f00 not
at all, f19 by 0.475 σ and ×1.285), with ~1 % NaN (f19 current: 6 %) and 0.1 % outliers;
``s0``…``s4`` strings of 3, 10, 50, 200 and 1000 levels (s1's mix shifts in the current file,
s2 gains an unseen level). Written in row groups, so generating 5M rows stays small.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

N_FLOAT: Final = 20
LEVELS: Final = (3, 10, 50, 200, 1000)
ROW_GROUP: Final = 131_072


def _zipf(n: int, skew: float = 1.1) -> npt.NDArray[np.float64]:
    weights = np.asarray(1.0 / np.arange(1, n + 1) ** skew, dtype=np.float64)
    normalised: npt.NDArray[np.float64] = weights / weights.sum()
    return normalised


def _chunk(rng: np.random.Generator, rows: int, drifted: bool) -> pa.Table:
    columns: dict[str, pa.Array[Any]] = {}
    for i in range(N_FLOAT):
        shift, scale = (0.025 * i, 1 + 0.015 * i) if drifted else (0.0, 1.0)
        base_mean, base_std = 10.0 * (i % 5) - 15.0, 1.0 + i % 3
        values = rng.normal(base_mean + shift * base_std, base_std * scale, rows)
        outliers = rng.random(rows) < 0.001
        values[outliers] *= 100
        nan_share = 0.06 if drifted and i == N_FLOAT - 1 else 0.01
        values[rng.random(rows) < nan_share] = np.nan
        columns[f"f{i:02d}"] = pa.array(values)
    for j, n_levels in enumerate(LEVELS):
        names = np.array([f"s{j}_{k}" for k in range(n_levels)] + [f"s{j}_new"])
        probs = _zipf(n_levels)
        if drifted and j == 1:
            probs = probs[::-1].copy()
        probs = np.append(probs, 0.0)
        if drifted and j == 2:
            probs = np.append(probs[:-1] * 0.97, 0.03)
        columns[f"s{j}"] = pa.array(names[rng.choice(n_levels + 1, rows, p=probs)])
    return pa.table(columns)


def write_snapshot(path: Path, rows: int, *, drifted: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, ROW_GROUP):
            table = _chunk(rng, min(ROW_GROUP, rows - start), drifted)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


def write_pair(out: Path, rows: int, seed: int = 7) -> tuple[Path, Path]:
    """Write ``reference.parquet`` and ``current.parquet`` under ``out`` (skipped if present
    with the same size)."""
    reference, current = out / "reference.parquet", out / "current.parquet"
    for path, drifted, offset in ((reference, False, 0), (current, True, 1)):
        if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
            continue
        write_snapshot(path, rows, drifted=drifted, seed=seed + offset)
    return reference, current


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/data"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    reference, current = write_pair(args.out, args.rows, args.seed)
    print(f"{reference}\n{current}")


if __name__ == "__main__":
    main()
