"""Small snapshots in a temporary warehouse, and the definitions built on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from dagster import Definitions

from pipelines.config import DriftwatchConfig
from pipelines.definitions import build_definitions
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentStore
from warehouse.migrate import upgrade
from warehouse.models import DriftResult
from warehouse.snapshots import SnapshotStore

START = date(2026, 1, 1)
DATASET = "orders"
FEATURES = ["amount", "quantity", "rating", "device"]


def day(n: int) -> date:
    """Day ``n`` (1-based) of the test data."""
    return START + timedelta(days=n - 1)


def snapshot(n: int, *, drifted: bool, rows: int = 4000) -> pa.Table:
    rng = np.random.default_rng(100 + n)
    return pa.table(
        {
            "amount": rng.normal(80 if drifted else 50, 10, rows),
            "quantity": rng.integers(1, 6, rows).astype(float),
            "rating": rng.normal(4, 0.5, rows),
            "device": rng.choice(
                ["desktop", "mobile", "tablet"],
                rows,
                p=[0.1, 0.8, 0.1] if drifted else [0.5, 0.4, 0.1],
            ),
        }
    )


def make_config(**dataset_overrides: object) -> DriftwatchConfig:
    dataset = {
        "features": FEATURES,
        "reference": {"start": day(1).isoformat(), "end": day(3).isoformat()},
        "partitions_start": day(1).isoformat(),
        "resolve_after": 2,
        **dataset_overrides,
    }
    return DriftwatchConfig.model_validate(
        {"datasets": {DATASET: dataset}, "sensor_interval_seconds": 5}
    )


@dataclass
class Env:
    root: Path
    database_url: str
    store: SnapshotStore
    defs: Definitions
    config: DriftwatchConfig
    db: Database

    @property
    def incidents(self) -> IncidentStore:
        return IncidentStore(self.db)

    @property
    def results(self) -> DriftResultStore:
        return DriftResultStore(self.db)

    def latest(self, feature: str, partition: str) -> DriftResult:
        """The newest stored result of ``feature`` for ``partition``."""
        with self.db.reads() as session:
            rows = session.query(DriftResult).filter_by(feature=feature, partition=partition)
            return max(rows.all(), key=lambda r: r.id)


def build_env(
    tmp_path: Path,
    days: dict[int, pa.Table],
    config: DriftwatchConfig,
    row_group_size: int,
) -> Env:
    """A temporary warehouse holding ``days`` (day number → snapshot) and the definitions
    built on it with ``config``."""
    root = tmp_path / "warehouse"
    store = SnapshotStore(root)
    for n, table in days.items():
        store.write(DATASET, day(n), table, row_group_size=row_group_size)
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    db = Database.from_url(url)
    upgrade(db.engine)
    defs = build_definitions(config, database=url, snapshots_root=str(root))
    return Env(root, url, store, defs, config, db)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    """Days 1–5 healthy, 6–7 drifted (amount, device), 8–9 healthy again."""
    days = {n: snapshot(n, drifted=n in (6, 7)) for n in range(1, 10)}
    return build_env(tmp_path, days, make_config(), row_group_size=1500)
