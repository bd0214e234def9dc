"""Shared test helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import settings

from tests.services import postgres_database
from warehouse.db import Database

WriteParquet = Callable[..., Path]


@pytest.fixture
def write_parquet(tmp_path: Path) -> WriteParquet:
    """Write a dict of columns (or a table) to ``tmp_path/name`` and return the path."""

    def write(
        name: str, data: dict[str, object] | pa.Table, row_group_size: int | None = None
    ) -> Path:
        table = data if isinstance(data, pa.Table) else pa.table(data)
        path = tmp_path / name
        pq.write_table(table, path, row_group_size=row_group_size)
        return path

    return write


# Timing-based deadlines flake on a loaded 2-core machine; correctness is what these test.
settings.register_profile("driftwatch", deadline=None)
settings.load_profile("driftwatch")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store's URL: a SQLite file, or a fresh schema on the real PostgreSQL."""
    from urllib.parse import quote

    from tests.services import POSTGRES_URL, postgres_schema

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with postgres_schema() as (schema, _):
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty incident store on SQLite and on the real PostgreSQL."""
    from warehouse.migrate import upgrade

    if request.param == "sqlite":
        db = Database.from_url(f"sqlite:///{tmp_path / 'store.db'}")
        upgrade(db.engine)
        yield db
        db.dispose()
        return
    with postgres_database() as db:
        upgrade(db.engine)
        yield db
