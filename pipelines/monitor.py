"""Monitor any Dagster asset for drift: ``drift_monitor(upstream, features=…, reference=…)``.

A user's own partitioned asset, materialized as a pandas DataFrame, an Arrow table or a
Parquet/CSV path through whatever I/O manager it uses, gets a ``reference_profile`` asset (the
profile of the reference partitions, loaded through that I/O manager) and a ``feature_drift``
asset with the upstream's partitions, its checks and drift results in the warehouse;
:func:`monitor_definitions` adds the incident sensors and resources, to merge with the user's
own ``Definitions``.
"""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    Definitions,
    MaterializeResult,
    PartitionKeyRange,
    PartitionsDefinition,
    SpecificPartitionsPartitionMapping,
    asset,
    define_asset_job,
)
from pydantic import ValidationError

from pipelines.config import ConfigError, WatchPolicy, problems
from pipelines.defs.assets import (
    DATASET_TAG,
    drift_job_name,
    drift_key,
    reference_key,
    scoring_failure,
)
from pipelines.defs.checks import check_names, drift_check_specs
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.defs.sensors import (
    build_incident_sensor,
    build_run_failure_sensor,
    build_run_recovery_sensor,
)
from pipelines.scoring import ScoringError
from pipelines.upstream import (
    DriftMonitor,
    profile_upstream_reference,
    score_upstream_partition,
)
from warehouse.db import database_url as default_database_url
from warehouse.snapshots import warehouse_root


@dataclass(frozen=True)
class MonitorSettings:
    """What the incident sensors read about monitored assets (a :class:`Watched`)."""

    datasets: Mapping[str, WatchPolicy]
    webserver_url: str = "http://127.0.0.1:3000"
    sensor_interval_seconds: int = 30


def _upstream_of(
    upstream: AssetsDefinition | AssetKey | str | Sequence[str],
    partitions_def: PartitionsDefinition | None,
) -> tuple[AssetKey, PartitionsDefinition]:
    if isinstance(upstream, AssetsDefinition):
        key, partitions_def = upstream.key, partitions_def or upstream.partitions_def
    elif isinstance(upstream, AssetKey):
        key = upstream
    else:
        key = (
            AssetKey.from_user_string(upstream)
            if isinstance(upstream, str)
            else AssetKey(list(upstream))
        )
    if partitions_def is None:
        raise ConfigError(
            f"{key.to_user_string()}: drift is monitored per partition; give a partitioned "
            "asset, or its partitions_def"
        )
    return key, partitions_def


def _reference_keys(
    partitions_def: PartitionsDefinition, reference: tuple[str, str] | Sequence[str]
) -> list[str]:
    """``(first, last)`` (a range of partitions, both included) or a list of partition keys."""
    known = partitions_def.get_partition_keys()
    if isinstance(reference, tuple) and len(reference) == 2:
        first, last = reference
        missing = [k for k in (first, last) if k not in known]
        if not missing:
            return list(partitions_def.get_partition_keys_in_range(PartitionKeyRange(*reference)))
    else:
        missing = [k for k in reference if k not in known]
        if not missing and reference:
            return list(reference)
    raise ConfigError(
        f"reference: {', '.join(missing) or 'no partition'} is not a partition of the monitored "
        "asset; give (first, last) or a list of its partition keys"
    )


def _policy(features: Sequence[str], options: Mapping[str, Any]) -> WatchPolicy:
    try:
        policy = WatchPolicy.model_validate({"features": list(features), **options})
    except ValidationError as exc:
        raise ConfigError(problems(exc)) from None
    if policy.thresholds.calibrate:
        raise ConfigError(
            "thresholds.calibrate: a monitor compares with fixed reference partitions; "
            "calibrated levels need a rolling reference (a snapshot-store dataset)"
        )
    return policy


