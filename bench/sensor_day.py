"""One day of drift results written and judged by the incident sensor, timed: the part of
``bench/read_side.py`` that runs in the code under test's own interpreter path (this file is
run by path with PYTHONPATH at a checkout, so the old code's stores and rules are the ones
timed). It imports only what every version since the incident sensor has.

    PYTHONPATH=<checkout> python bench/sensor_day.py DATABASE_URL DAY DATASETS FEATURES
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from pipelines.config import WatchPolicy
from pipelines.incident_rules import apply_results
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore, NewResult
from warehouse.incidents import IncidentStore
from warehouse.models import DriftResult

FIRST_DAY = date(2025, 1, 1)
BATCH = 1000
"""The sensor's batch (pipelines/defs/sensors.py)."""


@dataclass(frozen=True)
class Watching:
    datasets: dict[str, WatchPolicy] = field(default_factory=dict)
    webserver_url: str = "http://127.0.0.1:3000"
    sensor_interval_seconds: int = 30


def run(url: str, day: int, datasets: int, features: int) -> dict[str, float]:
    """Write ``day`` as the pipelines do (a partition per dataset, one transaction each; every
    50th dataset drifts in one feature), then run the sensor's ticks until none is left."""
    db = Database.from_url(url)
    results = DriftResultStore(db)
    key = (FIRST_DAY + timedelta(days=day)).isoformat()
    with db.reads() as session:
        last_id = int(session.scalar(select(func.max(DriftResult.id))) or 0)
    started = time.perf_counter()
    for d in range(datasets):
        dataset = f"ds{d:04d}"
        rows = [
            NewResult(dataset, f"f{f:03d}", key, f"sensor-{day}", "ok", psi=0.01, drift_ratio=0.0)
            for f in range(features)
        ]
        if d % 50 == 0:
            rows[0] = NewResult(dataset, "f000", key, f"sensor-{day}", "critical", psi=0.5)
        results.add_once(rows)
    written = time.perf_counter() - started
    policy = WatchPolicy.model_validate({"features": [f"f{f:03d}" for f in range(features)]})
    config = Watching({f"ds{d:04d}": policy for d in range(datasets)})
    incidents, ticks = IncidentStore(db), 0
    started = time.perf_counter()
    while batch := results.after(last_id, limit=BATCH):
        last_id = apply_results(batch, incidents, results, config, last_id).last_id
        ticks += 1
    elapsed = time.perf_counter() - started
    db.dispose()
    stored_present = hasattr(DriftResultStore, "recent_partitions_many")  # the new code's
    timed = {"write_s": written, "ticks": ticks, "sensor_s": elapsed, "tick_s": elapsed / ticks}
    return {**timed, "stored_present": float(stored_present)}


if __name__ == "__main__":
    url, day, datasets, features = sys.argv[1], *map(int, sys.argv[2:5])
    print(json.dumps(run(url, day, datasets, features)))
