"""A whole scan: a reference (file, DataFrame or saved profile) against a current snapshot."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import pyarrow as pa

from drift.columns import default_columns
from drift.compare import ScanOptions, compare
from drift.csv_source import is_csv, type_named
from drift.errors import DriftInputError
from drift.evidently_mode import evidently_bins
from drift.measures import DEFAULT_EPSILON
from drift.multivariate import MultivariateResult, compare_moments
from drift.parquet import is_parquet
from drift.profile import DEFAULT_BINS, DEFAULT_TOP_K, Binning, Profile
from drift.profiler import profile_batches
from drift.results import FeatureResult
from drift.segments import DEFAULT_SEGMENT_TOP_K, check_segments
from drift.sources import Source, open_snapshot, snapshot_files, type_hints
from drift.thresholds import MEASURES, Status, Thresholds, known_measures


@dataclass(frozen=True)
class ScanReport:
    reference: str
    current: str
    binning: Binning
    n_bins: int
    rows_reference: int
    rows_current: int
    features: list[FeatureResult]
    measures: tuple[str, ...] = MEASURES
    """The measures that graded the features."""
    multivariate: MultivariateResult | None = None

    def summary(self) -> dict[str, object]:
        counts = {status.value: 0 for status in Status}
        for result in self.features:
            counts[result.status.value] += 1
        scored = [r.psi for r in self.features if r.psi is not None]
        return {
            "features": len(self.features),
            **counts,
            "worst_psi": max(scored) if scored else None,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
        }

    def fails(self, level: Status) -> bool:
        """Whether a feature reaches ``level`` or could not be scored (``error``): a column
        that vanished or changed type is as much a reason to stop a job as drift is."""
        return any(r.status is Status.ERROR for r in self.features) or (
            self.worst().rank >= level.rank
        )

    def worst(self) -> Status:
        graded = [r.status for r in self.features if r.status is not Status.ERROR]
        if self.multivariate is not None and self.multivariate.status is not Status.ERROR:
            graded.append(self.multivariate.status)
        return max(graded, key=lambda s: s.rank, default=Status.OK)

    def as_dict(self, *, with_bins: bool = False) -> dict[str, object]:
        return {
            "reference": self.reference,
            "current": self.current,
            "binning": self.binning.value,
            "n_bins": self.n_bins,
            "measures": list(self.measures),
            "features": [
                r.as_dict(with_bins=with_bins, measures=self.measures) for r in self.features
            ],
            "summary": self.summary(),
            **({"multivariate": self.multivariate.as_dict()} if self.multivariate else {}),
        }


def load_reference(
    path: str | Path, types: Mapping[str, pa.DataType] | None = None
) -> Profile | Source:
    """A Parquet file (by content), a CSV file (by name), a directory or glob of them, or a
    saved profile (JSON)."""
    if snapshot_files(path) is not None or is_parquet(path) or is_csv(path):
        return open_snapshot(path, types)
    if not Path(path).exists():
        raise DriftInputError(f"{path}: no such file")
    return Profile.load(path)


def _schema_of(reference: Profile | Source) -> pa.Schema:
    """The reference's column types, which a CSV scanned against it is read with."""
    if not isinstance(reference, Profile):
        return reference.schema
    types = {name: type_named(column.dtype) for name, column in reference.columns.items()}
    # A type with no alias (a decimal) is left to inference.
    return pa.schema([pa.field(name, t) for name, t in types.items() if t is not None])


def _select(
    requested: Sequence[str] | None,
    ref_names: list[str],
    cur_names: list[str],
    ref_default: list[str],
    cur_default: list[str],
) -> list[str]:
    if requested is None:
        return list(dict.fromkeys([*ref_default, *cur_default]))
    unknown = [c for c in requested if c not in ref_names and c not in cur_names]
    if unknown:
        raise DriftInputError(f"unknown column(s) in both files: {', '.join(unknown)}")
    return list(dict.fromkeys(requested))


def _segment_by(reference: Profile | Source, asked: Sequence[str]) -> list[str]:
    """The segment columns: a saved reference's own, else the ones asked for."""
    if not isinstance(reference, Profile):
        return list(asked)
    saved = list(reference.segments or {})
    if asked and saved != list(asked):
        said = ", ".join(saved) if saved else "none"
        raise DriftInputError(
            f"--segment-by {','.join(asked)}: the saved reference profile has segments by "
            f"{said}; profile the reference again with --segment-by {','.join(asked)}"
        )
    return saved


def _reading(columns: list[str], segment_by: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*columns, *segment_by]))


class ScanArgs(TypedDict, total=False):
    """How to scan, whatever the snapshots are (see :func:`scan`)."""

    binning: Binning | None
    n_bins: int | None
    top_k: int | None
    epsilon: float
    thresholds: Thresholds | None
    measures: Sequence[str]
    on_batch: Callable[[int], None] | None
    on_start: Callable[[int], None] | None
    segment_by: Sequence[str]
    segment_top_k: int
    multivariate: bool


