"""Missing data is a breach too: a day's snapshot that has not landed by the dataset's deadline
opens a freshness incident, which resolves once it lands. Pure of Dagster (the sensor is a
shell), with the clock passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pipelines.config import DatasetConfig
from warehouse.fingerprint import freshness_fingerprint
from warehouse.incidents import Resolve, Touch
from warehouse.lifecycle import Severity, Source
from warehouse.snapshots import SnapshotStore

ACTOR = "dagster"


def due_day(cfg: DatasetConfig, now: datetime) -> date | None:
    """The newest day whose snapshot is due by ``now``: day D is due at D + 1 day + deadline.
    None when the dataset has no deadline or no day is due yet."""
    if cfg.snapshot_deadline is None:
        return None
    now = now.astimezone(UTC)
    passed_today = now.time() >= cfg.snapshot_deadline
    due = now.date() - timedelta(days=1 if passed_today else 2)
    return due if due >= cfg.partitions_start else None


def freshness_request(
    store: SnapshotStore, dataset: str, cfg: DatasetConfig, now: datetime
) -> Touch | Resolve | None:
    """Touch the dataset's freshness incident when the due day's snapshot is missing; resolve
    it when the day that made it late (and the due day) have landed."""
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
            evidence={"day": due.isoformat(), "deadline_utc": deadline, "dataset": dataset},
            dedup_key=f"freshness:{dataset}:{due.isoformat()}",
            note=f"{due.isoformat()} missing after the {deadline} UTC deadline",
        )

    def landed(evidence: dict[str, object]) -> bool:
        late = evidence.get("day")
        return late is None or bool(store.files(dataset, date.fromisoformat(str(late))))

    return Resolve(
        fingerprint,
        actor=ACTOR,
        note=f"snapshot of {due.isoformat()} landed",
        only_if=landed,
        record_kept=False,
    )
