"""Per dataset: a ``reference_profile`` asset and a daily-partitioned ``feature_drift`` asset
whose check grades each partition. The work is in :mod:`pipelines.scoring`; these are shells
that turn it into Dagster metadata, check results and failures."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    asset,
)

from drift import Status
from pipelines.backfill import RangeScored, score_range
from pipelines.baselines import references_for
from pipelines.config import DatasetConfig, ReferenceWindow
from pipelines.defs.checks import (
    check_names,
    drift_check,
    drift_check_specs,
    feature_check,
    range_checks,
)
from pipelines.defs.plots import distribution_png, markdown_image
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.scoring import (
    PartitionScored,
    ReferenceProfiled,
    ScoringError,
    profile_reference,
    results_table,
)


def reference_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "reference_profile"])


def drift_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "feature_drift"])


def drift_job_name(dataset: str) -> str:
    return f"{dataset}_drift_job"


StepContext = AssetExecutionContext | OpExecutionContext
"""The drift asset's one step, or one of its steps when it is a graph (:mod:`.share_steps`)."""

DATASET_TAG = "driftwatch/dataset"
"""The run tag naming a drift job's dataset: dagster.prod.yaml's queued run coordinator limits
concurrent runs per value of it, so a backfill of one dataset cannot starve the others."""


def scoring_failure(exc: ScoringError) -> Failure:
    """A clean run failure in the UI (the message, no traceback of ours)."""
    metadata = {"missing_days": exc.missing_days} if exc.missing_days else None
    return Failure(str(exc), metadata=metadata)


def runs_that_wrote_before(context: StepContext) -> list[str]:
    """The runs whose results this step finishes rather than repeats: this run (a step handed
    to another Celery worker when its first one died starts over) and the failed runs it
    retries, parent after parent. A re-execution of a run that succeeded recomputes."""
    runs = [context.run.run_id]
    parent_id = context.run.parent_run_id
    while parent_id is not None:
        parent = context.instance.get_run_by_id(parent_id)
        if parent is None or not parent.is_failure_or_canceled:
            break
        runs.append(parent.run_id)
        parent_id = parent.parent_run_id
    return runs


def range_failure(outcome: RangeScored, asked: int) -> Failure:
    """The run fails when a day of it could not be scored; the days that could are kept."""
    failed = list(outcome.failed)
    if asked == 1:
        return Failure(outcome.failed[failed[0]], metadata={"missing_days": failed})
    first = outcome.failed[failed[0]]
    return Failure(
        f"{len(failed)} of {asked} partitions could not be scored (first: {first}); "
        f"{len(outcome.scored)} were",
        metadata={"missing_days": failed},
    )


def materializer(context: StepContext, key: AssetKey) -> Callable[[str, PartitionScored], None]:
    """Logs one materialization per scored partition, with its own figures; the distribution
    plot (~0.1 s to draw) only for the newest day of a range."""
    newest = context.partition_keys[-1]

    def materialized(partition: str, done: PartitionScored) -> None:
        metadata = drift_metadata(done, plot=partition == newest)
        context.log_event(AssetMaterialization(key, partition=partition, metadata=metadata))

    return materialized


def finish_range(context: StepContext, outcome: RangeScored) -> Iterator[AssetCheckResult]:
    """The checks of a scored range, then the run's failure when a day of it was not scored."""
    asked = len(context.partition_keys)
    if outcome.skipped:
        context.log.info(
            "%d of %d partitions were already recorded (by this run or the run it retries): %s",
            len(outcome.skipped),
            asked,
            ", ".join(outcome.skipped),
        )
    yield from range_checks(outcome)
    if outcome.failed:
        raise range_failure(outcome, asked)


def reference_metadata(
    done: ReferenceProfiled, window: ReferenceWindow
) -> dict[str, MetadataValue]:
    return {
        "path": MetadataValue.path(str(done.path)),
        "rows": MetadataValue.int(done.profile.rows),
        "features": MetadataValue.int(len(done.present)),
        "missing_features": MetadataValue.json(done.absent),
        "window": MetadataValue.text(f"{window.start} … {window.end}"),
    }


