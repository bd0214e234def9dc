"""Where a snapshot's record batches come from: Parquet, CSV or a DataFrame, one interface."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from drift.columns import kind_of
from drift.csv_source import CsvSource, is_csv
from drift.parquet import ParquetSource

Batch = pa.RecordBatch | pa.Table


class Source(Protocol):
    """A snapshot that can be streamed (more than once) in batches of chosen columns."""

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def num_rows(self) -> int | None:
        """Rows, where known before streaming (CSV: None)."""

    @property
    def label(self) -> str:
        """How reports name the snapshot."""

    def row_groups(self, columns: Sequence[str]) -> Iterator[Batch]: ...


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


def type_hints(
    schema: pa.Schema, given: Mapping[str, pa.DataType] | None
) -> dict[str, pa.DataType]:
    """The types a CSV scanned against ``schema`` is read with: the reference's, so that a
    column keeps its kind, overridden by those given (``--schema``)."""
    hints = {f.name: f.type for f in schema if kind_of(f.type) != "unsupported"}
    return {**hints, **(given or {})}
