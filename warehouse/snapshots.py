"""The Parquet snapshot store: ``<root>/<dataset>/date=YYYY-MM-DD/*.parquet``.

Writers add files; the store hands out the paths of a day's files, and readers stream them
through drift's one Parquet reader (:class:`drift.parquet.ParquetFiles`), one row group at a
time, so a day of any size is read in bounded memory. The root is ``WAREHOUSE_ROOT``, by
default ``warehouse/`` in DRIFTWATCH_HOME.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.home import home

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def warehouse_root() -> Path:
    given = os.environ.get("WAREHOUSE_ROOT")
    return Path(given) if given else home() / "warehouse"


def _check_name(dataset: str) -> str:
    if not _NAME.match(dataset):
        raise ValueError(f"invalid dataset name {dataset!r}")
    return dataset


class SnapshotStore:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else warehouse_root()

    def partition_dir(self, dataset: str, day: date) -> Path:
        return self.root / _check_name(dataset) / f"date={day.isoformat()}"

    def profile_path(self, dataset: str, name: str = "reference") -> Path:
        return self.root / _check_name(dataset) / "_profiles" / f"{name}.json"

    def write(
        self, dataset: str, day: date, table: pa.Table, *, row_group_size: int = 131_072
    ) -> Path:
        """Add ``table`` as one more file of that day (written aside, then renamed: readers
        never see half a file)."""
        directory = self.partition_dir(dataset, day)
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / f"part-{uuid.uuid4().hex[:12]}.parquet"
        partial = final.with_suffix(".parquet.tmp")
        pq.write_table(table, partial, row_group_size=row_group_size)
        partial.replace(final)
        return final

    def files(self, dataset: str, day: date) -> list[Path]:
        return sorted(self.partition_dir(dataset, day).glob("*.parquet"))

    def days(self, dataset: str) -> list[date]:
        base = self.root / _check_name(dataset)
        found = []
        for entry in base.glob("date=*"):
            if any(entry.glob("*.parquet")):
                found.append(date.fromisoformat(entry.name.removeprefix("date=")))
        return sorted(found)
