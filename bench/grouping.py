"""Signal per root event: 50 injected events (each shifting 2–8 features of one dataset) in 200
clean daily partitions, scored by the real drift engine, judged by the real incident sensor
rules on SQLite, once with ``group_by: dataset`` and once with ``group_by: feature``.

Reports incidents per event, pages (notifications people are paged with: ``incident.opened``,
``.reopened`` and ``.severity_raised``) per event, and the events that opened no incident.

    python -m bench.grouping [--seed 7] [--rows 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import select

from drift import Profile, profile_batches
from pipelines.config import DriftwatchConfig
from pipelines.incident_rules import apply_results
from pipelines.references import Baseline
from pipelines.scoring import record_scores
from warehouse.db import Database
from warehouse.drift_results import DriftResultStore
from warehouse.incidents import IncidentStore
from warehouse.migrate import upgrade
from warehouse.models import IncidentMember, NotificationEvent

DATASET = "shop"
NUMERIC = [f"n{i:02d}" for i in range(16)]
CATEGORICAL = [f"c{i}" for i in range(4)]
FEATURES = NUMERIC + CATEGORICAL
LEVELS = ["a", "b", "c", "d", "e"]
START = date(2026, 1, 1)
PARTITIONS, EVENTS, SLOT = 200, 50, 4
PAGES = ("incident.opened", "incident.reopened", "incident.severity_raised")


@dataclass(frozen=True)
class Event:
    day: int
    length: int
    features: tuple[str, ...]


def plan(rng: np.random.Generator) -> list[Event]:
    """One event per slot of 4 days: 1–2 drifted days, then healthy days (resolve_after 2)."""
    events = []
    for slot in range(EVENTS):
        touched = rng.choice(FEATURES, size=int(rng.integers(2, 9)), replace=False)
        events.append(Event(slot * SLOT, int(rng.integers(1, 3)), tuple(sorted(touched))))
    return events


def partition(rng: np.random.Generator, rows: int, shifted: tuple[str, ...]) -> pa.Table:
    columns: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        mean = 50 + i
        columns[name] = rng.normal(mean * (1.4 if name in shifted else 1.0), 5, rows)
    for name in CATEGORICAL:
        p = [0.05, 0.05, 0.1, 0.3, 0.5] if name in shifted else [0.3, 0.25, 0.2, 0.15, 0.1]
        columns[name] = rng.choice(LEVELS, rows, p=p)
    return pa.table(columns)


def profile(table: pa.Table, pinned: Profile | None = None) -> Profile:
    return profile_batches([table], table.schema, columns=FEATURES, like=pinned)


@dataclass(frozen=True)
class Outcome:
    incidents: int
    pages: int
    missed: int
    ticks_seconds: float


def run(group_by: str, events: list[Event], rows: int, seed: int, workdir: Path) -> Outcome:
    rng = np.random.default_rng(seed)
    config = DriftwatchConfig.model_validate(
        {
            "datasets": {
                DATASET: {
                    "features": FEATURES,
                    "reference": {"start": START.isoformat(), "end": START.isoformat()},
                    "partitions_start": START.isoformat(),
                    "resolve_after": 2,
                    "group_by": group_by,
                }
            }
        }
    )
    policy = config.datasets[DATASET]
    db = Database.from_url(f"sqlite:///{workdir / f'{group_by}.db'}")
    upgrade(db.engine)
    results, incidents = DriftResultStore(db), IncidentStore(db)
    reference = profile(partition(rng, rows * 5, ()))
    drifted = {e.day + k: e for e in events for k in range(e.length)}
    cursor, ticking = 0, 0.0
    for day in range(PARTITIONS):
        event = drifted.get(day)
        table = partition(rng, rows, event.features if event else ())
        record_scores(
            results,
            DATASET,
            policy,
            partition=(START + timedelta(days=day + 1)).isoformat(),
            run_id=f"r{day}",
            baseline=Baseline(reference, policy.thresholds, {"kind": "fixed"}),
            current=profile(table, reference),
        )
        begun = time.perf_counter()  # one sensor tick per evaluated day
        cursor = apply_results(results.after(cursor), incidents, results, config, cursor).last_id
        ticking += time.perf_counter() - begun
    with db.reads() as session:
        members = session.execute(
            select(IncidentMember.incident_id, IncidentMember.first_partition)
        ).all()
        pages = session.scalars(
            select(NotificationEvent.event).where(NotificationEvent.event.in_(PAGES))
        ).all()
    opened_on = {p for _, p in members}
    missed = sum(
        1 for e in events if (START + timedelta(days=e.day + 1)).isoformat() not in opened_on
    )
    db.dispose()
    return Outcome(len({i for i, _ in members}), len(pages), missed, ticking)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=2000, help="rows per daily partition")
    args = parser.parse_args(argv)
    events = plan(np.random.default_rng(args.seed))
    touched = sum(len(e.features) for e in events)
    print(
        f"{EVENTS} events touching {touched} features ({touched / EVENTS:.1f} per event) in "
        f"{PARTITIONS} daily partitions of {args.rows} rows x {len(FEATURES)} features"
    )
    print("| group_by | incidents | incidents / event | pages | pages / event | "
          "events without an incident | sensor ticks (s) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for group_by in ("dataset", "feature"):
            found = run(group_by, events, args.rows, args.seed, Path(scratch))
            print(
                f"| {group_by} | {found.incidents} | {found.incidents / EVENTS:.2f} | "
                f"{found.pages} | {found.pages / EVENTS:.2f} | {found.missed} | "
                f"{found.ticks_seconds:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
