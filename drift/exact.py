"""Sums whose result does not depend on how the terms were grouped.

A profile's moments add one batch's sum at a time. With plain floats, ((a + b) + c) + d and
(a + b) + (c + d) may differ in the last bit, so a day profiled in parts and merged would not
equal the same day profiled in one pass. Kept exactly instead — as a short list of
non-overlapping floats whose exact sum is the running total (Shewchuk's expansions, as in
:func:`math.fsum`) — any grouping gives the same exact total, hence the same rounded one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def add(parts: list[float], value: float) -> None:
    """Add ``value`` to the exact total ``parts`` holds, in place."""
    if not math.isfinite(value) or (parts and not math.isfinite(parts[-1])):
        # ±inf or NaN (a square that overflowed): nothing exact left to keep.
        parts[:] = [rounded(parts) + value]
        return
    kept = 0
    for part in parts:
        if abs(value) < abs(part):
            value, part = part, value
        high = value + part
        if not math.isfinite(high):
            parts[:] = [high]
            return
        low = part - (high - value)
        if low:
            parts[kept] = low
            kept += 1
        value = high
    parts[kept:] = [value]


def rounded(parts: Iterable[float]) -> float:
    """The exact total, correctly rounded to a float."""
    terms = list(parts)
    if len(terms) == 1 or any(not math.isfinite(t) for t in terms):
        return float(sum(terms))
    try:
        return math.fsum(terms)
    except OverflowError:
        return math.copysign(math.inf, sum(terms))


def canonical(parts: Iterable[float]) -> list[float]:
    """The one expansion of the exact total: its rounded value, then the rounded rest, and so
    on (smallest first) — so equal totals compare equal, however they were built (any floats
    whose exact sum is the total will do)."""
    rest = [t for t in parts if t]
    if any(not math.isfinite(t) for t in rest):
        return [rounded(rest)]
    out: list[float] = []
    while rest:
        head = rounded(rest)
        if head == 0.0:  # the rest sums to exactly zero (parts need not be an expansion)
            break
        out.append(head)
        add(rest, -head)
        rest = [t for t in rest if t]
    return out[::-1] or [0.0]


COMPACT_AT = 256
"""Parts :func:`extend` lets a total hold before it compacts them."""


def extend(parts: list[float], values: list[float]) -> None:
    """Add many ``values`` to the exact total ``parts`` holds: appended as they are (the
    total is their exact sum either way) and compacted to the canonical parts once there are
    many — far cheaper than :func:`add` one at a time."""
    parts.extend(values)
    if len(parts) > COMPACT_AT:
        parts[:] = canonical(parts)
