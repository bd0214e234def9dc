"""The one place Dagster definitions are assembled (``workspace.yaml`` loads ``defs``)."""

from __future__ import annotations

from dagster import (
    Definitions,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from pipelines.config import DriftwatchConfig, load_config
from pipelines.defs.assets import (
    DATASET_TAG,
    build_drift_asset,
    build_reference_asset,
    drift_job_name,
    drift_key,
)
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.defs.sensors import (
    build_freshness_sensor,
    build_incident_sensor,
    build_run_failure_sensor,
    build_run_recovery_sensor,
)
from pipelines.defs.share_steps import build_share_steps_asset
from pipelines.executors import executor_for
from warehouse.db import database_url
from warehouse.snapshots import warehouse_root


def build_definitions(
    config: DriftwatchConfig | None = None,
    *,
    database: str | None = None,
    snapshots_root: str | None = None,
) -> Definitions:
    config = config or load_config()
    assets, jobs, schedules = [], [], []
    for name, dataset in config.datasets.items():
        # A day bigger than a worker is profiled in shares, one step each.
        build_drift = build_share_steps_asset if dataset.profile_steps > 1 else build_drift_asset
        reference = build_reference_asset(name, dataset)
        assets += [build_drift(name, dataset), *([reference] if reference else [])]
        job = define_asset_job(
            drift_job_name(name),
            selection=[drift_key(name)],
            description=f"Drift of one day of {name}",
            tags={DATASET_TAG: name},
        )
        jobs.append(job)
        schedules.append(
            build_schedule_from_partitioned_job(
                job,
                name=f"{name}_daily_drift",
                hour_of_day=1,
                description=f"Every day at 01:00 UTC: drift of yesterday's {name} snapshot",
            )
        )
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=[
            build_incident_sensor(config),
            build_run_failure_sensor(config),
            build_run_recovery_sensor(config),
            build_freshness_sensor(config),
        ],
        resources={
            "snapshots": SnapshotStoreResource(root=snapshots_root or str(warehouse_root())),
            "warehouse": WarehouseResource(database_url=database or database_url()),
        },
        executor=executor_for(),
    )


defs = build_definitions()
