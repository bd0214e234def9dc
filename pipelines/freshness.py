"""Missing data is a breach too: a day's snapshot that has not landed by the dataset's deadline
opens a freshness incident, which resolves once it lands. Pure of Dagster (the sensor is a
shell), with the clock passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipelines.config import DatasetConfig
from pipelines.incident_rules import ACTOR
from warehouse.fingerprint import freshness_fingerprint
from warehouse.incidents import Resolve, Touch
from warehouse.lifecycle import Severity, Source
from warehouse.snapshots import SnapshotStore


def due_day(cfg: DatasetConfig, now: datetime) -> date | None:
    """The newest day whose snapshot is due by ``now``: day D is due at D + 1 day + deadline.
    None when the dataset has no deadline or no day is due yet."""
    if cfg.snapshot_deadline is None:
        return None
    now = now.astimezone(UTC)
    passed_today = now.time() >= cfg.snapshot_deadline
    due = now.date() - timedelta(days=1 if passed_today else 2)
    return due if due >= cfg.partitions_start else None


def _late(evidence: dict[str, Any], day: date, deadline: str) -> dict[str, Any]:
    """The evidence with ``day`` added to the days that were late (all must land to resolve)."""
    late = sorted({*evidence.get("late_days", []), day.isoformat()})
    return {**evidence, "day": day.isoformat(), "late_days": late, "deadline_utc": deadline}


def freshness_request(
    store: SnapshotStore, dataset: str, cfg: DatasetConfig, now: datetime
) -> Touch | Resolve | None:
    """Touch the dataset's freshness incident when the due day's snapshot is missing; resolve
    it once every day that was late (and the due day) has landed."""
    due = due_day(cfg, now)
    if due is None:
        return None
    fingerprint = freshness_fingerprint(dataset)
    deadline = cfg.snapshot_deadline.isoformat(timespec="minutes") if cfg.snapshot_deadline else ""
    if not store.files(dataset, due):
        return Touch(
            fingerprint,
            title=f"Snapshot of {dataset} for {due.isoformat()} has not landed",
            description=(
                f"No Parquet file under {store.partition_dir(dataset, due)} by {deadline} UTC "
                f"on {(due + timedelta(days=1)).isoformat()}."
            ),
            severity=Severity.HIGH,
            source=Source.DAGSTER,
            actor=ACTOR,
            dataset=dataset,
            update_evidence=lambda evidence: _late(evidence, due, deadline),
            dedup_key=f"freshness:{dataset}:{due.isoformat()}",
            note=f"{due.isoformat()} missing after the {deadline} UTC deadline",
        )

    def landed(evidence: dict[str, Any]) -> bool:
        late = evidence.get("late_days", [])
        return all(store.files(dataset, date.fromisoformat(day)) for day in late)

    return Resolve(
        fingerprint,
        actor=ACTOR,
        note=f"snapshot of {due.isoformat()} landed",
        only_if=landed,
        record_kept=False,
    )
