"""Bin edges for numeric columns, chosen once on the reference and pinned into its profile.

``quantile`` cuts at the reference deciles (or 1/n quantiles) with open-ended outer bins;
``equal-width`` cuts the reference's [min, max] into n equal parts, outer bins again open. Both
cut on the sketch's bucket boundaries (see :mod:`drift.sketch`), so a current snapshot is binned
by integer comparison of the same keys. ``evidently`` is not pinned: it bins over reference ∪
current (see :mod:`drift.evidently_mode`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from drift import sketch
from drift.profile import Binning, NumericProfile, PinnedBins, Profile


def compute_cuts(column: NumericProfile, binning: Binning, n_bins: int) -> sketch.KeyArray:
    keys, counts = column.sketch_arrays()
    if binning is Binning.QUANTILE:
        return sketch.quantile_cuts(keys, counts, n_bins)
    if binning is Binning.EQUAL_WIDTH:
        if column.min is None or column.max is None:
            return keys[:0]
        return sketch.equal_width_cuts(keys, column.min, column.max, n_bins, column.anchor or 0.0)
    raise ValueError(f"{binning.value} binning is not pinned on a reference profile")


def reference_cuts(column: NumericProfile, binning: Binning, n_bins: int) -> sketch.KeyArray:
    """The pinned cuts when the profile was saved with this binning, else fresh ones."""
    pinned = column.bins
    if pinned is not None and pinned.binning is binning and pinned.n_bins == n_bins:
        return np.asarray(pinned.cuts, dtype=np.int64)
    return compute_cuts(column, binning, n_bins)


def pin_column(column: NumericProfile, binning: Binning, n_bins: int) -> NumericProfile:
    cuts = compute_cuts(column, binning, n_bins)
    keys, counts = column.sketch_arrays()
    pinned = PinnedBins(
        binning=binning,
        n_bins=n_bins,
        cuts=cuts.tolist(),
        edges=sketch.lower_bound(cuts, column.anchor or 0.0).tolist(),
        counts=sketch.bin_counts(keys, counts, cuts).tolist(),
    )
    return replace(column, bins=pinned)


def pin_bins(profile: Profile, binning: Binning, n_bins: int) -> Profile:
    """Fix the bins of every numeric column of a reference profile."""
    columns = {
        name: pin_column(col, binning, n_bins) if isinstance(col, NumericProfile) else col
        for name, col in profile.columns.items()
    }
    return replace(profile, columns=columns, binning=binning, n_bins=n_bins)
