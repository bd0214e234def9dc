"""``--binning evidently``: PSI exactly as Evidently 0.7's ``DataDriftPreset(method="psi")``.

Evidently (legacy ``get_binned_data``) drops NaN and ±inf, then for a numeric column whose
reference has more than 20 distinct values bins reference ∪ current with numpy's Sturges
edges; otherwise (and for categoricals, uncapped) it uses one bin per distinct value of either
side. Shares are divided by each side's non-missing count and each side's empty bins get
``min_share / 1e6`` when its smallest share is ≤ 1e-4, else 1e-4. ``n_bins`` is not used.

Sturges edges depend on both sides, so nothing can be pinned: this mode streams each file twice
(statistics, then histogram) and needs the reference Parquet file, not a saved profile.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pyarrow as pa

from drift.columns import ArrowColumn, as_float64, kind_of, level_counts
from drift.measures import Shares, psi
from drift.results import BinnedPsi, BinTable
from drift.sketch import FloatArray
from drift.sources import Source

LOW_CARDINALITY: Final = 20
_EMPTY_FILL: Final = 1e-4


def sturges_edges(low: float, high: float, size: int, integer: bool) -> np.ndarray:
    """numpy's ``histogram_bin_edges(a, "sturges")`` from a's min, max and size alone."""
    first, last = float(low), float(high)
    ptp = last - first
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = ptp / (np.log2(size) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        n_bins = int(np.ceil((last - first) / width))
    else:
        n_bins = 1
    return np.linspace(first, last, n_bins + 1, endpoint=True)


def fill_empty(shares: Shares) -> Shares:
    """Evidently's per-side fill of empty bins."""
    filled = shares.copy()
    nonzero = filled[filled != 0]
    if nonzero.size:
        smallest = nonzero.min()
        filled[filled == 0] = smallest / 10**6 if smallest <= _EMPTY_FILL else _EMPTY_FILL
    return filled


@dataclass
class _Side:
    count: int = 0
    low: float = np.inf
    high: float = -np.inf
    integer: bool = True
    distinct: set[float] = field(default_factory=set)
    values: Counter[object] = field(default_factory=Counter)
    histogram: np.ndarray | None = None


def _clean(column: ArrowColumn) -> FloatArray:
    values = as_float64(column)
    return values[np.isfinite(values)]


def _scan_stats(
    src: Source, names: Sequence[str], track_values: set[str], track_distinct: bool
) -> dict[str, _Side]:
    sides = {name: _Side() for name in names}
    for table in src.row_groups(names):
        for name in names:
            side, column = sides[name], table.column(name)
            if kind_of(column.type) == "categorical":
                for value, count in level_counts(column):
                    side.values[value] += count
                continue
            side.integer &= pa.types.is_integer(column.type) and not column.null_count
            values = _clean(column)
            if values.size == 0:
                continue
            side.count += values.size
            side.low = min(side.low, float(values.min()))
            side.high = max(side.high, float(values.max()))
            if track_distinct and len(side.distinct) <= LOW_CARDINALITY:
                side.distinct.update(np.unique(values).tolist())
            if name in track_values:
                uniq, counts = np.unique(values, return_counts=True)
                side.values.update(dict(zip(uniq.tolist(), counts.tolist(), strict=True)))
    return sides


def _histograms(src: Source, edges: dict[str, np.ndarray], sides: dict[str, _Side]) -> None:
    names = list(edges)
    if not names:
        return
    for table in src.row_groups(names):
        for name in names:
            counts, _ = np.histogram(_clean(table.column(name)), edges[name])
            side = sides[name]
            side.histogram = counts if side.histogram is None else side.histogram + counts


def _binned(
    labels: list[str], ref_counts: np.ndarray, ref_n: int, cur_counts: np.ndarray, cur_n: int
) -> BinnedPsi:
    ref_shares = ref_counts / ref_n
    cur_shares = cur_counts / cur_n
    value = psi(fill_empty(ref_shares), fill_empty(cur_shares))
    return BinnedPsi(BinTable(labels, ref_shares.tolist(), cur_shares.tolist()), value)


def evidently_bins(
    reference: Source, current: Source, names: Sequence[str]
) -> dict[str, BinnedPsi]:
    """Evidently-compatible bins and PSI for the columns both files have with one kind."""
    names = [
        n
        for n in names
        if n in reference.schema.names
        and n in current.schema.names
        and kind_of(reference.schema.field(n).type)
        == kind_of(current.schema.field(n).type)
        != "unsupported"
    ]
    ref = _scan_stats(reference, names, set(), track_distinct=True)
    low_card = {
        n
        for n in names
        if kind_of(reference.schema.field(n).type) == "numeric"
        and len(ref[n].distinct) <= LOW_CARDINALITY
    }
    # Low-cardinality reference numerics need value counts on the reference too.
    ref_low = (
        _scan_stats(reference, sorted(low_card), low_card, track_distinct=False) if low_card else {}
    )
    cur = _scan_stats(current, names, low_card, track_distinct=False)
    numeric_hist = {
        n: sturges_edges(
            min(ref[n].low, cur[n].low),
            max(ref[n].high, cur[n].high),
            ref[n].count + cur[n].count,
            ref[n].integer and cur[n].integer,
        )
        for n in names
        if n not in low_card
        and ref[n].count
        and cur[n].count
        and kind_of(reference.schema.field(n).type) == "numeric"
    }
    _histograms(reference, numeric_hist, ref)
    _histograms(current, numeric_hist, cur)

    results: dict[str, BinnedPsi] = {}
    for name in names:
        if name in numeric_hist:
            edges = numeric_hist[name]
            labels = [f"[{lo:.6g}, {hi:.6g})" for lo, hi in itertools.pairwise(edges)]
            empty = np.zeros(len(edges) - 1)
            ref_hist, cur_hist = ref[name].histogram, cur[name].histogram
            results[name] = _binned(
                labels,
                ref_hist if ref_hist is not None else empty,
                ref[name].count,
                cur_hist if cur_hist is not None else empty,
                cur[name].count,
            )
            continue
        ref_values = ref_low[name].values if name in ref_low else ref[name].values
        cur_values = cur[name].values
        ref_n, cur_n = sum(ref_values.values()), sum(cur_values.values())
        if ref_n == 0 or cur_n == 0:
            continue  # scored as an error from the profiles
        keys = list(dict.fromkeys([*cur_values, *ref_values]))
        results[name] = _binned(
            [str(k) for k in keys],
            np.array([ref_values.get(k, 0) for k in keys], dtype=np.float64),
            ref_n,
            np.array([cur_values.get(k, 0) for k in keys], dtype=np.float64),
            cur_n,
        )
    return results
