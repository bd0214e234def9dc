"""How a measure is written for people, in the CLI's table and in Dagster's."""

from __future__ import annotations

import math


def format_measure(value: float | None) -> str:
    """Four significant digits; a dash for a measure that was not computed or is not finite."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"
