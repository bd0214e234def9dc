"""Per dataset: a ``reference_profile`` asset and a daily-partitioned ``feature_drift`` asset
whose check grades each partition."""

# No `from __future__ import annotations`: Dagster reads these type hints at runtime.
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
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

from drift import FeatureResult, Profile, ScanOptions, Status, compare, profile_batches
from pipelines.config import DatasetConfig
from pipelines.defs.plots import distribution_png, markdown_image
from pipelines.defs.resources import SnapshotStoreResource, WarehouseResource
from warehouse.drift_results import NewResult
from warehouse.snapshots import SnapshotMissing

CHECK_NAME = "drift_within_thresholds"


@dataclass(frozen=True)
class DatasetAssets:
    reference: AssetsDefinition
    drift: AssetsDefinition


def reference_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "reference_profile"])


def drift_key(dataset: str) -> AssetKey:
    return AssetKey([dataset, "feature_drift"])


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def results_table(results: list[FeatureResult]) -> str:
    rows = [
        "| feature | status | PSI | drift ratio | JS | message |",
        "|---|---|---:|---:|---:|---|",
    ]
    order = {Status.CRITICAL: 0, Status.WARN: 1, Status.ERROR: 2, Status.OK: 3}
    for r in sorted(results, key=lambda r: (order[r.status], -(r.psi or 0.0))):
        message = r.message.replace("|", "\\|")
        rows.append(
            f"| {r.feature} | {r.status.value} | {_fmt(r.psi)} | "
            f"{_fmt(r.drift_ratio)} | {_fmt(r.js_distance)} | {message} |"
        )
    return "\n".join(rows)


def _as_new_result(dataset: str, partition: str, run_id: str, r: FeatureResult) -> NewResult:
    bins = None
    if r.bins is not None:
        bins = {"labels": r.bins.labels, "reference": r.bins.reference, "current": r.bins.current}
    return NewResult(
        dataset=dataset,
        feature=r.feature,
        partition=partition,
        run_id=run_id,
        status=r.status.value,
        psi=r.psi,
        drift_ratio=r.drift_ratio,
        mean_shift_std=r.mean_shift_std,
        js_distance=r.js_distance,
        missing_share_delta=r.missing_share_delta,
        unseen_share=r.unseen_share,
        message=r.message,
        bins=bins,
    )


def build_dataset_assets(name: str, cfg: DatasetConfig) -> DatasetAssets:
    partitions = DailyPartitionsDefinition(start_date=cfg.partitions_start.isoformat())
    ref_key, cur_key = reference_key(name), drift_key(name)
    options = ScanOptions(
        binning=cfg.binning, n_bins=cfg.bins, top_k=cfg.top_k, thresholds=cfg.thresholds
    )

    @asset(
        key=ref_key,
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
        store = snapshots.store()
        days = cfg.reference.days()
        missing = [d.isoformat() for d in days if not store.files(name, d)]
        if missing:
            raise Failure(
                f"reference window of {name} lacks snapshots for {', '.join(missing)}",
                metadata={"missing_days": missing},
            )
        schema = store.schema(name, days[0])
        present = [f for f in cfg.features if f in schema.names]
        profile = profile_batches(
            store.row_groups(name, days, present),
            schema,
            columns=present,
            binning=cfg.binning,
            n_bins=cfg.bins,
            top_k=cfg.top_k,
            source=f"{name} {cfg.reference.start}..{cfg.reference.end}",
        )
        path = store.profile_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.tmp")
        profile.save(partial)
        partial.replace(path)
        absent = sorted(set(cfg.features) - set(present))
        context.log.info("profiled %s rows of %s over %d days", profile.rows, name, len(days))
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(path)),
                "rows": MetadataValue.int(profile.rows),
                "features": MetadataValue.int(len(present)),
                "missing_features": MetadataValue.json(absent),
                "window": MetadataValue.text(f"{cfg.reference.start} … {cfg.reference.end}"),
            }
        )

    @asset(
        key=cur_key,
        deps=[ref_key],
        partitions_def=partitions,
        group_name=name,
        kinds={"parquet", "sql"},
        description=(
            f"Drift of each day of {name} against the reference profile: PSI, drift ratio, "
            "JS distance, missing share and unseen levels per feature, one row each in the "
            "warehouse's drift_results."
        ),
        check_specs=[
            AssetCheckSpec(
                CHECK_NAME,
                asset=cur_key,
                description="WARN when a feature reaches its warn level, ERROR at critical.",
            )
        ],
    )
    def feature_drift(
        context: AssetExecutionContext,
        snapshots: SnapshotStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[MaterializeResult[Any] | AssetCheckResult]:
        store = snapshots.store()
        partition = context.partition_key
        day = date.fromisoformat(partition)
        profile_path = store.profile_path(name)
        if not profile_path.exists():
            raise Failure(
                f"no reference profile for {name}: materialize {ref_key.to_user_string()}"
            )
        reference = Profile.load(profile_path)
        try:
            schema = store.schema(name, day)
        except SnapshotMissing as exc:
            raise Failure(str(exc)) from None
        present = [f for f in cfg.features if f in schema.names]
        current = profile_batches(
            store.row_groups(name, [day], present),
            schema,
            columns=present,
            like=reference,
            top_k=cfg.top_k,
        )
        results = compare(reference, current, options, columns=list(cfg.features))
        ids = warehouse.results().add(
            _as_new_result(name, partition, context.run.run_id, r) for r in results
        )
        scored = [r.psi for r in results if r.psi is not None]
        by_status = {s: [r.feature for r in results if r.status is s] for s in Status}
        metadata: dict[str, MetadataValue] = {
            "features": MetadataValue.md(results_table(results)),
            "worst_psi": MetadataValue.float(max(scored) if scored else 0.0),
            "rows": MetadataValue.int(current.rows),
            "critical_features": MetadataValue.json(by_status[Status.CRITICAL]),
            "warn_features": MetadataValue.json(by_status[Status.WARN]),
            "error_features": MetadataValue.json(by_status[Status.ERROR]),
            "drift_result_ids": MetadataValue.text(f"{ids[0]}…{ids[-1]}" if ids else ""),
        }
        png = distribution_png(results)
        if png is not None:
            metadata["distributions"] = MetadataValue.md(
                markdown_image(png, "reference vs current")
            )
        yield MaterializeResult(metadata=metadata)

        critical, warn = by_status[Status.CRITICAL], by_status[Status.WARN]
        severity = AssetCheckSeverity.ERROR if critical else AssetCheckSeverity.WARN
        yield AssetCheckResult(
            check_name=CHECK_NAME,
            passed=not (critical or warn),
            severity=severity,
            metadata={
                "critical_features": MetadataValue.json(critical),
                "warn_features": MetadataValue.json(warn),
                "error_features": MetadataValue.json(by_status[Status.ERROR]),
                "partition": MetadataValue.text(partition),
            },
        )

    return DatasetAssets(reference_profile, feature_drift)
