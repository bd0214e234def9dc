"""Levels calibrated from a reference window's own noise.

How far a partition normally drifts is read from the window itself (:mod:`drift.window`):
each partition is scored against the merge of the others (leave-one-out), and a measure's
levels are the mean of those values plus ``warn_sigmas`` / ``critical_sigmas`` of their spread
(their standard deviation, at least :data:`MIN_RELATIVE_SPREAD` of their mean), never below
:data:`CALIBRATION_FLOOR`. A column whose partitions differ by weekday or by sampling noise (a
many-level column at a few hundred rows a day) so gets levels above that noise, and a steady
column levels close to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

import numpy as np

from drift.compare import ScanOptions, compare
from drift.profile import Profile
from drift.thresholds import (
    CALIBRATION_FLOOR,
    GRADED_FIELD,
    LOWER_IS_WORSE,
    MIN_RELATIVE_SPREAD,
    Level,
    Thresholds,
)
from drift.window import leave_one_out, pinned, total

MAX_SCORED: Final = 12
"""Partitions of a window scored against the others: twelve values estimate the spread well
enough, and a long window's calibration then costs what a twelve-partition one does."""


def noise(
    window: Sequence[Profile],
    options: ScanOptions,
    columns: Sequence[str],
    whole: Profile | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Per column and calibrated measure, the values of each partition (the newest
    :data:`MAX_SCORED` of a longer window) scored against the merge of all the others (finite
    ones only)."""
    if len(window) < 2:
        raise ValueError("calibration needs a window of at least two partitions")
    wanted = [m for m in options.measures if m in CALIBRATION_FLOOR]
    found: dict[str, dict[str, list[float]]] = {c: {m: [] for m in wanted} for c in columns}
    scored = range(max(0, len(window) - MAX_SCORED), len(window))
    whole = whole if whole is not None else total(window)
    others_of = leave_one_out(window, whole, scored)
    for partition, others in zip([window[i] for i in scored], others_of, strict=True):
        reference = pinned(others, options)
        for result in compare(reference, partition, options, columns=list(columns)):
            for measure in wanted:
                value = _scale(measure, getattr(result, GRADED_FIELD[measure]))
                if value is not None and math.isfinite(value):
                    found[result.feature][measure].append(value)
    return found


def _scale(measure: str, value: float | None) -> float | None:
    """The value on the scale levels are calibrated on: its magnitude, or for a p-value its
    surprise −ln p (with no drift at all, exponential: mean 1, spread 1)."""
    if value is None:
        return None
    if measure in LOWER_IS_WORSE:
        return -math.log(value) if value > 0 else None
    return abs(value)


def level_from(values: Sequence[float], measure: str, thresholds: Thresholds) -> Level | None:
    """Mean plus k spreads of ``values``, at least the measure's floor (for a p-value, on the
    −ln p scale, and at most its customary levels); None when fewer than two values were
    measured (the configured level stays)."""
    if len(values) < 2:
        return None
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    spread = max(float(array.std(ddof=1)), MIN_RELATIVE_SPREAD * mean)
    if measure in LOWER_IS_WORSE:  # −ln p of no drift at all has mean 1 and spread 1
        mean, spread = max(mean, 1.0), max(spread, 1.0)
    floor = CALIBRATION_FLOOR[measure]
    warn = mean + thresholds.warn_sigmas * spread
    critical = mean + thresholds.critical_sigmas * spread
    if measure in LOWER_IS_WORSE:  # back from −ln p; never laxer than the customary levels
        p_warn = min(floor.warn, math.exp(-warn))
        return Level(warn=p_warn, critical=min(floor.critical, math.exp(-critical), p_warn))
    warn = max(floor.warn, warn)
    return Level(warn=warn, critical=max(floor.critical, critical, warn))


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
