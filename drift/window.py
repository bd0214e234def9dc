"""A window of partition profiles as one reference: merged exactly, and taken apart again.

Profiles merge exactly, so a rolling reference is the merge of the stored profiles of the
partitions in its window, with no rescan of raw data. Counts and the exact sums also subtract,
so the merge of all but one partition (what calibration scores each against) is the window's
total less that partition, and a window that slides by a day is the last one's total plus the
new day less the old one: a window costs a few merges whatever its length. Bounds (``min``,
``max``) do not subtract; they are taken again from the partitions' own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from drift.binning import pin_bins
from drift.compare import ScanOptions
from drift.merge import merge, subtract
from drift.profile import NumericProfile, Profile

KEPT_TOTALS: Final = 8
"""Window totals a :class:`RunningTotals` keeps: one per weekday of same-weekday windows."""


def total(window: Sequence[Profile]) -> Profile:
    """The window's profiles merged (a column some days lack is merged from the days that
    have it), bins not pinned: :func:`pinned` makes it a reference."""
    if not window:
        raise ValueError("a reference window needs at least one profile")
    merged = window[0]
    for profile in window[1:]:
        merged = merge(merged, profile, union=True)
    return merged


def pinned(merged: Profile, options: ScanOptions) -> Profile:
    return pin_bins(merged, options.binning, options.n_bins)


def bounded(merged: Profile, window: Sequence[Profile], skip: int | None = None) -> Profile:
    """``merged`` with each numeric column's bounds those of the window's profiles (but the
    ``skip``-th): what merging them gives, where ``merged`` came by subtraction."""
    columns = dict(merged.columns)
    for name, column in merged.numeric().items():
        parts = [p.columns.get(name) for j, p in enumerate(window) if j != skip]
        numeric = [c for c in parts if isinstance(c, NumericProfile)]
        lows = [c.min for c in numeric if c.min is not None]
        highs = [c.max for c in numeric if c.max is not None]
        columns[name] = replace(
            column, min=min(lows) if lows else None, max=max(highs) if highs else None
        )
    return replace(merged, columns=columns)


def leave_one_out(
    window: Sequence[Profile], whole: Profile, only: Sequence[int] | None = None
) -> list[Profile]:
    """For each profile (or those at ``only``), the merge of all the others: the window's total
    less that profile (counts and exact sums subtract; each column's bounds are those of the
    others), a subtraction each rather than a merge of the rest."""
    others = []
    for i in range(len(window)) if only is None else only:
        profile = window[i]
        try:
            rest = subtract(whole, profile)
        except ValueError:  # levels folded into other: merge the others instead
            others.append(total([p for j, p in enumerate(window) if j != i]))
            continue
        others.append(bounded(rest, window, skip=i))
    return others


@dataclass
class RunningTotals:
    """Totals of recent windows, by their partitions' keys: the next window's total is the
    nearest one's plus the profiles it gained less those it lost (a partition stored again
    counts as both), when that takes fewer merges than merging the window whole."""

    kept: OrderedDict[tuple[Hashable, ...], tuple[Profile, dict[Hashable, Profile]]] = field(
        default_factory=OrderedDict
    )

    def total(self, keys: Sequence[Hashable], window: Sequence[Profile]) -> Profile:
        parts = dict(zip(keys, window, strict=True))
        best, fewest = None, len(parts)
        for seen, (_, old) in self.kept.items():
            changes = len(_changed(old, parts)) + len(_changed(parts, old))
            if changes < fewest:
                best, fewest = seen, changes
        merged = self._from(*self.kept[best], parts) if best is not None else None
        if merged is None:
            merged = total(window)
        self.kept[tuple(keys)] = (merged, parts)
        while len(self.kept) > KEPT_TOTALS:
            self.kept.popitem(last=False)
        return merged

    @staticmethod
    def _from(
        merged: Profile, old: dict[Hashable, Profile], parts: dict[Hashable, Profile]
    ) -> Profile | None:
        try:
            for key in _changed(old, parts):
                merged = subtract(merged, old[key])
        except ValueError:  # levels folded into other: no exact subtraction
            return None
        for key in _changed(parts, old):
            merged = merge(merged, parts[key], union=True)
        return bounded(merged, list(parts.values()))


def _changed(these: dict[Hashable, Profile], those: dict[Hashable, Profile]) -> list[Hashable]:
    """Keys of ``these`` whose profile ``those`` lacks (or holds another of)."""
    return [key for key, profile in these.items() if those.get(key) is not profile]
