"""Multivariate drift: how badly a PCA fitted on the reference reconstructs the current rows.

A profile built with ``multivariate`` keeps the second moments of its encoded columns
(:class:`drift.moments.Moments`): each numeric feature less its sketch anchor (a missing or
infinite value counts as the anchor, a typical value), each categorical feature hashed one-hot
into ``HASH_BUCKETS`` indicator columns (crc32 of the level; null: all zero) — an encoding fixed
before any level is seen, so one pass suffices and every profile on a grid shares it.

From the reference's moments each encoded column is standardised (a constant one is left out)
and the eigenvectors of their correlation matrix that keep ``VARIANCE_KEPT`` of the variance
span the reference's structure. A profile's rows are scored by their mean squared distance to
that subspace — trace(Q·E[z zᵀ]), Q the projector onto the components left out, from the
profile's own moments: one streaming pass, flat memory, no row read twice. The error reported
is its root (the rows' root mean square error, in reference standard deviations). A shuffled
column, a broken join or a flipped correlation keeps every marginal but moves the rows off the
reference's subspace.

Levels come from the reference's parts (each batch cut in ``PARTS_PER_BATCH`` slices of at
least ``PART_ROWS`` rows, neighbours merged in pairs past ``MAX_PARTS``; in a rolling window,
its partitions), scored the same way against the reference's PCA, outliers left out: their
mean, and their spread scaled to the current's rows (sampling noise shrinks as 1/√rows; at
least ``MIN_RELATIVE_SPREAD`` of the mean), give warn at mean + ``WARN_SIGMAS`` and critical
at mean + ``CRITICAL_SIGMAS`` spreads.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from drift import exact, sketch
from drift.accumulators import Accumulator, CategoricalAccumulator, NumericAccumulator, level_name
from drift.errors import DriftInputError
from drift.moments import HASH_BUCKETS, MAX_ENCODED, Moments
from drift.pca import Matrix, Pca, totals
from drift.segment_categories import encoded
from drift.thresholds import Status

WARN_SIGMAS: Final = 3.0
CRITICAL_SIGMAS: Final = 6.0
MIN_RELATIVE_SPREAD: Final = 0.02
"""The spread is at least this share of the reference's mean error: a partition of millions of
rows has almost no sampling noise, and a change of a fiftieth is no incident."""
OUTLIER_MADS: Final = 6.0
PART_ROWS: Final = 4096
PARTS_PER_BATCH: Final = 4
"""A reference's batch is cut into this many parts (of at least PART_ROWS rows)."""
MAX_PARTS: Final = 64
TOP_COLUMNS: Final = 3
MULTIVARIATE: Final = "(multivariate)"
"""The name a multivariate result goes by among a dataset's features."""


def encoding(accumulators: Mapping[str, Accumulator]) -> tuple[list[str], list[str]]:
    """The encoded columns of the scorable features and the feature of each; refused under two
    features or over :data:`MAX_ENCODED` columns."""
    columns: list[str] = []
    features: list[str] = []
    for name, acc in accumulators.items():
        if isinstance(acc, NumericAccumulator):
            columns.append(name)
            features.append(name)
        elif isinstance(acc, CategoricalAccumulator):
            columns.extend(f"{name}#{b}" for b in range(HASH_BUCKETS))
            features.extend([name] * HASH_BUCKETS)
    if len(set(features)) < 2:
        raise DriftInputError(
            "multivariate drift needs at least two numeric or categorical columns"
        )
    if len(columns) > MAX_ENCODED:
        raise DriftInputError(
            f"multivariate: {len(columns)} encoded columns (a numeric column counts 1, a "
            f"categorical one {HASH_BUCKETS}), over the cap of {MAX_ENCODED}; scan fewer "
            "columns (--columns)"
        )
    return columns, features


def _bucket(level: object) -> int:
    return zlib.crc32(level_name(level).encode()) % HASH_BUCKETS