def drift_metadata(done: PartitionScored, *, plot: bool = True) -> dict[str, MetadataValue]:
    ids = done.result_ids
    metadata: dict[str, MetadataValue] = {
        "features": MetadataValue.md(results_table(done.results)),
        "worst_psi": MetadataValue.float(done.worst_psi()),
        "rows": MetadataValue.int(done.rows),
        "critical_count": MetadataValue.int(len(done.features(Status.CRITICAL))),
        "warn_count": MetadataValue.int(len(done.features(Status.WARN))),
        "error_count": MetadataValue.int(len(done.features(Status.ERROR))),
        "critical_features": MetadataValue.json(done.features(Status.CRITICAL)),
        "warn_features": MetadataValue.json(done.features(Status.WARN)),
        "error_features": MetadataValue.json(done.features(Status.ERROR)),
        "drift_result_ids": MetadataValue.text(f"{ids[0]}…{ids[-1]}" if ids else ""),
        "reference": MetadataValue.json(done.reference),
        "insufficient_count": MetadataValue.int(len(done.features(Status.INSUFFICIENT))),
    }
    png = distribution_png(done.results) if plot else None
    if png is not None:
        metadata["distributions"] = MetadataValue.md(markdown_image(png, "reference vs current"))
    return metadata


def drift_outputs(
    done: PartitionScored, partition: str
) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
    """What a drift asset yields for a scored partition: its materialization, then checks."""
    yield MaterializeResult(metadata=drift_metadata(done))
    yield drift_check(done, partition)
    for result in done.results:
        yield feature_check(result, partition)


def build_reference_asset(name: str, cfg: DatasetConfig) -> AssetsDefinition | None:
    """The fixed window's reference profile; None for a rolling reference (the partitions'
    own stored profiles are its references)."""
    window = cfg.reference
    if not isinstance(window, ReferenceWindow):
        return None

    @asset(
        key=reference_key(name),
        group_name=name,
        kinds={"parquet", "json"},
        description=(
            f"Profile of {name}'s reference window ({window.start} … "
            f"{window.end}): per feature, pinned {cfg.binning.value} bins "
            f"({cfg.bins}), moments and level counts. Every partition is compared with it."
        ),
    )
    def reference_profile(
        context: AssetExecutionContext, snapshots: SnapshotStoreResource
    ) -> MaterializeResult[Any]:
        try:
            done = profile_reference(snapshots.store(), name, cfg)
        except ScoringError as exc:
            raise scoring_failure(exc) from None
        context.log.info(
            "profiled %s rows of %s over %d days", done.profile.rows, name, len(window.days())
        )
        return MaterializeResult(metadata=reference_metadata(done, window))

    return reference_profile


def freshness_policy(cfg: DatasetConfig) -> FreshnessPolicy | None:
    """Dagster's own freshness: each day's drift is materialized by the snapshot deadline (a
    snapshot that did not land cannot be), within the day before it."""
    if cfg.snapshot_deadline is None:
        return None
    deadline = cfg.snapshot_deadline
    return FreshnessPolicy.cron(
        deadline_cron=f"{deadline.minute} {deadline.hour} * * *",
        lower_bound_delta=timedelta(days=1),
        timezone="UTC",
    )


def daily_partitions(cfg: DatasetConfig) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=cfg.partitions_start.isoformat())


def build_drift_asset(name: str, cfg: DatasetConfig) -> AssetsDefinition:
    key = drift_key(name)
    check_names(name, cfg.features)

    if cfg.rolling:
        against = (
            f"the merged profiles of its partitions in the {cfg.rolling.rolling_days} days "
            f"before it{' on its weekday' if cfg.rolling.same_weekday else ''}"
        )
    else:
        against = "the reference profile"

    @asset(
        key=key,
        deps=[] if cfg.rolling else [reference_key(name)],
        partitions_def=daily_partitions(cfg),
        group_name=name,
        kinds={"parquet", "sql"},
        description=(
            f"Drift of each day of {name} against {against}: PSI, drift ratio, "
            "JS distance, missing share and unseen levels per feature, one row each in the "
            "warehouse's drift_results."
        ),
        freshness_policy=freshness_policy(cfg),
        check_specs=drift_check_specs(key, cfg.features, multivariate=cfg.multivariate),
        # A backfill is one run over its whole range (score_range reads ahead), not a run per
        # day; the asset records its materializations itself, one per partition.
        backfill_policy=BackfillPolicy.single_run(),
        output_required=False,
    )
    def feature_drift(
        context: AssetExecutionContext,
        snapshots: SnapshotStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[AssetCheckResult]:
        store, partitions = snapshots.store(), context.partition_keys
        try:
            references = references_for(
                store,
                warehouse.results(),
                name,
                cfg,
                partitions=partitions,
                asset_name=reference_key(name).to_user_string(),
            )
        except ScoringError as exc:
            raise scoring_failure(exc) from None

        outcome = score_range(
            store,
            warehouse.results(),
            name,
            cfg,
            partitions=partitions,
            run_id=context.run.run_id,
            references=references,
            on_scored=materializer(context, key),
            recorded_by=runs_that_wrote_before(context),
        )
        yield from finish_range(context, outcome)

    return feature_drift
