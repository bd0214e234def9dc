"""Per dataset: a ``reference_profile`` asset and a daily-partitioned ``feature_drift`` asset
whose check grades each partition. The work is in :mod:`pipelines.scoring`; these are shells
that turn it into Dagster metadata, check results and failures."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DailyPartitionsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from drift import FeatureResult, Status
from drift.thresholds import OPT_IN_FIELDS
from pipelines.config import ConfigError, DatasetConfig
from pipelines.defs.plots import distribution_png, markdown_image
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from pipelines.scoring import (
    PartitionScored,
    ReferenceProfiled,
    ScoringError,
    load_reference,
    profile_reference,
    results_table,
    score_partition,
)

GRAPHED = ("psi", "drift_ratio", "mean_shift_std", "js_distance")
"""Measures a feature's check carries as floats (Dagster plots them across partitions)."""
CHECK_NAME = "drift_within_thresholds"
"""The aggregate check; each feature also has a check of its own (:func:`feature_check_name`)."""
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_]")
_SEVERITY = {
    Status.WARN: AssetCheckSeverity.WARN,
    Status.CRITICAL: AssetCheckSeverity.ERROR,
    Status.ERROR: AssetCheckSeverity.ERROR,
}


@dataclass(frozen=True)
class DatasetAssets:
    reference: AssetsDefinition
    drift: AssetsDefinition


def reference_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "reference_profile"])


def drift_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "feature_drift"])


def drift_job_name(dataset: str) -> str:
    return f"{dataset}_drift_job"


def feature_check_name(feature: str) -> str:
    """A feature's check is named after it (Dagster allows letters, digits and ``_`` only)."""
    return _NOT_A_NAME.sub("_", feature)


def scoring_failure(exc: ScoringError) -> Failure:
    """A clean run failure in the UI (the message, no traceback of ours)."""
    metadata = {"missing_days": exc.missing_days} if exc.missing_days else None
    return Failure(str(exc), metadata=metadata)


def reference_metadata(done: ReferenceProfiled, cfg: DatasetConfig) -> dict[str, MetadataValue]:
    return {
        "path": MetadataValue.path(str(done.path)),
        "rows": MetadataValue.int(done.profile.rows),
        "features": MetadataValue.int(len(done.present)),
        "missing_features": MetadataValue.json(done.absent),
        "window": MetadataValue.text(f"{cfg.reference.start} … {cfg.reference.end}"),
    }


def drift_metadata(done: PartitionScored) -> dict[str, MetadataValue]:
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
    }
    png = distribution_png(done.results)
    if png is not None:
        metadata["distributions"] = MetadataValue.md(markdown_image(png, "reference vs current"))
    return metadata


def drift_check(done: PartitionScored, partition: str) -> AssetCheckResult:
    """WARN when a feature reaches its warn level; ERROR at critical or when a feature could not
    be scored (a schema break)."""
    critical, warn = done.features(Status.CRITICAL), done.features(Status.WARN)
    errors = done.features(Status.ERROR)
    return AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not (critical or warn or errors),
        severity=AssetCheckSeverity.ERROR if critical or errors else AssetCheckSeverity.WARN,
        description=f"partition {partition}",
        metadata={
            "critical_features": MetadataValue.json(critical),
            "warn_features": MetadataValue.json(warn),
            "error_features": MetadataValue.json(errors),
            "partition": MetadataValue.text(partition),
        },
    )


def feature_check(result: FeatureResult, partition: str) -> AssetCheckResult:
    """One feature's grade: its measures, its status and, for an error, the schema break."""
    measures = {
        name: MetadataValue.float(value)
        for name in (*GRAPHED, *OPT_IN_FIELDS)
        if (value := getattr(result, name)) is not None
    }
    return AssetCheckResult(
        check_name=feature_check_name(result.feature),
        passed=result.status is Status.OK,
        severity=_SEVERITY.get(result.status, AssetCheckSeverity.WARN),
        description=f"partition {partition}: {result.status.value}",
        metadata={
            **measures,
            "status": MetadataValue.text(result.status.value),
            "schema_break": MetadataValue.text(
                result.schema_break.value if result.schema_break else "—"
            ),
            "message": MetadataValue.text(result.message or "—"),
            "partition": MetadataValue.text(partition),
        },
    )


def drift_check_specs(key: AssetKey, features: list[str]) -> list[AssetCheckSpec]:
    """The aggregate check and one check per feature, on the drift asset ``key``."""
    return [
        AssetCheckSpec(CHECK_NAME, asset=key, description=drift_check.__doc__),
        *(
            AssetCheckSpec(
                feature_check_name(feature),
                asset=key,
                description=f"{feature} within its warn and critical levels, and scorable",
            )
            for feature in features
        ),
    ]


def drift_outputs(
    done: PartitionScored, partition: str
) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
    """What a drift asset yields for a scored partition: its materialization, then checks."""
    yield MaterializeResult(metadata=drift_metadata(done))
    yield drift_check(done, partition)
    for result in done.results:
        yield feature_check(result, partition)


def build_reference_asset(name: str, cfg: DatasetConfig) -> AssetsDefinition:
    @asset(
        key=reference_key(name),
        group_name=name,
        kinds={"parquet", "json"},
        description=(
            f"Profile of {name}'s reference window ({cfg.reference.start} … "
            f"{cfg.reference.end}): per feature, pinned {cfg.binning.value} bins "
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
            "profiled %s rows of %s over %d days",
            done.profile.rows,
            name,
            len(cfg.reference.days()),
        )
        return MaterializeResult(metadata=reference_metadata(done, cfg))

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


def check_names(name: str, features: list[str]) -> None:
    """Each feature needs a check name of its own, distinct from the aggregate's."""
    names = [feature_check_name(f) for f in features]
    clashes = sorted({n for n in names if names.count(n) > 1 or n == CHECK_NAME})
    if clashes:
        raise ConfigError(
            f"datasets.{name}.features: these names give clashing Dagster check names "
            f"(only letters, digits and _ are kept): {', '.join(clashes)}"
        )


def build_drift_asset(name: str, cfg: DatasetConfig) -> AssetsDefinition:
    key = drift_key(name)
    check_names(name, cfg.features)

    @asset(
        key=key,
        deps=[reference_key(name)],
        partitions_def=DailyPartitionsDefinition(start_date=cfg.partitions_start.isoformat()),
        group_name=name,
        kinds={"parquet", "sql"},
        description=(
            f"Drift of each day of {name} against the reference profile: PSI, drift ratio, "
            "JS distance, missing share and unseen levels per feature, one row each in the "
            "warehouse's drift_results."
        ),
        freshness_policy=freshness_policy(cfg),
        check_specs=drift_check_specs(key, cfg.features),
    )
    def feature_drift(
        context: AssetExecutionContext,
        snapshots: SnapshotStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
        store, partition = snapshots.store(), context.partition_key
        try:
            reference = load_reference(store, name, reference_key(name).to_user_string())
            done = score_partition(
                store,
                warehouse.results(),
                name,
                cfg,
                partition=partition,
                run_id=context.run.run_id,
                reference=reference,
            )
        except ScoringError as exc:
            raise scoring_failure(exc) from None
        yield from drift_outputs(done, partition)

    return feature_drift


def build_dataset_assets(name: str, cfg: DatasetConfig) -> DatasetAssets:
    return DatasetAssets(build_reference_asset(name, cfg), build_drift_asset(name, cfg))
