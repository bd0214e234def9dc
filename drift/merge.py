"""Merging profiles: counts add, so a window of snapshots can be profiled piecewise."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from drift import exact, sketch
from drift.binning import pin_bins
from drift.profile import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    UnsupportedProfile,
    fold_levels,
)


def _merge_numeric(a: NumericProfile, b: NumericProfile) -> NumericProfile:
    if a.anchor is not None and b.anchor is not None and a.anchor != b.anchor:
        raise ValueError("numeric profiles merge only with the same anchor (profile b like a)")
    dense = np.zeros(sketch.N_KEYS, dtype=np.int64)
    for side in (a, b):
        keys, counts = side.sketch_arrays()
        np.add.at(dense, keys, counts)
    keys, counts = sketch.to_sparse(dense)
    sums, squares = list(a.sum_parts or [a.sum]), list(a.sum_sq_parts or [a.sum_sq])
    for part in b.sum_parts or [b.sum]:
        exact.add(sums, part)
    for part in b.sum_sq_parts or [b.sum_sq]:
        exact.add(squares, part)
    lows = [v for v in (a.min, b.min) if v is not None]
    highs = [v for v in (a.max, b.max) if v is not None]
    return replace(
        a,
        rows=a.rows + b.rows,
        missing=a.missing + b.missing,
        finite=a.finite + b.finite,
        sum=exact.rounded(sums),
        sum_sq=exact.rounded(squares),
        sum_parts=exact.canonical(sums),
        sum_sq_parts=exact.canonical(squares),
        min=min(lows) if lows else None,
        max=max(highs) if highs else None,
        anchor=a.anchor if a.anchor is not None else b.anchor,
        sketch_keys=keys.tolist(),
        sketch_counts=counts.tolist(),
        bins=None,
    )


def _merge_categorical(a: CategoricalProfile, b: CategoricalProfile) -> CategoricalProfile:
    total: Counter[str] = Counter(a.levels)
    total.update(b.levels)
    levels, other = fold_levels(total, a.other + b.other)
    return replace(
        a,
        rows=a.rows + b.rows,
        missing=a.missing + b.missing,
        levels=levels,
        other=other,
    )


def merge(a: Profile, b: Profile) -> Profile:
    """Add two profiles of the same columns (counts add; pinned bins are re-derived)."""
    if a.columns.keys() != b.columns.keys():
        raise ValueError("profiles merge only over the same columns")
    columns: dict[str, NumericProfile | CategoricalProfile | UnsupportedProfile] = {}
    for name, left in a.columns.items():
        right = b.columns[name]
        if isinstance(left, NumericProfile) and isinstance(right, NumericProfile):
            columns[name] = _merge_numeric(left, right)
        elif isinstance(left, CategoricalProfile) and isinstance(right, CategoricalProfile):
            columns[name] = _merge_categorical(left, right)
        elif isinstance(left, UnsupportedProfile) and isinstance(right, UnsupportedProfile):
            columns[name] = replace(left, rows=left.rows + right.rows)
        else:
            raise ValueError(
                f"column {name!r} has kind {left.kind} in one profile, {right.kind} in the other"
            )
    merged = replace(a, rows=a.rows + b.rows, columns=columns, source=None)
    pinned = any(isinstance(c, NumericProfile) and c.bins for c in a.columns.values())
    return pin_bins(merged, a.binning, a.n_bins) if pinned else merged
