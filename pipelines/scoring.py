"""The work behind the Dagster assets, pure of Dagster: profile a dataset's reference window,
score one partition against it and record the results. The assets are shells around these,
and tests call them directly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drift import (
    FeatureResult,
    Profile,
    ScanOptions,
    Status,
    Thresholds,
    compare,
    profile_batches,
)
from drift.errors import DriftInputError
from drift.formatting import format_measure
from drift.hints import where
from drift.multivariate import MultivariateResult
from drift.parquet import ParquetFiles
from drift.results import SegmentHint
from drift.sources import Source
from pipelines.config import DatasetConfig, ReferenceWindow, WatchPolicy
from pipelines.multivariate import multivariate_of, multivariate_row
from pipelines.references import Baseline
from warehouse.drift_results import DriftResultStore, NewResult
from warehouse.snapshots import SnapshotStore

_TABLE_ORDER = {
    Status.CRITICAL: 0,
    Status.WARN: 1,
    Status.ERROR: 2,
    Status.OK: 3,
    Status.INSUFFICIENT: 4,
}


class ScoringError(Exception):
    """A partition or reference window that cannot be scored; the message says why."""

    def __init__(self, message: str, missing_days: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing_days = missing_days or []


@dataclass(frozen=True)
class ReferenceProfiled:
    profile: Profile
    path: Path
    present: list[str]
    absent: list[str]


@dataclass(frozen=True)
class PartitionScored:
    results: list[FeatureResult]
    result_ids: list[int]
    rows: int
    reference: dict[str, Any] = field(default_factory=dict)
    """What the partition was compared with (a :attr:`Baseline.record`)."""
    multivariate: MultivariateResult | None = None
    """The rows' reconstruction error, graded (datasets with ``multivariate: true``)."""

    def features(self, status: Status) -> list[str]:
        return [r.feature for r in self.results if r.status is status]

    def worst_psi(self) -> float:
        scored = [r.psi for r in self.results if r.psi is not None]
        return max(scored) if scored else 0.0


def profile_features(
    snapshot: Source, cfg: WatchPolicy, **options: Any
) -> tuple[Profile, list[str]]:
    """Profile the configured features the snapshot has, with the segments of ``like`` (a
    reference or a grid) or else the configured ones; which features those were."""
    try:
        present = [f for f in cfg.features if f in snapshot.schema.names]
        like: Profile | None = options.get("like")
        options = {"multivariate": cfg.multivariate, **options}
        if like is None:
            options = {"segment_by": cfg.segment_by, "segment_top_k": cfg.segment_top_k,
                       **options}  # fmt: skip
        segment_by = list(like.segments or {}) if like is not None else cfg.segment_by
        missing = [c for c in segment_by if c not in snapshot.schema.names]
        if missing:
            raise DriftInputError(f"{snapshot.label}: lacks segment column(s) {', '.join(missing)}")
        rows = snapshot.row_groups(list(dict.fromkeys([*present, *segment_by])))
        return profile_batches(rows, snapshot.schema, columns=present, **options), present
    except DriftInputError as exc:
        raise ScoringError(str(exc)) from None


def _stream(paths: list[Path], cfg: DatasetConfig, **options: Any) -> tuple[Profile, list[str]]:
    """:func:`profile_features` of files, through drift's one Parquet reader."""
    try:
        files = ParquetFiles(paths)
    except DriftInputError as exc:
        raise ScoringError(str(exc)) from None
    return profile_features(files, cfg, **options)


def profile_reference_source(snapshot: Source, cfg: WatchPolicy, label: str) -> Profile:
    """A reference profile (bins pinned with the policy's binning) of ``snapshot``."""
    return profile_features(
        snapshot, cfg, binning=cfg.binning, n_bins=cfg.bins, top_k=cfg.top_k, source=label
    )[0]


