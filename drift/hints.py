"""Where did it change: a feature's segments ranked by how much of its drift each explains.

PSI is Σ_b (c_b − r_b)·ln(c_b / r_b) over the whole's bins (shares c of the current, r of the
reference). The difference c_b − r_b splits exactly over the segments of one column —
Δ_s,b = C_s,b / |C| − R_s,b / |R| — so, with the log factor kept at the whole's,
``explained_s = Σ_b Δ_s,b·ln(c_b / r_b) / PSI`` adds up to 1 over a column's segments. A shift
everywhere then credits each segment in proportion to its size and a shift confined to one
segment credits it alone. Recomputing the whole's PSI with one segment's current replaced by its
reference was not taken: PSI grows with the square of a small shift, so that drop over-credits
big segments (a third of the rows under a shift everywhere would "explain" over half) and the
drops do not add up. Each Δ_s splits again into a within-segment part w_c·(p_c − p_r) and a
mix part (w_c − w_r)·p_r (w: the segment's share, p: its distribution), which tells a shift in
the segment's data from a change in its share of the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from drift import measures, sketch
from drift.binning import reference_cuts
from drift.profile import Binning, CategoricalProfile, ColumnProfile, NumericProfile, Profile
from drift.results import BinTable, FeatureResult, SegmentHint
from drift.thresholds import DEFAULT_LEVELS, Status, Thresholds

MAX_HINTS: Final = 5
"""Segments reported per feature (hidden ones always are)."""
MIN_SEGMENT_ROWS: Final = 1000
"""Values a segment needs on each side before it can raise hidden drift on its own."""
NOISE_MULTIPLE: Final = 3.0
"""Hidden drift also needs the segment's PSI at this multiple of the PSI that sampling alone
gives two samples of its sizes ((bins − 1)·(1/n_ref + 1/n_cur)): many levels on few rows are
noisy."""
SINGLED_OUT_SHARE: Final = 0.5
SINGLED_OUT_REST: Final = 0.5
"""A segment is where it changed when it explains at least half of the drift and the other
rows, for their number, at most half as much as they would if the shift were everywhere (which
credits every segment by its size)."""

Counter = Callable[[ColumnProfile], npt.NDArray[np.float64]]
"""A column's counts per bin of the whole's binning."""


def excess(hint: SegmentHint) -> float:
    """How much more of the drift a segment explains than its share of the rows: the order
    hints are ranked in. By share of the drift alone, a level holding most rows comes first
    for any shift (it holds most of the shifted rows of every other column's segment too)."""
    return hint.explained - hint.share_current


def singles_out(hint: SegmentHint) -> bool:
    """Whether this segment, rather than the data as a whole, is where it changed."""
    rest = 1.0 - hint.explained
    others = 1.0 - hint.share_current
    return hint.hidden or (
        hint.explained >= SINGLED_OUT_SHARE and rest <= SINGLED_OUT_REST * others
    )


def where(status: Status, hints: Sequence[SegmentHint] | None) -> str:
    """Where a drifted feature changed, in one line ("mostly country=DE: 82 % of the shift");
    "" when it did not drift or no segment stands out."""
    if not status.breach or status is Status.ERROR:
        return ""
    hidden = next((h for h in hints or [] if h.hidden), None)
    if hidden is not None and hidden.psi_within is not None:  # the whole barely moved
        return (
            f"hidden in {hidden.column}={hidden.value}: PSI {hidden.psi_within:.3g} within "
            f"the segment, {_percent(hidden.share_current)} of rows"
        )
    top = next(iter(hints or []), None)
    if top is None or not singles_out(top):
        return ""
    said = f"mostly {top.column}={top.value}: {_percent(top.explained)} of the shift"
    if top.kind == "mix":
        said += f", its share of rows {_percent(top.share_reference)} → " + _percent(
            top.share_current
        )
    return said


def from_records(records: Sequence[Mapping[str, Any]] | None) -> list[SegmentHint]:
    """Hints as stored (:func:`dataclasses.asdict` of each), back as hints."""
    hints = []
    for record in records or []:
        bins = record.get("bins")
        hints.append(
            SegmentHint(
                **{k: v for k, v in record.items() if k != "bins"},
                bins=BinTable(**bins) if bins else None,
            )
        )
    return hints


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def _distribution(
    own: npt.NDArray[np.float64], fallback: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    total, other = float(own.sum()), float(fallback.sum())
    if total > 0:
        return np.divide(own, total)
    return np.divide(fallback, other) if other > 0 else own


def _hint(
    column: str,
    value: str,
    counts: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    whole: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    rows: tuple[float, float],
    log: npt.NDArray[np.float64],
    psi: float,
    labels: list[str],
    epsilon: float,
) -> SegmentHint:
    (ref, cur), (ref_all, cur_all) = counts, whole
    w_ref, w_cur = ref.sum() / ref_all.sum(), cur.sum() / cur_all.sum()
    p_ref, p_cur = _distribution(ref, cur), _distribution(cur, ref)
    within = float(np.sum(w_cur * (p_cur - p_ref) * log))
    mix = float(np.sum((w_cur - w_ref) * p_ref * log))
    psi_within = None
    if ref.sum() > 0 and cur.sum() > 0:
        psi_within = measures.psi(
            measures.fill_epsilon(measures.shares(ref), epsilon),
            measures.fill_epsilon(measures.shares(cur), epsilon),
        )
    return SegmentHint(
        column=column,
        value=value,
        share_reference=rows[0],
        share_current=rows[1],
        psi_within=psi_within,
        explained=(within + mix) / psi if psi > 0 else 0.0,
        kind="mix" if abs(mix) > abs(within) else "within",
        bins=BinTable(labels, measures.shares(ref).tolist(), measures.shares(cur).tolist()),
    )


def _hidden(hint: SegmentHint, ref: float, cur: float, bins: int, critical: float) -> bool:
    if hint.psi_within is None or min(ref, cur) < MIN_SEGMENT_ROWS:
        return False
    noise = (bins - 1) * (1 / ref + 1 / cur)
    return hint.psi_within >= max(critical, NOISE_MULTIPLE * noise)


def segment_hints(
    result: FeatureResult,
    reference: Profile,
    current: Profile,
    count: Counter,
    thresholds: Thresholds,
    epsilon: float,
) -> FeatureResult:
    """``result`` with its segments ranked, and graded warn when the whole is ok but a segment
    is critical on its own (hidden drift)."""
    name = result.feature
    if not reference.segments or not current.segments or result.bins is None:
        return result
    ref_all = count(reference.columns[name])
    cur_all = count(current.columns[name])
    if ref_all.sum() <= 0 or cur_all.sum() <= 0:
        return result
    r, c = measures.shares(ref_all), measures.shares(cur_all)
    log = np.log(measures.fill_epsilon(c, epsilon) / measures.fill_epsilon(r, epsilon))
    psi = float(np.sum((c - r) * log))
    level = thresholds.level(name, "psi") or DEFAULT_LEVELS["psi"]
    hints = []
    for column, levels in reference.segments.items():
        now = current.segments.get(column, {})
        for value, ref_part in levels.items():
            cur_part = now.get(value)
            ref_col = ref_part.columns.get(name)
            cur_col = cur_part.columns.get(name) if cur_part is not None else None
            if ref_col is None or cur_col is None or cur_part is None:
                continue
            ref_counts, cur_counts = count(ref_col), count(cur_col)
            shares = (
                ref_part.rows / reference.rows if reference.rows else 0.0,
                cur_part.rows / current.rows if current.rows else 0.0,
            )
            hint = _hint(
                column,
                value,
                (ref_counts, cur_counts),
                (ref_all, cur_all),
                shares,
                log,
                psi,
                result.bins.labels,
                epsilon,
            )
            bins = int(np.count_nonzero(ref_counts + cur_counts))
            whole_ok = result.status is Status.OK
            if whole_ok and _hidden(hint, ref_counts.sum(), cur_counts.sum(), bins, level.critical):
                hint = replace(hint, hidden=True)
            hints.append(hint)
    hints.sort(key=lambda h: (-excess(h), h.column, h.value))
    shown = [h for h in hints[:MAX_HINTS]] + [h for h in hints[MAX_HINTS:] if h.hidden]
    graded = replace(result, segments=shown)
    hidden = next((h for h in shown if h.hidden), None)
    if hidden is None:
        return graded
    said = (
        f"hidden drift in {hidden.column}={hidden.value}: PSI {hidden.psi_within:.3g} ≥ "
        f"{level.critical:g} within the segment ({_percent(hidden.share_current)} of rows)"
    )
    message = "; ".join(m for m in (said, result.message) if m)
    return replace(graded, status=Status.WARN, message=message)


def with_hints(
    result: FeatureResult,
    reference: Profile,
    current: Profile,
    binning: tuple[Binning, int, int],
    thresholds: Thresholds,
    epsilon: float,
) -> FeatureResult:
    """The result's segment hints (and hidden drift), where both sides have the column
    (``binning``: the scan's binning, bins and categorical top-K)."""
    whole = reference.columns.get(result.feature)
    if whole is None or result.status not in (Status.OK, Status.WARN, Status.CRITICAL):
        return result
    count = counter(whole, result, *binning)
    if count is None:
        return result
    return segment_hints(result, reference, current, count, thresholds, epsilon)


def counter(
    reference: ColumnProfile, result: FeatureResult, binning: Binning, n_bins: int, top_k: int
) -> Counter | None:
    """Counts per bin of the whole's binning of ``result`` (None: it has no bins)."""
    if result.bins is None:
        return None
    if isinstance(reference, NumericProfile):
        cuts = reference_cuts(reference, binning, n_bins)
        return lambda col: (
            sketch.bin_counts(*col.sketch_arrays(), cuts).astype(np.float64)
            if isinstance(col, NumericProfile)
            else np.zeros(cuts.size + 1)
        )
    if isinstance(reference, CategoricalProfile):
        top = reference.top(top_k)
        rest = len(result.bins.labels) > len(top)

        def count(col: ColumnProfile) -> npt.NDArray[np.float64]:
            if not isinstance(col, CategoricalProfile):
                return np.zeros(len(top) + rest)
            found = [col.levels.get(level, 0) for level in top]
            if rest:
                found.append(col.present - sum(found))
            return np.asarray(found, dtype=np.float64)

        return count
    return None
