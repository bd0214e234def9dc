"""The drift measures, as pure functions of bin counts and moments."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Shares = npt.NDArray[np.float64]

DEFAULT_EPSILON: Final = 1e-4
"""Share given to an empty bin, on both sides alike, so PSI stays finite."""

MEAN_FLOOR_STD: Final = 0.1
"""drift_ratio's denominator is max(|μr|, 0.1·σr, 1e-9): a zero-mean feature is judged
against a tenth of its spread instead of exploding (see mean_shift_std beside it)."""
MEAN_FLOOR_ABS: Final = 1e-9


def shares(counts: npt.ArrayLike) -> Shares:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def fill_epsilon(values: Shares, epsilon: float = DEFAULT_EPSILON) -> Shares:
    return np.maximum(values, epsilon)


def psi(reference: Shares, current: Shares) -> float:
    """Population stability index of two share vectors that contain no zeros."""
    return float(np.sum((current - reference) * np.log(current / reference)))


def _kl2(p: Shares, m: Shares) -> float:
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log2(p[nonzero] / m[nonzero])))


def js_distance(reference: Shares, current: Shares) -> float:
    """Jensen–Shannon distance, base 2 (0 = same, 1 = disjoint).

    Equal to ``scipy.spatial.distance.jensenshannon(p, q, base=2)`` (the tests check it);
    written out because importing scipy adds memory and start-up time to every scan.
    """
    if reference.sum() <= 0 or current.sum() <= 0:
        return 0.0
    p, q = reference / reference.sum(), current / current.sum()
    m = (p + q) / 2
    divergence = (_kl2(p, m) + _kl2(q, m)) / 2
    return float(np.sqrt(max(divergence, 0.0)))


def drift_ratio(mean_ref: float, mean_cur: float, std_ref: float) -> float:
    """Relative mean deviation |μc−μr| / max(|μr|, floor)."""
    floor = max(MEAN_FLOOR_STD * std_ref, MEAN_FLOOR_ABS)
    return abs(mean_cur - mean_ref) / max(abs(mean_ref), floor)


def mean_shift_std(mean_ref: float, mean_cur: float, std_ref: float) -> float | None:
    """|μc−μr| / σr; None when the reference is constant and the mean moved."""
    shift = abs(mean_cur - mean_ref)
    if std_ref > 0:
        return shift / std_ref
    return 0.0 if shift == 0 else None