def save_reference(store: SnapshotStore, dataset: str, profile: Profile) -> Path:
    """Save where partitions look for it; written aside and renamed, so readers never see
    half a profile."""
    path = store.profile_path(dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    profile.save(partial)
    partial.replace(path)
    return path


def profile_reference(store: SnapshotStore, dataset: str, cfg: DatasetConfig) -> ReferenceProfiled:
    """Profile the reference window (bins pinned) and save it where partitions look for it."""
    window = cfg.reference
    if not isinstance(window, ReferenceWindow):
        raise ScoringError(f"{dataset} has a rolling reference: nothing to profile once")
    by_day = {day: store.files(dataset, day) for day in window.days()}
    missing = [day.isoformat() for day, paths in by_day.items() if not paths]
    if missing:
        raise ScoringError(
            f"reference window of {dataset} lacks snapshots for {', '.join(missing)}", missing
        )
    profile, present = _stream(
        [path for paths in by_day.values() for path in paths],
        cfg,
        binning=cfg.binning,
        n_bins=cfg.bins,
        top_k=cfg.top_k,
        source=f"{dataset} {window.start}..{window.end}",
    )
    path = save_reference(store, dataset, profile)
    return ReferenceProfiled(profile, path, present, sorted(set(cfg.features) - set(present)))


def load_reference(store: SnapshotStore, dataset: str, asset_name: str) -> Profile:
    path = store.profile_path(dataset)
    if not path.exists():
        raise ScoringError(f"no reference profile for {dataset}: materialize {asset_name}")
    return Profile.load(path)


def record_scores(
    results: DriftResultStore,
    dataset: str,
    cfg: WatchPolicy,
    *,
    partition: str,
    run_id: str,
    baseline: Baseline,
    current: Profile,
    min_rows: int = 0,
) -> PartitionScored:
    """Grade ``current`` against ``baseline`` and write one drift result per feature, all
    in one transaction, once per run and partition; a partition under ``min_rows`` rows, or
    whose baseline has no reference, is recorded ``insufficient``."""
    columns = list(cfg.features)
    if current.rows < min_rows:
        scored = insufficient(current, columns, f"{current.rows} rows, fewer than min_rows "
                              f"{min_rows}: not graded")  # fmt: skip
    elif baseline.profile is None:
        scored = insufficient(current, columns, baseline.shortfall)
    else:
        options = scan_options(cfg, baseline.thresholds)
        scored = compare(baseline.profile, current, options, columns=columns)
    graded = list(cfg.measures)
    rows = [
        as_new_result(dataset, partition, run_id, r, baseline.thresholds.used(r.feature, graded))
        for r in scored
    ]
    multivariate = None
    if cfg.multivariate:
        multivariate = multivariate_of(baseline, current, min_rows)
        rows.append(multivariate_row(dataset, partition, run_id, multivariate))
    ids = results.add_once(rows, reference=baseline.record)
    return PartitionScored(scored, ids, current.rows, baseline.record, multivariate)


def scan_options(cfg: WatchPolicy, thresholds: Thresholds) -> ScanOptions:
    return ScanOptions(
        binning=cfg.binning,
        n_bins=cfg.bins,
        top_k=cfg.top_k,
        thresholds=thresholds,
        measures=tuple(cfg.measures),
    )


def insufficient(current: Profile, columns: list[str], why: str) -> list[FeatureResult]:
    """Every feature ``insufficient``: shown, never graded, never an alarm."""
    return [
        FeatureResult(
            feature=name,
            kind=current.columns[name].kind if name in current.columns else "unknown",
            status=Status.INSUFFICIENT,
            message=why,
        )
        for name in columns
    ]


def as_new_result(
    dataset: str,
    partition: str,
    run_id: str,
    r: FeatureResult,
    levels: dict[str, dict[str, float]] | None = None,
) -> NewResult:
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
        schema_break=r.schema_break.value if r.schema_break else None,
        chi2_statistic=r.chi2_statistic,
        chi2_pvalue=r.chi2_pvalue,
        wasserstein=r.wasserstein,
        levels=levels if r.status is not Status.INSUFFICIENT else None,
        segments=[hint_record(h) for h in r.segments] if r.segments is not None else None,
    )


def hint_record(hint: SegmentHint) -> dict[str, Any]:
    """A segment hint as stored with its result (bins included, for the console's bars)."""
    return asdict(hint)


def results_table(results: list[FeatureResult]) -> str:
    """The results as a markdown table, worst first (Dagster renders it on the run)."""
    segmented = any(r.segments is not None for r in results)
    rows = [
        "| feature | status | PSI | drift ratio | JS |" + (" where |" if segmented else "")
        + " message |",
        "|---|---|---:|---:|---:|" + ("---|" if segmented else "") + "---|",
    ]  # fmt: skip
    for r in sorted(results, key=lambda r: (_TABLE_ORDER[r.status], -(r.psi or 0.0))):
        message = r.message.replace("|", "\\|")
        hint = where(r.status, r.segments).replace("|", "\\|")
        rows.append(
            f"| {r.feature} | {r.status.value} | {format_measure(r.psi)} | "
            f"{format_measure(r.drift_ratio)} | {format_measure(r.js_distance)} |"
            + (f" {hint} |" if segmented else "")
            + f" {message} |"
        )
    return "\n".join(rows)
