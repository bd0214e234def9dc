"""A fixed fine grid over float values: the one-pass substrate of numeric profiles.

Each value is shifted by a per-column *anchor* (the median of the reference's first row
group), rounded to float32, and keyed by the top 16 bits of its order-preserving bit pattern.
That gives 65,536 buckets with 128 per octave of distance from the anchor: about 0.8 %
relative resolution away from the anchor and ever finer near it, so a feature living at
1000 ± 0.1 still spreads over many buckets. Counting is one ``np.bincount`` per batch, bucket
counts add exactly when profiles merge, and bin edges (deciles, equal-width cuts) are chosen on
bucket boundaries, so the reference and every current snapshot are binned by the very same
integer comparison: identical data always gives identical counts.
"""

from __future__ import annotations

import threading
from typing import Final

import numpy as np
import numpy.typing as npt

KEY_BITS: Final = 16
N_KEYS: Final = 1 << KEY_BITS
_SHIFT: Final = 32 - KEY_BITS
_SIGN: Final = np.uint32(0x80000000)

FloatArray = npt.NDArray[np.float64]
KeyArray = npt.NDArray[np.int64]
CountArray = npt.NDArray[np.int64]


def _order_table() -> npt.NDArray[np.int64]:
    """Raw top-16 IEEE bits → order-preserving key: negatives reversed below positives."""
    raw = np.arange(N_KEYS, dtype=np.int64)
    negative = raw >= N_KEYS // 2
    return np.where(negative, N_KEYS - 1 - raw, raw | (N_KEYS // 2))


ORDER: Final = _order_table()
ORDER32: Final = ORDER.astype(np.uint32)
_RAW_NAN: Final = np.concatenate([np.arange(0x7F81, 0x8000), np.arange(0xFF81, 0x10000)])
"""Raw buckets that only NaN reaches (exponent all ones, mantissa ≠ 0); ±inf sit just below."""


class _Scratch(threading.local):
    """Per-thread work buffers: fresh multi-MB temporaries per batch cost more in page faults
    than the arithmetic itself."""

    size = 0
    f64: FloatArray = np.empty(0)
    f32: npt.NDArray[np.float32] = np.empty(0, dtype=np.float32)
    keys: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)

    def ensure(self, n: int) -> None:
        if n > self.size:
            self.size = n
            self.f64 = np.empty(n)
            self.f32 = np.empty(n, dtype=np.float32)
            self.keys = np.empty(n, dtype=np.intp)


scratch = _Scratch()


def float_buffer(n: int) -> FloatArray:
    """This thread's float64 work buffer, first ``n`` slots."""
    scratch.ensure(n)
    return scratch.f64[:n]


def _shift(values: FloatArray, anchor: float, out: FloatArray) -> FloatArray:
    """values − anchor, with −0.0 folded into +0.0 so equal values share a bucket (x − a is
    never −0.0 for a ≠ 0, so the extra pass is needed only for a zero anchor)."""
    np.subtract(values, anchor, out=out)
    if anchor == 0.0:
        np.add(out, 0.0, out=out)
    return out


def add_raw_counts(raw: CountArray, values: FloatArray, anchor: float) -> None:
    """Add the counts of ``values`` to ``raw`` (raw buckets: IEEE top bits, not yet ordered,
    NaN included).

    The hot path: a subtraction, a cast, a shift and an in-place ``add.at``, with no masking
    and no allocation (a fresh ``bincount`` array per batch was measured slower).
    """
    np.add.at(raw, raw_keys(values, anchor), 1)


def raw_keys(values: FloatArray, anchor: float) -> npt.NDArray[np.intp]:
    """Each value's raw bucket (NaN included), in this thread's work buffer: what
    :func:`add_raw_counts` counts, for a caller that groups the rows further."""
    n = values.size
    scratch.ensure(n)
    f64, f32, keys = scratch.f64[:n], scratch.f32[:n], scratch.keys[:n]
    _shift(values, anchor, f64)
    np.copyto(f32, f64, casting="same_kind")
    np.right_shift(f32.view(np.uint32), _SHIFT, out=keys)
    return keys


def raw_counts(values: FloatArray, anchor: float) -> CountArray:
    """Counts of ``values`` over raw buckets."""
    raw = np.zeros(N_KEYS, dtype=np.int64)
    add_raw_counts(raw, values, anchor)
    return raw


def raw_nan_count(raw: CountArray) -> int:
    return int(raw[_RAW_NAN].sum())


def ordered(raw: CountArray) -> CountArray:
    """Raw bucket counts → counts by order-preserving key, with the NaN buckets dropped."""
    clean = raw.astype(np.int64, copy=True)
    clean[_RAW_NAN] = 0
    dense = np.zeros(N_KEYS, dtype=np.int64)
    dense[ORDER] = clean
    return dense


def keys_of(values: FloatArray, anchor: float) -> KeyArray:
    """Order-preserving bucket key of every value (NaN must already be removed)."""
    shifted = _shift(values, anchor, np.empty_like(values)).astype(np.float32)
    keys: KeyArray = ORDER[shifted.view(np.uint32) >> _SHIFT]
    return keys


def dense_counts(values: FloatArray, anchor: float) -> CountArray:
    """Counts of ``values`` over all 65,536 ordered buckets (NaN dropped)."""
    return ordered(raw_counts(values, anchor))


def lower_bound(keys: npt.ArrayLike, anchor: float) -> FloatArray:
    """Smallest value (in data units) that falls into each bucket key."""
    mono = np.asarray(keys, dtype=np.uint32) << np.uint32(_SHIFT)
    positive = (mono & _SIGN) != 0
    # Inverse of keys_of; for negatives ~mono sets all low bits: the largest magnitude, i.e.
    # the smallest value of the bucket.
    bits = np.where(positive, mono ^ _SIGN, ~mono)
    return bits.astype(np.uint32).view(np.float32).astype(np.float64) + anchor


def to_sparse(dense: CountArray) -> tuple[KeyArray, CountArray]:
    """Non-empty buckets as (sorted keys, counts)."""
    keys = np.flatnonzero(dense).astype(np.int64)
    return keys, dense[keys].astype(np.int64)


def add_sparse(
    left: tuple[KeyArray, CountArray], right: tuple[KeyArray, CountArray]
) -> tuple[KeyArray, CountArray]:
    """Two sparse sketches (sorted unique keys, counts) added, empty buckets dropped: what
    adding them densely and :func:`to_sparse` give, at the cost of the keys present rather
    than of the whole key space (a window of small partitions merges many small sketches).
    Counts may be negative: a sketch taken out of a total it was added to."""
    (lk, lc), (rk, rc) = left, right
    if lk.size < rk.size:
        (lk, lc), (rk, rc) = (rk, rc), (lk, lc)
    counts = lc.astype(np.int64, copy=True)
    keys = lk.astype(np.int64, copy=False)
    if rk.size:
        at = np.searchsorted(lk, rk)
        found = lk[np.minimum(at, lk.size - 1)] == rk
        counts[at[found]] += rc[found]
        if not found.all():  # insert the new keys in place: cheaper than a sorted union
            new = ~found
            keys = np.insert(keys, at[new], rk[new])
            counts = np.insert(counts, at[new], rc[new])
    kept = counts != 0
    if kept.all():
        return keys, counts
    return keys[kept], counts[kept]


def bin_counts(keys: KeyArray, counts: CountArray, cuts: KeyArray) -> CountArray:
    """Counts per bin, where bin i holds keys in [cuts[i-1], cuts[i]) with open outer bins."""
    bins = np.searchsorted(cuts, keys, side="right")
    return np.bincount(bins, weights=counts, minlength=len(cuts) + 1).astype(np.int64)


def _valid_cuts(candidates: KeyArray, keys: KeyArray) -> KeyArray:
    """Unique cuts that leave data on both sides (ties collapse, no empty outer bins)."""
    cuts: KeyArray = np.unique(candidates)
    if keys.size == 0:
        return cuts[:0]
    valid: KeyArray = cuts[(cuts > keys[0]) & (cuts <= keys[-1])]
    return valid


def quantile_cuts(keys: KeyArray, counts: CountArray, n_bins: int) -> KeyArray:
    """Bucket boundaries nearest to the 1/n … (n-1)/n quantiles."""
    if keys.size == 0 or n_bins < 2:
        return keys[:0]
    cum = np.cumsum(counts)
    total = cum[-1]
    targets = total * np.arange(1, n_bins) / n_bins
    idx = np.searchsorted(cum, targets, side="left")
    above = cum[idx]
    below = above - counts[idx]
    # Cut at whichever boundary of the crossing bucket lands closer to the target rank.
    take_lower = (targets - below) < (above - targets)
    candidates = np.where(take_lower, keys[idx], keys[idx] + 1)
    return _valid_cuts(candidates, keys)


def equal_width_cuts(keys: KeyArray, lo: float, hi: float, n_bins: int, anchor: float) -> KeyArray:
    """Cuts at ``lo + i·(hi−lo)/n``, each snapped to the bucket that holds it."""
    if keys.size == 0 or n_bins < 2 or not hi > lo:
        return keys[:0]
    edges = lo + (hi - lo) * np.arange(1, n_bins) / n_bins
    candidates = keys_of(edges.astype(np.float64), anchor).astype(np.int64)
    return _valid_cuts(candidates, keys)
