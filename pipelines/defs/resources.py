"""Dagster resources wrapping the warehouse: the snapshot store and the SQL store."""

from __future__ import annotations

import functools
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from warehouse.db import Database
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentStore
from warehouse.migrate import upgrade
from warehouse.snapshots import SnapshotStore


@functools.cache
def _database(url: str) -> Database:
    """One engine per URL per process, migrated to head on first use (idempotent)."""
    db = Database.from_url(url)
    upgrade(db.engine)
    return db


class SnapshotStoreResource(ConfigurableResource[Any]):
    """Parquet snapshots under ``root`` (``<root>/<dataset>/date=YYYY-MM-DD/*.parquet``)."""

    root: str = Field(description="warehouse root directory")

    def store(self) -> SnapshotStore:
        return SnapshotStore(self.root)


class WarehouseResource(ConfigurableResource[Any]):
    """The SQL store: drift results and incidents (``DATABASE_URL``)."""

    database_url: str = Field(description="SQLAlchemy URL of the incident store")

    def database(self) -> Database:
        return _database(self.database_url)

    def incidents(self) -> IncidentStore:
        return IncidentStore(self.database())

    def results(self) -> DriftResultStore:
        return DriftResultStore(self.database())
