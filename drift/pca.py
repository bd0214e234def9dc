"""The PCA a multivariate reference fits: its standardisation, the components that keep
``VARIANCE_KEPT`` of the variance, and the reconstruction error of any rows given their
second moments (:mod:`drift.multivariate`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from drift import exact
from drift.errors import DriftInputError
from drift.moments import Moments

VARIANCE_KEPT: Final = 0.9
"""Share of the reference's (standardised) variance the kept components explain."""

Matrix = npt.NDArray[np.float64]


def totals(moments: Moments) -> tuple[int, Matrix, Matrix]:
    """Rows, the sums vector and the full products matrix, rounded from the exact parts."""
    d = len(moments.columns)
    sums = np.asarray([exact.rounded(p) for p in moments.sums])
    products = np.zeros((d, d))
    upper = np.triu_indices(d)
    products[upper] = [exact.rounded(p) for p in moments.products]
    products = products + np.triu(products, 1).T
    return moments.rows, sums, products


@dataclass(frozen=True)
class Pca:
    """A reference's standardisation and the components it keeps."""

    mean: Matrix
    scale: Matrix
    kept: npt.NDArray[np.bool_]
    """Encoded columns that vary in the reference (the others are left out)."""
    residual: Matrix
    """The projector onto the components left out (kept columns only)."""
    components: int

    @classmethod
    def fit(cls, moments: Moments) -> Pca:
        rows, sums, products = totals(moments)
        if rows < 2:
            raise DriftInputError("multivariate drift needs a reference of at least two rows")
        mean = sums / rows
        covariance = products / rows - np.outer(mean, mean)
        variance = np.clip(np.diag(covariance), 0.0, None)
        kept = variance > 1e-12 * np.maximum(1.0, np.diag(products) / rows)
        if int(kept.sum()) < 2:
            raise DriftInputError(
                "multivariate drift needs at least two columns that vary in the reference"
            )
        scale = np.sqrt(variance[kept])
        correlation = covariance[np.ix_(kept, kept)] / np.outer(scale, scale)
        values, vectors = np.linalg.eigh(correlation)
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
        share = np.cumsum(values) / values.sum()
        k = int(np.searchsorted(share, VARIANCE_KEPT) + 1)
        k = min(k, len(values) - 1)  # always leave something out to reconstruct
        basis = vectors[:, :k]
        residual = np.eye(len(values)) - basis @ basis.T
        return cls(mean[kept], scale, kept, residual, k)

    def _second_moment(self, rows: int, sums: Matrix, products: Matrix) -> Matrix:
        """E[z zᵀ] of the rows in the reference's standardisation."""
        m = sums[self.kept] / rows
        raw = products[np.ix_(self.kept, self.kept)] / rows
        centred = raw - np.outer(m, self.mean) - np.outer(self.mean, m)
        centred = centred + np.outer(self.mean, self.mean)
        return centred / np.outer(self.scale, self.scale)

    def contributions(self, rows: int, sums: Matrix, products: Matrix) -> Matrix:
        """Each kept column's share of the rows' mean squared error."""
        second = self._second_moment(rows, sums, products)
        return np.clip(np.diag(self.residual @ second @ self.residual), 0.0, None)

    def error(self, rows: int, sums: Matrix, products: Matrix) -> float:
        """The rows' root mean square reconstruction error."""
        if rows == 0:
            return math.nan
        return math.sqrt(float(self.contributions(rows, sums, products).sum()))
