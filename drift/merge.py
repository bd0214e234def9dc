"""Merging profiles: counts add, so a window of snapshots can be profiled piecewise."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from drift import exact, sketch
from drift.binning import pin_bins
from drift.multivariate import less_moments, merge_moments
from drift.profile import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    UnsupportedProfile,
    fold_levels,
    sketch_lists,
)


def _merge_numeric(a: NumericProfile, b: NumericProfile) -> NumericProfile:
    if a.anchor is not None and b.anchor is not None and a.anchor != b.anchor:
        raise ValueError("numeric profiles merge only with the same anchor (profile b like a)")
    keys, counts = sketch_lists(*sketch.add_sparse(a.sketch_arrays(), b.sketch_arrays()))
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
        sketch_keys=keys,
        sketch_counts=counts,
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


def _less_numeric(a: NumericProfile, b: NumericProfile) -> NumericProfile:
    taken, removed = b.sketch_arrays()
    keys, counts = sketch_lists(*sketch.add_sparse(a.sketch_arrays(), (taken, -removed)))
    sums, squares = list(a.sum_parts or [a.sum]), list(a.sum_sq_parts or [a.sum_sq])
    for part in b.sum_parts or [b.sum]:
        exact.add(sums, -part)
    for part in b.sum_sq_parts or [b.sum_sq]:
        exact.add(squares, -part)
    return replace(
        a,
        rows=a.rows - b.rows,
        missing=a.missing - b.missing,
        finite=a.finite - b.finite,
        sum=exact.rounded(sums),
        sum_sq=exact.rounded(squares),
        sum_parts=exact.canonical(sums),
        sum_sq_parts=exact.canonical(squares),
        min=None,  # not kept by a sum: the caller knows the bounds of what is left
        max=None,
        sketch_keys=keys,
        sketch_counts=counts,
        bins=None,
    )


def _less_categorical(a: CategoricalProfile, b: CategoricalProfile) -> CategoricalProfile:
    if a.other or b.other:
        raise ValueError("folded levels do not subtract exactly")
    levels = {level: n - b.levels.get(level, 0) for level, n in a.levels.items()}
    return replace(
        a,
        rows=a.rows - b.rows,
        missing=a.missing - b.missing,
        levels={level: n for level, n in levels.items() if n},
    )


def subtract(total: Profile, part: Profile) -> Profile:
    """``total`` less ``part``, a profile merged into it: what merging the other profiles
    gives — counts and exact sums alike — except numeric ``min``/``max``, left None for the
    caller to set (a minimum does not subtract). Raises ValueError where a column cannot be
    subtracted exactly (levels folded into ``other``)."""
    columns: dict[str, NumericProfile | CategoricalProfile | UnsupportedProfile] = {}
    for name, whole in total.columns.items():
        less = part.columns.get(name)
        if less is None:
            columns[name] = whole
        elif isinstance(whole, NumericProfile) and isinstance(less, NumericProfile):
            columns[name] = _less_numeric(whole, less)
        elif isinstance(whole, CategoricalProfile) and isinstance(less, CategoricalProfile):
            columns[name] = _less_categorical(whole, less)
        elif isinstance(whole, UnsupportedProfile) and isinstance(less, UnsupportedProfile):
            columns[name] = replace(whole, rows=whole.rows - less.rows)
        else:
            raise ValueError(f"column {name!r} changed kind within the window")
    segments = None
    if total.segments is not None and part.segments is not None:
        segments = {
            name: {
                level: subtract(whole, part.segments[name][level])
                if level in part.segments.get(name, {})
                else whole
                for level, whole in levels.items()
            }
            for name, levels in total.segments.items()
        }
    return replace(
        total,
        rows=total.rows - part.rows,
        columns=columns,
        source=None,
        segments=segments,
        multivariate=less_moments(total.multivariate, part.multivariate),
    )


def _merge_segments(a: Profile, b: Profile, *, union: bool) -> dict[str, dict[str, Profile]] | None:
    """Level by level; None unless both sides have segments (the rows of one without them
    would be missing from every segment)."""
    if a.segments is None or b.segments is None:
        return None
    found: dict[str, dict[str, Profile]] = {}
    for name in a.segments.keys() & b.segments.keys():
        left, right = a.segments[name], b.segments[name]
        found[name] = {
            level: merge(left[level], right[level], union=union)
            if level in left and level in right
            else left.get(level) or right[level]
            for level in dict.fromkeys([*left, *right])
        }
    return {name: found[name] for name in a.segments if name in found}


def merge(a: Profile, b: Profile, *, union: bool = False) -> Profile:
    """Add two profiles of the same columns (counts add; pinned bins are re-derived). With
    ``union`` a column only one side has is kept as that side has it (a window of days, one
    of which lacked a column)."""
    if a.columns.keys() != b.columns.keys() and not union:
        raise ValueError("profiles merge only over the same columns")
    columns: dict[str, NumericProfile | CategoricalProfile | UnsupportedProfile] = {}
    for name in dict.fromkeys([*a.columns, *b.columns]):
        left, right = a.columns.get(name), b.columns.get(name)
        if left is None or right is None:
            columns[name] = left or right  # type: ignore[assignment]  # one side has it
        elif isinstance(left, NumericProfile) and isinstance(right, NumericProfile):
            columns[name] = _merge_numeric(left, right)
        elif isinstance(left, CategoricalProfile) and isinstance(right, CategoricalProfile):
            columns[name] = _merge_categorical(left, right)
        elif isinstance(left, UnsupportedProfile) and isinstance(right, UnsupportedProfile):
            columns[name] = replace(left, rows=left.rows + right.rows)
        else:
            raise ValueError(
                f"column {name!r} has kind {left.kind} in one profile, {right.kind} in the other"
            )
    merged = replace(
        a,
        rows=a.rows + b.rows,
        columns=columns,
        source=None,
        segments=_merge_segments(a, b, union=union),
        multivariate=merge_moments(a.multivariate, b.multivariate),
    )
    pinned = any(isinstance(c, NumericProfile) and c.bins for c in a.columns.values())
    return pin_bins(merged, a.binning, a.n_bins) if pinned else merged
