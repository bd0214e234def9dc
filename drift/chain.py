"""Several snapshots read as one (a day written in parts, a reference window of days)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from drift.columns import kind_of
from drift.errors import DriftInputError

if TYPE_CHECKING:
    from drift.stream import Batch, Source


class SourceChain:
    """Sources streamed one after the other; the first one's schema is the chain's, and each
    later one must have the columns read with the same kinds."""

    def __init__(self, sources: Sequence[Source]) -> None:
        if not sources:
            raise DriftInputError("no snapshots to read")
        self.sources = list(sources)
        self.schema: pa.Schema = self.sources[0].schema
        rows = [source.num_rows for source in self.sources]
        self.num_rows: int | None = None if None in rows else sum(r or 0 for r in rows)

    @property
    def label(self) -> str:
        first = self.sources[0].label
        return first if len(self.sources) == 1 else f"{first} (+{len(self.sources) - 1} more)"

    def _check(self, source: Source, columns: Sequence[str]) -> None:
        missing = [name for name in columns if name not in source.schema.names]
        if missing:
            raise DriftInputError(f"{source.label}: lacks column(s) {', '.join(missing)}")
        for name in columns:
            first, here = self.schema.field(name).type, source.schema.field(name).type
            if kind_of(first) != kind_of(here):
                raise DriftInputError(
                    f"{source.label}: column {name} is {here}, "
                    f"but {self.sources[0].label} has it as {first}"
                )

    def row_groups(self, columns: Sequence[str]) -> Iterator[Batch]:
        """Every source's batches, source by source."""
        for source in self.sources:
            self._check(source, columns)
            yield from source.row_groups(columns)