def scan(
    reference: str | Path,
    current: str | Path,
    *,
    columns: Sequence[str] | None = None,
    schema: Mapping[str, pa.DataType] | None = None,
    **options: Unpack[ScanArgs],
) -> ScanReport:
    """Scan the file ``current`` (Parquet or CSV) against ``reference`` (Parquet, CSV or a
    saved profile). A CSV is read with ``schema``'s types where given, else the reference's.

    ``binning``, ``n_bins`` and ``top_k`` default to a saved reference profile's own (its pinned
    bins), else to quantile deciles and the top 50 levels; ``measures`` are the ones that
    grade (default :data:`~drift.thresholds.MEASURES`). ``on_start(total_rows)`` and
    ``on_batch(rows)`` report progress.
    """
    ref_source = load_reference(reference, schema)
    cur = open_snapshot(current, type_hints(_schema_of(ref_source), schema))
    return scan_sources(
        ref_source, cur, columns=columns, labels=(str(reference), str(current)), **options
    )


def scan_sources(
    ref_source: Profile | Source,
    cur: Source,
    *,
    binning: Binning | None = None,
    n_bins: int | None = None,
    top_k: int | None = None,
    epsilon: float = DEFAULT_EPSILON,
    thresholds: Thresholds | None = None,
    columns: Sequence[str] | None = None,
    measures: Sequence[str] = MEASURES,
    on_batch: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    labels: tuple[str, str] | None = None,
    segment_by: Sequence[str] = (),
    segment_top_k: int = DEFAULT_SEGMENT_TOP_K,
    multivariate: bool = False,
) -> ScanReport:
    """:func:`scan` on sources already opened (files, DataFrames) or a profile in memory;
    ``labels`` name the two sides in the report (default: the sources' own)."""
    pinned = ref_source if isinstance(ref_source, Profile) else None
    options = ScanOptions(
        binning=binning or (pinned.binning if pinned else Binning.QUANTILE),
        n_bins=n_bins or (pinned.n_bins if pinned else DEFAULT_BINS),
        top_k=top_k or (pinned.top_k if pinned else DEFAULT_TOP_K),
        epsilon=epsilon,
        thresholds=thresholds or Thresholds(),
        measures=known_measures(measures),
    )
    if isinstance(ref_source, Profile):
        if multivariate and ref_source.multivariate is None:
            raise DriftInputError(
                "--multivariate: the saved reference profile has no multivariate moments; "
                "profile the reference again with --multivariate"
            )
        if options.binning is Binning.EVIDENTLY:
            raise DriftInputError(
                "--binning evidently bins over reference ∪ current: give the reference "
                "Parquet file, not a saved profile"
            )
        ref_names = list(ref_source.columns)
        ref_default = ref_names
    else:
        ref_names = list(ref_source.schema.names)
        ref_default = default_columns(ref_source.schema)
    cur_names = list(cur.schema.names)
    names = _select(columns, ref_names, cur_names, ref_default, default_columns(cur.schema))
    ref_cols = [n for n in names if n in ref_names]
    cur_cols = [n for n in names if n in cur_names]
    segment_by = _segment_by(ref_source, segment_by)
    if segment_by:
        check_segments(cur.schema, segment_by, segment_top_k, cur_cols)

    if on_start is not None:
        sides = [cur.num_rows] + ([] if isinstance(ref_source, Profile) else [ref_source.num_rows])
        # A CSV's rows are unknown until read: 0 shows no progress bar rather than a wrong one.
        on_start(0 if None in sides else sum(n or 0 for n in sides))
    if isinstance(ref_source, Profile):
        ref_profile = ref_source
    else:
        ref_profile = profile_batches(
            ref_source.row_groups(_reading(ref_cols, segment_by)),
            ref_source.schema,
            columns=ref_cols,
            binning=options.binning,
            n_bins=options.n_bins,
            top_k=options.top_k,
            source=ref_source.label,
            on_batch=on_batch,
            segment_by=segment_by,
            segment_top_k=segment_top_k,
            multivariate=multivariate,
        )
    cur_profile = profile_batches(
        cur.row_groups(_reading(cur_cols, segment_by)),
        cur.schema,
        columns=cur_cols,
        like=ref_profile,
        top_k=options.top_k,
        source=cur.label,
        on_batch=on_batch,
    )
    external = None
    if options.binning is Binning.EVIDENTLY and not isinstance(ref_source, Profile):
        external = evidently_bins(ref_source, cur, names)
    reference_label, current_label = labels or (
        ref_profile.source or "reference",
        cur.label,
    )
    return ScanReport(
        reference=reference_label,
        current=current_label,
        binning=options.binning,
        n_bins=options.n_bins,
        rows_reference=ref_profile.rows,
        rows_current=cur_profile.rows,
        features=compare(ref_profile, cur_profile, options, columns=names, external=external),
        measures=options.measures,
        multivariate=_multivariate(ref_profile, cur_profile),
    )


def _multivariate(reference: Profile, current: Profile) -> MultivariateResult | None:
    if reference.multivariate is None or current.multivariate is None:
        return None
    return compare_moments(reference.multivariate, current.multivariate)
