"""Where a snapshot's record batches come from: Parquet, CSV or a DataFrame, one interface."""

from __future__ import annotations

import glob
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

import pyarrow as pa

from drift.chain import SourceChain
from drift.columns import kind_of
from drift.csv_source import CsvSource, is_csv
from drift.errors import DriftInputError
from drift.parquet import ParquetSource, is_parquet
from drift.stream import Batch, Source

__all__ = ["Batch", "Source", "TableSource", "open_file", "open_snapshot", "snapshot_files"]


class TableSource:
    """An Arrow table in memory, served in bounded batches."""

    BATCH_ROWS = 131_072
    """Rows per batch handed to the profiler, as a Parquet row group of the benchmarks."""

    def __init__(self, table: pa.Table, label: str = "table") -> None:
        self.table = table
        self.schema: pa.Schema = table.schema
        self.num_rows: int | None = table.num_rows
        self._label = label

    @property
    def label(self) -> str:
        return self._label

    def row_groups(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        yield from self.table.select(list(columns)).to_batches(max_chunksize=self.BATCH_ROWS)


def open_file(path: str | Path, types: Mapping[str, pa.DataType] | None = None) -> Source:
    """A CSV file by its name (``.csv``, ``.csv.gz``, ``.csv.bz2``), else Parquet; ``types``
    fixes CSV column types (a Parquet file carries its own)."""
    if is_csv(path):
        return CsvSource(path, types)
    return ParquetSource(path)


GLOB_CHARS: Final = frozenset("*?[")


def snapshot_files(path: str | Path) -> list[Path] | None:
    """The files a directory (every Parquet and CSV file under it, such as a ``date=…``
    partition folder) or a glob pattern names, in path order; None for a plain path."""
    given = Path(path)
    if given.is_dir():
        found = [p for p in sorted(given.rglob("*")) if p.is_file() and _snapshot_like(p)]
        if not found:
            raise DriftInputError(f"{given}: no Parquet or CSV files under this directory")
        return found
    if given.exists() or not GLOB_CHARS.intersection(str(path)):
        return None
    matched = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
    found = [p for p in matched if p.is_file() and _snapshot_like(p)]
    if not found:
        raise DriftInputError(f"{path}: no Parquet or CSV file matches")
    return found


def _snapshot_like(path: Path) -> bool:
    """A Parquet file (by content) or a CSV file (by name); not ``_SUCCESS`` markers and the
    like that writers leave in a partition folder."""
    return is_csv(path) or is_parquet(path)


def open_snapshot(path: str | Path, types: Mapping[str, pa.DataType] | None = None) -> Source:
    """A file, or every file of a directory or glob read as one snapshot."""
    files = snapshot_files(path)
    if files is None:
        return open_file(path, types)
    if len(files) == 1:
        return open_file(files[0], types)
    return SourceChain([open_file(file, types) for file in files])


def type_hints(
    schema: pa.Schema, given: Mapping[str, pa.DataType] | None
) -> dict[str, pa.DataType]:
    """The types a CSV scanned against ``schema`` is read with: the reference's, so that a
    column keeps its kind, overridden by those given (``--schema``)."""
    hints = {f.name: f.type for f in schema if kind_of(f.type) != "unsupported"}
    return {**hints, **(given or {})}
