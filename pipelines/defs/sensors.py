"""The incident sensor (drift results → incidents), the run-failure and run-recovery sensors
(failed runs → incidents, and back), and the snapshot freshness sensor."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from datetime import UTC, datetime

from dagster import (
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from pipelines.config import DriftwatchConfig, Watched
from pipelines.defs.assets import drift_job_name, drift_key, reference_key
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.freshness import freshness_request
from pipelines.incident_rules import ACTOR, apply_results, run_recovery
from warehouse.fingerprint import pipeline_fingerprint
from warehouse.incidents import Touch
from warehouse.lifecycle import Severity, Source

BATCH = 1000


def build_incident_sensor(config: Watched, name: str = "drift_incident_sensor") -> SensorDefinition:
    @sensor(
        name=name,
        minimum_interval_seconds=config.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Reads new drift results (cursor = last result id): a breaching feature joins its "
            "dataset's incident as a member (group_by: dataset) or opens its own "
            "(group_by: feature); a member healthy for resolve_after partitions recovers, and "
            "the incident resolves when every member has."
        ),
    )
    def drift_incident_sensor(
        context: SensorEvaluationContext, warehouse: WarehouseResource
    ) -> SensorResult:
        last_id = int(context.cursor or 0)
        incidents = warehouse.incidents()
        # the webhook groups Alertmanager's drift alerts the way driftwatch.yaml says
        incidents.publish_groupings({n: d.group_by for n, d in config.datasets.items()})
        results = warehouse.results().after(last_id, limit=BATCH)
        if not results:
            return SensorResult(skip_reason=SkipReason(f"no drift results after id {last_id}"))
        # An exception here fails the tick (visible in the UI) and leaves the cursor where it
        # was: the next tick replays the batch, and dedup keys make the replay harmless.
        tally = apply_results(results, incidents, warehouse.results(), config, last_id)
        context.log.info(tally.summary())
        return SensorResult(cursor=str(tally.last_id), skip_reason=SkipReason(tally.summary()))

    return drift_incident_sensor


def watches(run: DagsterRun, config: Watched) -> bool:
    """Whether ``run`` is one of ours: a drift job, or a run that materialized a watched
    dataset's asset. Runs are read from every code location (:data:`ALL_LOCATIONS`), so that
    runs started by ``dagster asset materialize`` — which belong to none — are seen too."""
    datasets = set(config.datasets)
    if run.job_name in {drift_job_name(name) for name in datasets}:
        return True
    keys = {key for name in datasets for key in (reference_key(name), drift_key(name))}
    if keys.intersection(run.asset_selection or ()):
        return True
    # An asset's step is named after its key; a graph-backed asset's steps are
    # ``<key>.<op>`` (the drift asset's share steps, pipelines.defs.share_steps).
    steps = {"__".join(key.path) for key in keys}
    ran = {step.split(".", 1)[0] for step in run.step_keys_to_execute or ()}
    return bool(steps & ran)


ALL_LOCATIONS = True
"""Run status sensors skip runs without a code location of their own (the CLI's) unless they
monitor every location; :func:`watches` then keeps to ours."""


def build_run_failure_sensor(
    config: Watched, name: str = "drift_run_failure_sensor"
) -> SensorDefinition:
    @run_failure_sensor(
        name=name,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=config.sensor_interval_seconds,
        monitor_all_code_locations=ALL_LOCATIONS,
        description="A failed drift run is an incident too: a pipeline that stops running "
        "stops watching.",
    )
    def drift_run_failure_sensor(
        context: RunFailureSensorContext, warehouse: WarehouseResource
    ) -> None:
        run = context.dagster_run
        if not watches(run, config):
            return
        partition = run.tags.get("dagster/partition")
        message = context.failure_event.message or "run failed"
        warehouse.incidents().apply_one(
            Touch(
                pipeline_fingerprint(run.job_name),
                title=f"Drift run failed: {run.job_name}",
                description=message,
                severity=Severity.HIGH,
                source=Source.DAGSTER,
                actor=ACTOR,
                evidence={
                    "run_id": run.run_id,
                    "job": run.job_name,
                    "partition": partition,
                    "run_url": f"{config.webserver_url.rstrip('/')}/runs/{run.run_id}",
                    "error": message[:2000],
                },
                dedup_key=f"dagster:run-failure:{run.run_id}",
                note=f"run {run.run_id}" + (f" (partition {partition})" if partition else ""),
            )
        )

    return drift_run_failure_sensor


def build_run_recovery_sensor(
    config: Watched, name: str = "drift_run_recovery_sensor"
) -> SensorDefinition:
    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name=name,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=config.sensor_interval_seconds,
        monitor_all_code_locations=ALL_LOCATIONS,
        description="A run of a job that failed before resolves the failure's incident when it "
        "succeeds for the failed partition or a later one; the timeline names the run.",
    )
    def drift_run_recovery_sensor(
        context: RunStatusSensorContext, warehouse: WarehouseResource
    ) -> None:
        run = context.dagster_run
        if not watches(run, config):
            return
        request = run_recovery(run.job_name, run.run_id, run.tags.get("dagster/partition"))
        warehouse.incidents().apply_one(request)

    return drift_run_recovery_sensor


def build_freshness_sensor(config: DriftwatchConfig) -> SensorDefinition:
    @sensor(
        name="snapshot_freshness_sensor",
        minimum_interval_seconds=config.sensor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="A day's snapshot missing after its dataset's snapshot_deadline opens a "
        "freshness incident; it resolves when the data lands.",
    )
    def snapshot_freshness_sensor(
        context: SensorEvaluationContext,
        snapshots: SnapshotStoreResource,
        warehouse: WarehouseResource,
    ) -> SkipReason:
        now = datetime.now(UTC)
        store, incidents, said = snapshots.store(), warehouse.incidents(), []
        for name, dataset in config.datasets.items():
            request = freshness_request(store, name, dataset, now)
            if request is None:
                continue
            outcome = incidents.apply_one(request)
            late = isinstance(request, Touch)
            if outcome.opened or outcome.touched or outcome.resolved:
                said.append(f"{name}: {'late' if late else 'landed'}")
        return SkipReason("; ".join(said) or "every due snapshot has landed")

    return snapshot_freshness_sensor
