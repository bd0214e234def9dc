"""Reading Parquet one row group at a time (pre-buffered ``iter_batches`` grows towards the
file size in memory; ``read_row_group`` stays flat)."""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from drift.chain import SourceChain
from drift.errors import DriftInputError
from drift.files import checked_path


@functools.cache
def _reader() -> ThreadPoolExecutor:
    """One long-lived prefetch thread per process: a thread per scan would cost a fresh
    allocator arena of RSS each time."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-prefetch")


def _is_string(type_: pa.DataType) -> bool:
    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_))


class ParquetSource:
    """A Parquet file opened for streaming; string columns are read dictionary-encoded."""

    def __init__(self, path: str | Path) -> None:
        self.path = checked_path(path, "Parquet")
        try:
            probe = pq.ParquetFile(self.path)
            self.schema: pa.Schema = probe.schema_arrow
            strings = [f.name for f in self.schema if _is_string(f.type)]
            self._file = pq.ParquetFile(self.path, read_dictionary=strings)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DriftInputError(f"{self.path}: not a readable Parquet file ({exc})") from None
        self.schema = self._file.schema_arrow
        meta = self._file.metadata
        self.num_rows: int = meta.num_rows
        self.num_row_groups: int = meta.num_row_groups
        self._indices = range(self.num_row_groups)

    def part(self, indices: range) -> ParquetSource:
        """The same file, reading only the row groups ``indices``: one share of a snapshot that
        is profiled in several pieces and merged."""
        if indices.step != 1 or indices.start < 0 or indices.stop > self.num_row_groups:
            raise ValueError(f"{self.path}: no row groups {indices} (it has {self.num_row_groups})")
        piece = copy.copy(self)
        piece._indices = indices
        meta = self._file.metadata
        piece.num_rows = sum(meta.row_group(i).num_rows for i in indices)
        return piece

    @property
    def label(self) -> str:
        return str(self.path)

    def _read(self, index: int, columns: list[str]) -> pa.Table:
        try:
            return self._file.read_row_group(index, columns=columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DriftInputError(f"{self.path}: row group {index} is unreadable ({exc})") from None

    def row_groups(self, columns: Sequence[str]) -> Iterator[pa.Table]:
        """Row groups in order, the next one read in the background (Arrow releases the GIL)
        while the caller works on this one: at most two row groups are in memory."""
        names, indices = list(columns), self._indices
        if not indices:
            return
        pending = _reader().submit(self._read, indices[0], names)
        for index in indices[1:]:
            table = pending.result()
            pending = _reader().submit(self._read, index, names)
            yield table
        yield pending.result()


class ParquetFiles(SourceChain):
    """Several Parquet files read as one snapshot (a day written in parts), each through
    :class:`ParquetSource`; the first file's schema is the snapshot's."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        if not paths:
            raise DriftInputError("no Parquet files to read")
        super().__init__([ParquetSource(path) for path in paths])


def prefer_jemalloc() -> None:
    """Make Arrow's jemalloc pool the process default, where this pyarrow build has it.

    Process-wide, so only entry points that own their process call it (the CLI, benchmarks).
    The default mimalloc keeps freed row groups around, so a stream's peak RSS is lower with
    jemalloc, and it was no slower (docs/benchmarks.md, "Figures behind the code").
    """
    with contextlib.suppress(NotImplementedError, pa.ArrowNotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def is_parquet(path: str | Path) -> bool:
    """True when the file starts with Parquet's magic bytes."""
    try:
        with Path(path).open("rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False
