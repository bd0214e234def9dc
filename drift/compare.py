"""Comparing a current profile with its reference: the measures of each feature, graded in
:mod:`drift.results`."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from drift import measures, sketch
from drift.binning import reference_cuts
from drift.hints import with_hints
from drift.profile import (
    DEFAULT_BINS,
    DEFAULT_TOP_K,
    MAX_LEVELS,
    Binning,
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    Profile,
)
from drift.results import BinnedPsi, BinTable, FeatureResult, error_result, grade
from drift.thresholds import MEASURES, OPT_IN_MEASURES, SchemaBreak, Status, Thresholds

OTHER = "OTHER"

Counts = tuple[npt.ArrayLike, npt.ArrayLike]
"""Reference and current counts per bin."""


@dataclass(frozen=True)
class ScanOptions:
    binning: Binning = Binning.QUANTILE
    n_bins: int = DEFAULT_BINS
    top_k: int = DEFAULT_TOP_K
    epsilon: float = measures.DEFAULT_EPSILON
    thresholds: Thresholds = field(default_factory=Thresholds)
    measures: tuple[str, ...] = MEASURES
    """The measures that grade a feature; the opt-in ones are computed only when named."""

    def wants(self, measure: str) -> bool:
        return measure in self.measures


def _interval_labels(edges: list[float]) -> list[str]:
    bounds = ["-inf", *(f"{e:.6g}" for e in edges), "inf"]
    return [f"[{lo}, {hi})" for lo, hi in itertools.pairwise(bounds)]


def _missing_share_delta(ref: ColumnProfile, cur: ColumnProfile) -> float | None:
    if (
        isinstance(ref, NumericProfile | CategoricalProfile)
        and isinstance(cur, NumericProfile | CategoricalProfile)
        and ref.rows
        and cur.rows
    ):
        return cur.missing / cur.rows - ref.missing / ref.rows
    return None


def _counts_of(
    bins: BinTable,
    ref: NumericProfile | CategoricalProfile,
    cur: NumericProfile | CategoricalProfile,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Counts per bin back from shares computed elsewhere (the Evidently mode's)."""
    return (
        np.rint(np.asarray(bins.reference) * ref.present),
        np.rint(np.asarray(bins.current) * cur.present),
    )


def _empty_side(
    name: str, ref: NumericProfile | CategoricalProfile, cur: NumericProfile | CategoricalProfile
) -> FeatureResult | None:
    """An ``error`` result when either side has nothing to compare."""
    if ref.present == 0:
        return error_result(
            name, ref.kind, "no non-missing values in the reference", SchemaBreak.ALL_NULL
        )
    if cur.present == 0:
        return error_result(
            name, ref.kind, "no non-missing values in the current snapshot", SchemaBreak.ALL_NULL
        )
    return None


class OptIn(TypedDict, total=False):
    """What the opt-in measures add to a result."""

    chi2_statistic: float
    chi2_pvalue: float
    wasserstein: float | None


def _opt_in(
    options: ScanOptions,
    counts: Counts,
    numeric: tuple[NumericProfile, NumericProfile] | None = None,
) -> OptIn:
    """The opt-in measures' fields ``options`` asks for, from bin counts and (numeric)
    sketches."""
    found: OptIn = {}
    if not any(options.wants(m) for m in OPT_IN_MEASURES):
        return found
    from drift import stats  # only here: scipy is a cold-start cost the defaults do not pay

    if options.wants("chi2"):
        found["chi2_statistic"], found["chi2_pvalue"] = stats.chi2_test(*counts)
    if options.wants("wasserstein") and numeric is not None:
        found["wasserstein"] = stats.wasserstein_distance(*numeric)
    return found


def _psi(bins: BinTable, epsilon: float) -> float:
    """PSI with the same empty-bin share on both sides."""
    return measures.psi(
        measures.fill_epsilon(np.asarray(bins.reference), epsilon),
        measures.fill_epsilon(np.asarray(bins.current), epsilon),
    )


