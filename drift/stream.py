"""The interface every snapshot source offers (Parquet, CSV, a DataFrame, a chain of them):
its own module, so the readers and the chain stand on it and not on each other."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import pyarrow as pa

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
