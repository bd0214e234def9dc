"""References built from a window of partition profiles, and levels calibrated from the
window's own noise.

Profiles merge exactly, so a rolling reference is the merge of the stored profiles of the
partitions in its window, with no rescan of raw data. How far a partition normally drifts is
read from the window itself: each partition is scored against the merge of the others
(leave-one-out), and a measure's levels are the mean of those values plus ``warn_sigmas`` /
``critical_sigmas`` of their spread (their standard deviation, at least
:data:`MIN_RELATIVE_SPREAD` of their mean), never below :data:`CALIBRATION_FLOOR`. A
column whose partitions differ by weekday or by sampling noise (a many-level column at a few
hundred rows a day) so gets levels above that noise, and a steady column levels close to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from drift.binning import pin_bins
from drift.compare import ScanOptions, compare
from drift.merge import merge, subtract
from drift.profile import NumericProfile, Profile
from drift.thresholds import (
    CALIBRATION_FLOOR,
    GRADED_FIELD,
    MIN_RELATIVE_SPREAD,
    Level,
    Thresholds,
)


def _join(a: Profile | None, b: Profile) -> Profile:
    return b if a is None else merge(a, b, union=True)


def _total(window: Sequence[Profile]) -> Profile:
    total: Profile | None = None
    for profile in window:
        total = _join(total, profile)
    if total is None:
        raise ValueError("a reference window needs at least one profile")
    return total


def total(window: Sequence[Profile]) -> Profile:
    """The window's profiles merged (a column some days lack is merged from the days that
    have it), bins not pinned: :func:`pinned` makes it a reference."""
    return _total(window)


def pinned(merged: Profile, options: ScanOptions) -> Profile:
    return pin_bins(merged, options.binning, options.n_bins)


def _bounds_without(window: Sequence[Profile], column: str, i: int) -> tuple[float | None, ...]:
    others = [p.columns.get(column) for j, p in enumerate(window) if j != i]
    numeric = [c for c in others if isinstance(c, NumericProfile)]
    lows = [c.min for c in numeric if c.min is not None]
    highs = [c.max for c in numeric if c.max is not None]
    return (min(lows) if lows else None, max(highs) if highs else None)


def _leave_one_out(window: Sequence[Profile], whole: Profile) -> list[Profile]:
    """For each profile, the merge of all the others: the window's total less that profile
    (counts and exact sums subtract; each column's bounds are those of the others), so a
    window of n costs n merges and n subtractions."""
    others = []
    for i, profile in enumerate(window):
        try:
            rest = subtract(whole, profile)
        except ValueError:  # levels folded into other: merge the others instead
            rest = _total([p for j, p in enumerate(window) if j != i])
            others.append(rest)
            continue
        columns = dict(rest.columns)
        for name, column in rest.numeric().items():
            low, high = _bounds_without(window, name, i)
            columns[name] = replace(column, min=low, max=high)
        others.append(replace(rest, columns=columns))
    return others


def noise(
    window: Sequence[Profile],
    options: ScanOptions,
    columns: Sequence[str],
    whole: Profile | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Per column and calibrated measure, the values of each partition scored against the
    merge of the others (finite ones only)."""
    if len(window) < 2:
        raise ValueError("calibration needs a window of at least two partitions")
    wanted = [m for m in options.measures if m in CALIBRATION_FLOOR]
    found: dict[str, dict[str, list[float]]] = {c: {m: [] for m in wanted} for c in columns}
    others_of = _leave_one_out(window, whole if whole is not None else _total(window))
    for partition, others in zip(window, others_of, strict=True):
        reference = pin_bins(others, options.binning, options.n_bins)
        for result in compare(reference, partition, options, columns=list(columns)):
            for measure in wanted:
                value = getattr(result, GRADED_FIELD[measure])
                if value is not None and math.isfinite(value):
                    found[result.feature][measure].append(abs(value))
    return found


def level_from(values: Sequence[float], measure: str, thresholds: Thresholds) -> Level | None:
    """Mean plus k standard deviations of ``values``, at least the measure's floor; None when
    fewer than two values were measured (the configured level stays)."""
    if len(values) < 2:
        return None
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    spread = max(float(array.std(ddof=1)), MIN_RELATIVE_SPREAD * mean)
    floor = CALIBRATION_FLOOR[measure]
    warn = max(floor.warn, mean + thresholds.warn_sigmas * spread)
    critical = max(floor.critical, mean + thresholds.critical_sigmas * spread, warn)
    return Level(warn=warn, critical=critical)


def calibrate(
    window: Sequence[Profile],
    options: ScanOptions,
    columns: Sequence[str],
    whole: Profile | None = None,
) -> Thresholds:
    """``options.thresholds`` with each column's levels calibrated on ``window``; levels set
    per feature in the configuration win over calibrated ones."""
    configured = options.thresholds
    features: dict[str, dict[str, Level]] = {}
    for column, by_measure in noise(window, options, columns, whole).items():
        levels = {
            measure: level
            for measure, values in by_measure.items()
            if (level := level_from(values, measure, configured)) is not None
        }
        features[column] = {**levels, **configured.features.get(column, {})}
    return replace(configured, features={**configured.features, **features})
