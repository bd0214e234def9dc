"""What a drift monitor does with what the upstream asset's own I/O manager loaded: read it
as a snapshot, profile the reference partitions, score one partition. The Dagster wiring that
calls these is in :mod:`pipelines.monitor`."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import AssetCheckResult, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue

from drift import Profile
from drift.chain import SourceChain
from drift.errors import DriftInputError
from drift.frames import FrameSource
from drift.sources import Source, TableSource, open_file
from pipelines.config import WatchPolicy
from pipelines.defs.assets import drift_outputs, reference_key
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.references import Baseline
from pipelines.scoring import (
    ScoringError,
    load_reference,
    profile_features,
    profile_reference_source,
    record_scores,
    save_reference,
)


@dataclass(frozen=True)
class DriftMonitor:
    """The assets watching one upstream asset, and how they grade it."""

    dataset: str
    upstream: AssetKey
    policy: WatchPolicy
    reference_partitions: list[str]
    assets: list[AssetsDefinition]


def as_source(value: object, label: str, features: Sequence[str] | None = None) -> Source:
    """What an I/O manager loaded, as a snapshot: a DataFrame, an Arrow table, a Parquet or
    CSV path, or a dict of those by partition key (several partitions, read in key order).
    Of a DataFrame only ``features`` are converted: its other columns may be of any type."""
    if isinstance(value, pd.DataFrame):
        names = {str(c) for c in value.columns}
        wanted = [f for f in features if f in names] if features is not None else None
        return FrameSource(value, wanted, label=label)
    if isinstance(value, pa.Table):
        return TableSource(value, label=label)
    if isinstance(value, str | Path):
        return open_file(value)
    if isinstance(value, Mapping) and value:
        return SourceChain(
            [as_source(value[key], f"{label}[{key}]", features) for key in sorted(value)]
        )
    raise DriftInputError(
        f"{label}: the I/O manager gave {type(value).__name__}; a monitored asset must load as "
        "a pandas DataFrame, a pyarrow Table or the path of a Parquet or CSV file"
    )


def _snapshot(value: object, label: str, monitor: DriftMonitor) -> Source:
    """:func:`as_source` of the monitor's features; what cannot be read fails the run."""
    try:
        return as_source(value, label, monitor.policy.features)
    except DriftInputError as exc:
        raise ScoringError(str(exc)) from None


def profile_upstream_reference(
    value: object, monitor: DriftMonitor, snapshots: SnapshotStoreResource
) -> MaterializeResult[Any]:
    """Profile the reference partitions as loaded, pin the bins and save the profile."""
    label = f"{monitor.upstream.to_user_string()} reference"
    profile = profile_reference_source(_snapshot(value, label, monitor), monitor.policy, label)
    path = save_reference(snapshots.store(), monitor.dataset, profile)
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "rows": MetadataValue.int(profile.rows),
            "partitions": MetadataValue.json(monitor.reference_partitions),
            "features": MetadataValue.json(list(profile.columns)),
        }
    )


def score_upstream_partition(
    value: object,
    monitor: DriftMonitor,
    *,
    partition: str,
    run_id: str,
    snapshots: SnapshotStoreResource,
    warehouse: WarehouseResource,
) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
    """Profile one upstream partition on the reference's grid, record and grade it."""
    reference: Profile = load_reference(
        snapshots.store(), monitor.dataset, reference_key(monitor.dataset).to_user_string()
    )
    label = f"{monitor.upstream.to_user_string()}[{partition}]"
    source = _snapshot(value, label, monitor)
    current = profile_features(source, monitor.policy, like=reference, top_k=monitor.policy.top_k)
    first, last = monitor.reference_partitions[0], monitor.reference_partitions[-1]
    record = {"kind": "fixed", "start": first, "end": last}
    done = record_scores(
        warehouse.results(),
        monitor.dataset,
        monitor.policy,
        partition=partition,
        run_id=run_id,
        baseline=Baseline(reference, monitor.policy.thresholds, record),
        current=current[0],
    )
    yield from drift_outputs(done, partition)
