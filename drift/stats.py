"""The scipy-backed measures, computed from profiles (no second pass over the data).

Imported only when a scan asks for ``chi2`` or ``wasserstein``: scipy costs a scan's cold
start time and memory that the default measures do not need.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import stats

from drift import sketch
from drift.profile import NumericProfile

ROUNDING: Final = 2.0**-16
"""A value's float32 rounding (before it is bucketed) is below 2⁻¹⁶ of its bucket's width."""


def chi2_test(reference: npt.ArrayLike, current: npt.ArrayLike) -> tuple[float, float]:
    """Chi-square test of homogeneity on two sides' counts per bin: (statistic, p-value).

    Bins empty on both sides carry no information and are dropped; with fewer than two bins
    left the sides cannot differ (0, 1). No Yates correction: bins are many, counts large.
    """
    table = np.vstack([np.asarray(reference, float), np.asarray(current, float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def _buckets(
    column: NumericProfile,
) -> tuple[sketch.FloatArray, sketch.FloatArray, sketch.CountArray]:
    """Finite buckets of a sketch: (lower bounds, widths, counts)."""
    keys, counts = column.sketch_arrays()
    anchor = column.anchor or 0.0
    lower = sketch.lower_bound(keys, anchor)
    upper = sketch.lower_bound(np.minimum(keys + 1, sketch.N_KEYS - 1), anchor)
    width = np.where(np.isfinite(upper) & (keys + 1 < sketch.N_KEYS), upper - lower, 0.0)
    finite = np.isfinite(lower)
    return lower[finite], width[finite], counts[finite]


def wasserstein_distance(reference: NumericProfile, current: NumericProfile) -> float | None:
    """Wasserstein-1 distance between the two sketches (every value at its bucket's middle),
    in units of the reference's standard deviation; None when that is zero or unknown.

    Both profiles must share the sketch grid (current built ``like`` the reference); ±inf are
    left out, as they are of the moments.
    """
    std = reference.std
    if not std:
        return None
    lo_r, w_r, n_r = _buckets(reference)
    lo_c, w_c, n_c = _buckets(current)
    if n_r.sum() == 0 or n_c.sum() == 0:
        return None
    distance = stats.wasserstein_distance(lo_r + w_r / 2, lo_c + w_c / 2, n_r, n_c)
    return float(distance) / std


def wasserstein_error_bound(reference: NumericProfile, current: NumericProfile) -> float | None:
    """How far :func:`wasserstein_distance` can be from the distance of the raw values, in the
    same σ units: each value moved to its bucket's middle moves at most half the bucket's
    width (plus its float32 rounding), so the error is at most the two sides' mean half-width.
    """
    std = reference.std
    if not std:
        return None
    bound = 0.0
    for side in (reference, current):
        _, width, counts = _buckets(side)
        if counts.sum() == 0:
            return None
        bound += float((width * counts).sum() / counts.sum()) * (0.5 + ROUNDING)
    return bound / std