def drift_monitor(
    upstream: AssetsDefinition | AssetKey | str | Sequence[str],
    *,
    features: Sequence[str],
    reference: tuple[str, str] | Sequence[str],
    partitions_def: PartitionsDefinition | None = None,
    dataset: str | None = None,
    **policy: Any,
) -> DriftMonitor:
    """Watch ``upstream`` (an asset, or its key with ``partitions_def``) for drift.

    ``reference`` names the upstream partitions profiled once as the reference: ``(first,
    last)`` or a list of keys. ``dataset`` is the name in drift results and incidents
    (default: the key's parts joined by ``__``). ``policy`` takes :class:`WatchPolicy`'s
    fields: ``binning``, ``bins``, ``top_k``, ``thresholds``, ``measures``, ``resolve_after``.
    Bad arguments raise :class:`ConfigError` naming them, when the definitions load.
    """
    key, partitions = _upstream_of(upstream, partitions_def)
    name = dataset or "__".join(key.path)
    settings = _policy(features, policy)
    check_names(name, settings.features)
    monitor = DriftMonitor(name, key, settings, _reference_keys(partitions, reference), [])
    monitor.assets.extend(_assets(monitor, partitions))
    return monitor


def _assets(monitor: DriftMonitor, partitions: PartitionsDefinition) -> list[AssetsDefinition]:
    name, shown = monitor.dataset, monitor.upstream.to_user_string()

    @asset(
        key=reference_key(name),
        ins={
            "upstream": AssetIn(
                monitor.upstream,
                partition_mapping=SpecificPartitionsPartitionMapping(monitor.reference_partitions),
            )
        },
        group_name=name,
        kinds={"json"},
        description=f"Profile of {shown}'s reference partitions "
        f"({monitor.reference_partitions[0]} … {monitor.reference_partitions[-1]})",
    )
    def reference_profile(
        upstream: Any, snapshots: SnapshotStoreResource
    ) -> MaterializeResult[Any]:
        return profile_upstream_reference(upstream, monitor, snapshots)

    key = drift_key(name)

    @asset(
        key=key,
        ins={"upstream": AssetIn(monitor.upstream)},
        deps=[reference_key(name)],
        partitions_def=partitions,
        group_name=name,
        kinds={"sql"},
        description=f"Drift of each partition of {shown} against its reference profile",
        check_specs=drift_check_specs(
            key, monitor.policy.features, multivariate=monitor.policy.multivariate
        ),
    )
    def feature_drift(
        context: AssetExecutionContext,
        upstream: Any,
        snapshots: SnapshotStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
        try:
            yield from score_upstream_partition(
                upstream,
                monitor,
                partition=context.partition_key,
                run_id=context.run.run_id,
                snapshots=snapshots,
                warehouse=warehouse,
            )
        except ScoringError as exc:
            raise scoring_failure(exc) from None

    return [reference_profile, feature_drift]


SENSOR_PREFIX = "monitor"
"""Monitors' sensors are ``monitor_incident_sensor`` …, so that they can share a code location
with driftwatch's own (``drift_incident_sensor`` …)."""


def monitor_definitions(
    monitors: Sequence[DriftMonitor],
    *,
    database_url: str | None = None,
    profiles_root: str | None = None,
    webserver_url: str = "http://127.0.0.1:3000",
    sensor_interval_seconds: int = 30,
) -> Definitions:
    """The monitors' assets, a job per monitor, and the incident sensors over their drift
    results; resources ``warehouse`` (``DATABASE_URL`` by default) and ``snapshots`` (where
    reference profiles are kept, ``WAREHOUSE_ROOT`` by default). Merge with your own
    ``Definitions`` (``Definitions.merge``)."""
    settings = MonitorSettings(
        datasets={m.dataset: m.policy for m in monitors},
        webserver_url=webserver_url,
        sensor_interval_seconds=sensor_interval_seconds,
    )
    return Definitions(
        assets=[a for m in monitors for a in m.assets],
        jobs=[
            define_asset_job(
                drift_job_name(m.dataset),
                selection=[drift_key(m.dataset)],
                tags={DATASET_TAG: m.dataset},
            )
            for m in monitors
        ],
        sensors=[
            build_incident_sensor(settings, f"{SENSOR_PREFIX}_incident_sensor"),
            build_run_failure_sensor(settings, f"{SENSOR_PREFIX}_run_failure_sensor"),
            build_run_recovery_sensor(settings, f"{SENSOR_PREFIX}_run_recovery_sensor"),
        ],
        resources={
            "snapshots": SnapshotStoreResource(root=profiles_root or str(warehouse_root())),
            "warehouse": WarehouseResource(database_url=database_url or default_database_url()),
        },
    )
