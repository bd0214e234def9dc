"""Per dataset: a ``reference_profile`` asset and a daily-partitioned ``feature_drift`` asset
whose check grades each partition. The work is in :mod:`pipelines.scoring`; these are shells
that turn it into Dagster metadata, check results and failures."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from collections.abc import Iterator
from dataclasses import dataclass
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
    MaterializeResult,
    MetadataValue,
    asset,
)

from drift import Status
from pipelines.config import DatasetConfig
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

CHECK_NAME = "drift_within_thresholds"


@dataclass(frozen=True)
class DatasetAssets:
    reference: AssetsDefinition
    drift: AssetsDefinition


def reference_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "reference_profile"])


def drift_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "feature_drift"])


def _failure(exc: ScoringError) -> Failure:
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
    """WARN when a feature reaches its warn level, ERROR at critical."""
    critical, warn = done.features(Status.CRITICAL), done.features(Status.WARN)
    return AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not (critical or warn),
        severity=AssetCheckSeverity.ERROR if critical else AssetCheckSeverity.WARN,
        metadata={
            "critical_features": MetadataValue.json(critical),
            "warn_features": MetadataValue.json(warn),
            "error_features": MetadataValue.json(done.features(Status.ERROR)),
            "partition": MetadataValue.text(partition),
        },
    )


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
            raise _failure(exc) from None
        context.log.info(
            "profiled %s rows of %s over %d days",
            done.profile.rows,
            name,
            len(cfg.reference.days()),
        )
        return MaterializeResult(metadata=reference_metadata(done, cfg))

    return reference_profile


def build_drift_asset(name: str, cfg: DatasetConfig) -> AssetsDefinition:
    key = drift_key(name)

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
        check_specs=[AssetCheckSpec(CHECK_NAME, asset=key, description=drift_check.__doc__)],
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
            raise _failure(exc) from None
        yield MaterializeResult(metadata=drift_metadata(done))
        yield drift_check(done, partition)

    return feature_drift


def build_dataset_assets(name: str, cfg: DatasetConfig) -> DatasetAssets:
    return DatasetAssets(build_reference_asset(name, cfg), build_drift_asset(name, cfg))