def _numeric(
    name: str,
    ref: NumericProfile,
    cur: NumericProfile,
    options: ScanOptions,
    external: BinnedPsi | None,
) -> FeatureResult:
    empty = _empty_side(name, ref, cur)
    if empty is not None:
        return empty
    notes: list[str] = []
    counts: Counts
    if external is not None:
        bins, psi = external.bins, external.psi
        counts = _counts_of(bins, ref, cur)
    else:
        if cur.anchor != ref.anchor:
            return error_result(
                name, ref.kind, "current profile was not built against this reference"
            )
        cuts = reference_cuts(ref, options.binning, options.n_bins)
        ref_counts = sketch.bin_counts(*ref.sketch_arrays(), cuts)
        cur_counts = sketch.bin_counts(*cur.sketch_arrays(), cuts)
        counts = (ref_counts, cur_counts)
        edges = sketch.lower_bound(cuts, ref.anchor or 0.0).tolist()
        bins = BinTable(
            _interval_labels(edges),
            measures.shares(ref_counts).tolist(),
            measures.shares(cur_counts).tolist(),
        )
        psi = _psi(bins, options.epsilon)
    ratio = shift = None
    if ref.mean is not None and cur.mean is not None and ref.std is not None:
        ratio = measures.drift_ratio(ref.mean, cur.mean, ref.std)
        shift = measures.mean_shift_std(ref.mean, cur.mean, ref.std)
        if shift is None:
            notes.append("reference is constant: mean shift in σ undefined")
    if ref.dtype != cur.dtype:
        notes.append(f"type changed {ref.dtype} → {cur.dtype}")
    result = FeatureResult(
        feature=name,
        kind=ref.kind,
        status=Status.OK,
        psi=psi,
        drift_ratio=ratio,
        mean_shift_std=shift,
        js_distance=measures.js_distance(np.asarray(bins.reference), np.asarray(bins.current)),
        missing_share_delta=_missing_share_delta(ref, cur),
        bins=bins,
    )
    result = replace(
        result, **_opt_in(options, counts, (ref, cur) if ref.anchor == cur.anchor else None)
    )
    return grade(result, options.thresholds, options.measures, notes)


def _categorical(
    name: str,
    ref: CategoricalProfile,
    cur: CategoricalProfile,
    options: ScanOptions,
    external: BinnedPsi | None,
) -> FeatureResult:
    empty = _empty_side(name, ref, cur)
    if empty is not None:
        return empty
    notes: list[str] = []
    unseen = sum(n for level, n in cur.levels.items() if level not in ref.levels) + cur.other
    if ref.other:
        notes.append(f"reference has over {MAX_LEVELS:,} levels: unseen share is an upper bound")
    counts: Counts
    if external is not None:
        bins, psi = external.bins, external.psi
        counts = _counts_of(bins, ref, cur)
    else:
        top = ref.top(options.top_k)
        ref_counts = [ref.levels[level] for level in top]
        cur_counts = [cur.levels.get(level, 0) for level in top]
        ref_rest, cur_rest = ref.present - sum(ref_counts), cur.present - sum(cur_counts)
        labels = list(top)
        if ref_rest or cur_rest:
            labels.append(OTHER)
            ref_counts.append(ref_rest)
            cur_counts.append(cur_rest)
        bins = BinTable(
            labels, measures.shares(ref_counts).tolist(), measures.shares(cur_counts).tolist()
        )
        psi = _psi(bins, options.epsilon)
        counts = (ref_counts, cur_counts)
    result = FeatureResult(
        feature=name,
        kind=ref.kind,
        status=Status.OK,
        psi=psi,
        js_distance=measures.js_distance(np.asarray(bins.reference), np.asarray(bins.current)),
        missing_share_delta=_missing_share_delta(ref, cur),
        unseen_share=unseen / cur.present,
        bins=bins,
    )
    result = replace(result, **_opt_in(options, counts))
    return grade(result, options.thresholds, options.measures, notes)


def compare_column(
    name: str,
    ref: ColumnProfile | None,
    cur: ColumnProfile | None,
    options: ScanOptions,
    external: BinnedPsi | None = None,
) -> FeatureResult:
    """Score one feature; anything that cannot be scored is a result with status ``error``."""
    if ref is None:
        kind = cur.kind if cur else "unknown"
        return error_result(name, kind, "column missing in the reference", SchemaBreak.MISSING)
    if cur is None:
        return error_result(
            name, ref.kind, "column missing in the current snapshot", SchemaBreak.MISSING
        )
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        return _numeric(name, ref, cur, options, external)
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        return _categorical(name, ref, cur, options, external)
    if ref.kind == "unsupported" or cur.kind == "unsupported":
        dtype = ref.dtype if ref.kind == "unsupported" else cur.dtype
        return error_result(
            name, ref.kind, f"type {dtype} cannot be scored", SchemaBreak.UNREADABLE
        )
    return error_result(
        name,
        ref.kind,
        f"type changed {ref.dtype} → {cur.dtype} ({ref.kind} → {cur.kind})",
        SchemaBreak.RETYPED,
    )


def compare(
    reference: Profile,
    current: Profile,
    options: ScanOptions | None = None,
    *,
    columns: list[str] | None = None,
    external: Mapping[str, BinnedPsi] | None = None,
) -> list[FeatureResult]:
    """Results for ``columns`` (default: every column of either profile, reference order)."""
    options = options or ScanOptions()
    names = columns or list(dict.fromkeys([*reference.columns, *current.columns]))
    external = external or {}
    results = [
        compare_column(
            name,
            reference.columns.get(name),
            current.columns.get(name),
            options,
            external.get(name),
        )
        for name in names
    ]
    if not reference.segments or not current.segments or external:
        return results
    binning = (options.binning, options.n_bins, options.top_k)
    return [
        with_hints(r, reference, current, binning, options.thresholds, options.epsilon)
        for r in results
    ]