class MomentsAccumulator:
    """The moments of one profiling pass, and (for a reference) its parts."""

    def __init__(self, accumulators: Mapping[str, Accumulator], *, parts: bool) -> None:
        self.columns, self.features = encoding(accumulators)
        self.names = list(dict.fromkeys(self.features))
        d = len(self.columns)
        self.rows = 0
        self.sums: list[list[float]] = [[] for _ in range(d)]
        self.products: list[list[float]] = [[] for _ in range(d * (d + 1) // 2)]
        self.upper = np.triu_indices(d)
        self.parts: list[tuple[int, Matrix, Matrix]] | None = [] if parts else None

    def _matrix(
        self,
        batch: pa.RecordBatch | pa.Table,
        accumulators: Mapping[str, Accumulator],
        values: Mapping[str, sketch.FloatArray],
    ) -> npt.NDArray[np.float32]:
        """The batch's encoded columns, column-major (each written in one contiguous pass), in
        float32: the product of a batch is the costly part of the pass, twice as fast so, and
        the sums of a batch's products round to about 1e-6 of themselves, far below the spread
        any grade is made on."""
        x = np.empty((batch.num_rows, len(self.columns)), dtype=np.float32, order="F")
        at = 0
        for name in self.names:
            acc = accumulators[name]
            if isinstance(acc, NumericAccumulator):
                column = x[:, at]
                np.subtract(values[name], acc.anchor or 0.0, out=column)
                np.nan_to_num(column, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
                at += 1
            else:
                codes, levels = encoded(batch.column(name))
                table = np.asarray([*(_bucket(v) for v in levels), -1], dtype=np.intp)
                buckets = table[codes]
                for b in range(HASH_BUCKETS):
                    np.equal(buckets, b, out=x[:, at + b], casting="unsafe")
                at += HASH_BUCKETS
        return x

    def update(
        self,
        batch: pa.RecordBatch | pa.Table,
        accumulators: Mapping[str, Accumulator],
        values: Mapping[str, sketch.FloatArray],
    ) -> None:
        x = self._matrix(batch, accumulators, values)
        n = batch.num_rows
        self.rows += n
        # one product per batch; a reference also keeps a few parts of it for its spread
        step = n if self.parts is None else max(PART_ROWS, -(-n // PARTS_PER_BATCH))
        sums, products = np.zeros(x.shape[1]), np.zeros((x.shape[1], x.shape[1]))
        for start in range(0, n, step):
            piece = x[start : start + step]
            piece_sums = piece.sum(axis=0, dtype=np.float64)
            piece_products = (piece.T @ piece).astype(np.float64)
            sums += piece_sums
            products += piece_products
            self._keep_part(len(piece), piece_sums, piece_products)
        for parts, value in zip(self.sums, sums.tolist(), strict=True):
            parts.append(value)
        for parts, value in zip(self.products, products[self.upper].tolist(), strict=True):
            parts.append(value)
        if len(self.sums[0]) > exact.COMPACT_AT:
            for parts in (*self.sums, *self.products):
                exact.extend(parts, [])

    def _keep_part(self, rows: int, sums: Matrix, products: Matrix) -> None:
        if self.parts is None:
            return
        self.parts.append((rows, sums, products))
        if len(self.parts) > MAX_PARTS:  # merge neighbours in pairs: parts stay even
            pairs = zip(self.parts[::2], self.parts[1::2], strict=False)
            merged = [(a[0] + b[0], a[1] + b[1], a[2] + b[2]) for a, b in pairs]
            self.parts = merged + ([self.parts[-1]] if len(self.parts) % 2 else [])

    def finish(self) -> Moments:
        moments = Moments(
            columns=self.columns,
            features=self.features,
            rows=self.rows,
            sums=[exact.canonical(p) for p in self.sums],
            products=[exact.canonical(p) for p in self.products],
        )
        if not self.parts or len(self.parts) < 2:
            return moments
        pca = Pca.fit(moments)
        errors = [pca.error(rows, sums, products) for rows, sums, products in self.parts]
        return replace(moments, part_errors=errors, part_rows=[p[0] for p in self.parts])


@dataclass(frozen=True)
class MultivariateResult:
    status: Status
    reconstruction_error: float | None
    reference_mean: float | None
    reference_std: float | None
    warn: float | None
    critical: float | None
    top_columns: list[str]
    components: int | None = None
    message: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status.value,
            "reconstruction_error": self.reconstruction_error,
            "reference_mean": self.reference_mean,
            "reference_std": self.reference_std,
            "warn": self.warn,
            "critical": self.critical,
            "top_columns": self.top_columns,
            "components": self.components,
            "message": self.message,
        }


def not_graded(status: Status, message: str) -> MultivariateResult:
    """A multivariate result with no error to show (insufficient, or an error)."""
    return MultivariateResult(status, None, None, None, None, None, [], message=message)


def compare_moments(reference: Moments, current: Moments) -> MultivariateResult:
    """The current's reconstruction error against the reference's PCA, graded on the
    reference's parts."""
    if reference.columns != current.columns:
        return not_graded(Status.ERROR, "the current was not profiled like the reference")
    if not reference.part_errors or len(reference.part_errors) < 2 or not reference.part_rows:
        return not_graded(
            Status.INSUFFICIENT, "the reference has too few parts to measure its own spread"
        )
    if current.rows == 0:
        return not_graded(Status.INSUFFICIENT, "no rows in the current")
    try:
        pca = Pca.fit(reference)
    except DriftInputError as exc:
        return not_graded(Status.ERROR, str(exc))
    errors, rows = _typical(np.asarray(reference.part_errors), np.asarray(reference.part_rows))
    mean = float(errors.mean())
    scaled = float(errors.std(ddof=1)) * math.sqrt(float(rows.mean()) / current.rows)
    spread = max(scaled, MIN_RELATIVE_SPREAD * mean)
    warn, critical = mean + WARN_SIGMAS * spread, mean + CRITICAL_SIGMAS * spread
    value = pca.error(*totals(current))
    status = Status.CRITICAL if value >= critical else Status.WARN if value >= warn else Status.OK
    top = _top_columns(pca, reference, current)
    bound = critical if status is Status.CRITICAL else warn
    said = f"reconstruction error {value:.4g} ≥ {bound:.4g} ({status.value})"
    return MultivariateResult(
        status, value, mean, spread, warn, critical, top, pca.components,
        message=said if status is not Status.OK else "",
    )  # fmt: skip


def _typical(errors: Matrix, rows: npt.NDArray[np.int64]) -> tuple[Matrix, npt.NDArray[np.int64]]:
    """The parts whose error is not an outlier (beyond the median + ``OUTLIER_MADS`` scaled
    median absolute deviations): a broken partition in a rolling window must not widen the
    levels that should catch the next one."""
    median = float(np.median(errors))
    mad = 1.4826 * float(np.median(np.abs(errors - median)))
    kept = errors <= median + OUTLIER_MADS * max(mad, MIN_RELATIVE_SPREAD * median)
    return (errors[kept], rows[kept]) if int(kept.sum()) >= 2 else (errors, rows)


def _top_columns(pca: Pca, reference: Moments, current: Moments) -> list[str]:
    """The features whose share of the error grew most against the reference's own."""
    grown = pca.contributions(*totals(current)) - pca.contributions(*totals(reference))
    by_feature: dict[str, float] = {}
    for feature, value in zip(np.asarray(reference.features)[pca.kept], grown, strict=True):
        by_feature[str(feature)] = by_feature.get(str(feature), 0.0) + float(value)
    ranked = sorted(by_feature.items(), key=lambda item: -item[1])
    return [name for name, value in ranked[:TOP_COLUMNS] if value > 0]


def merge_moments(a: Moments | None, b: Moments | None) -> Moments | None:
    """Two profiles' moments added (None unless both have them on the same columns); the
    merged moments have no parts' errors (they belonged to each side's own PCA)."""
    if a is None or b is None or a.columns != b.columns:
        return None
    return Moments(
        columns=a.columns,
        features=a.features,
        rows=a.rows + b.rows,
        sums=[exact.canonical([*x, *y]) for x, y in zip(a.sums, b.sums, strict=True)],
        products=[exact.canonical([*x, *y]) for x, y in zip(a.products, b.products, strict=True)],
    )


def less_moments(a: Moments | None, b: Moments | None) -> Moments | None:
    """``a`` less ``b``, moments merged into it (a window's total less a day it loses)."""
    if a is None or b is None or a.columns != b.columns:
        return None
    return Moments(
        columns=a.columns,
        features=a.features,
        rows=a.rows - b.rows,
        sums=[exact.canonical([*x, *(-v for v in y)]) for x, y in zip(a.sums, b.sums, strict=True)],
        products=[
            exact.canonical([*x, *(-v for v in y)])
            for x, y in zip(a.products, b.products, strict=True)
        ],
    )


def with_part_errors(reference: Moments, parts: Sequence[Moments]) -> Moments:
    """A reference merged from parts (a rolling window's partitions), with each part scored
    against the reference's PCA: the spread its currents are judged by."""
    pca = Pca.fit(reference)
    errors = [pca.error(*totals(p)) for p in parts if p.rows]
    return replace(reference, part_errors=errors, part_rows=[p.rows for p in parts if p.rows])
