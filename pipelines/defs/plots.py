"""A PNG of reference vs current shares per bin, for the Dagster UI."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.pyplot as plt

from drift import FeatureResult


def distribution_png(results: Sequence[FeatureResult], limit: int = 3) -> bytes | None:
    """Bars of reference vs current shares for the ``limit`` features with the highest PSI."""
    worst = sorted(
        ((r, r.bins) for r in results if r.bins is not None and r.psi is not None),
        key=lambda pair: pair[0].psi or 0.0,
        reverse=True,
    )[:limit]
    if not worst:
        return None
    figure, axes = plt.subplots(len(worst), 1, figsize=(8, 2.6 * len(worst)), squeeze=False)
    for axis, (result, bins) in zip(axes[:, 0], worst, strict=True):
        positions = range(len(bins.labels))
        axis.bar([p - 0.2 for p in positions], bins.reference, width=0.4, label="reference")
        axis.bar([p + 0.2 for p in positions], bins.current, width=0.4, label="current")
        axis.set_title(f"{result.feature}: PSI {result.psi:.3f} ({result.status.value})")
        axis.set_xticks(list(positions))
        axis.set_xticklabels(bins.labels, rotation=30, ha="right", fontsize=7)
        axis.set_ylabel("share")
        axis.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
